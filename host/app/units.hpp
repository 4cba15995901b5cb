// Quantities with units, as users write them in configs and protocol steps ("120 um",
// "3.0e-3 S/cm", "760 MPa", "36 mg/cm2", "15 min"), converted to SI.
//
// Every config key declares the dimension it expects; a unit of another dimension, an unknown
// unit or a missing unit is a UnitError whose message lists the accepted units. The one
// non-SI canonical unit is specific capacity, kept in mAh/g because that is what the cycler
// world (and this code's structs) use for "per gram of active material".
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace halite::units {

enum class Dimension {
  kDimensionless,     // plain number (or "%")
  kLength,            // m
  kTime,              // s
  kTemperature,       // K
  kVoltage,           // V
  kPressure,          // Pa
  kConductivity,      // S/m
  kArealMass,         // kg/m^2
  kDensity,           // kg/m^3
  kMolarMass,         // kg/mol
  kConcentration,     // mol/m^3
  kMolarVolume,       // m^3/mol
  kSpecificCapacity,  // mAh/g (see the header comment)
  kCurrentDensity,    // A/m^2
  kArealCharge,       // C/m^2
  kDiffusivity,       // m^2/s
  kRate,              // 1/s (rate constants)
  kMolarEnergy,       // J/mol (activation and site energies)
  kResistivity,       // Ohm m
};

// One accepted spelling of a unit: canonical = value * multiply / divide + offset.
// Multiply and divide are kept apart so that exact powers of ten convert with a single
// rounding ("120 um" gives the same double as the literal 120e-6).
struct Unit {
  std::string_view symbol;
  Dimension dimension;
  double multiply = 1.0;
  double divide = 1.0;
  double offset = 0.0;
};

// Raised for a malformed quantity; the message says what was wrong and what is accepted.
class UnitError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// "length", "pressure", ...
std::string_view dimension_name(Dimension dimension);
// The canonical unit of a dimension ("m", "Pa", "mAh/g"; "" for dimensionless).
std::string_view canonical_unit(Dimension dimension);
// The accepted spellings of a dimension, comma separated ("m, cm, mm, um, nm").
std::string accepted_units(Dimension dimension);

// Looks a unit up by symbol after normalising "cm^2" -> "cm2", "µm" -> "um", "m²" -> "m2",
// "Ω" -> "Ohm", "s^-1" -> "s-1" and dropping spaces, "*" and "·" ("Ohm m" = "Ohm*m" = "Ω·m"):
// exact spelling first, then a case-insensitive match if it is unique. With a dimension, only
// units of that dimension are considered. nullptr if none.
const Unit* find_unit(std::string_view symbol);
const Unit* find_unit(std::string_view symbol, Dimension dimension);

// A quantity split into its number and the unit text that followed it ("" if none).
struct WrittenQuantity {
  double number = 0.0;
  std::string unit;
};
// Splits "120 um", "120um" or "1.5e-6" into number and unit text. Throws UnitError if the text
// does not start with a finite number.
WrittenQuantity split_quantity(std::string_view text);

// Parses a whole number-with-unit text into the canonical unit of `dimension`. A dimensionless
// quantity is a plain number or a percentage ("7 %" = 0.07). Throws UnitError.
double parse_quantity(std::string_view text, Dimension dimension);

// Parses a number (no unit) strictly: the whole text must be a finite number.
std::optional<double> parse_number(std::string_view text);

double to_canonical(double value, const Unit& unit);
double from_canonical(double canonical_value, const Unit& unit);

// A number in 15 significant digits ("120", "0.003", "1e-06"): enough to read back within
// one rounding, and it drops conversion noise (1.5 um -> m -> um gives 1.4999999999999998).
std::string format_number(double value);

}  // namespace halite::units

#include "host/app/units.hpp"

#include <fmt/format.h>

#include <array>
#include <cctype>
#include <charconv>
#include <cmath>

namespace halite::units {
namespace {

using D = Dimension;

// Every accepted spelling. The first unit of each dimension is its canonical unit. Symbols are
// unique across dimensions, so a unit alone tells its dimension (used for error messages and by
// the protocol parser, which accepts several dimensions in one place).
constexpr std::array kUnits = {
    Unit{"%", D::kDimensionless, 1.0, 100.0},
    Unit{"m", D::kLength},
    Unit{"cm", D::kLength, 1.0, 1e2},
    Unit{"mm", D::kLength, 1.0, 1e3},
    Unit{"um", D::kLength, 1.0, 1e6},
    Unit{"nm", D::kLength, 1.0, 1e9},
    Unit{"s", D::kTime},
    Unit{"ms", D::kTime, 1.0, 1e3},
    Unit{"min", D::kTime, 60.0},
    Unit{"h", D::kTime, 3600.0},
    Unit{"d", D::kTime, 86400.0},
    // Long spellings so that protocol steps read naturally ("for 15 minutes").
    Unit{"second", D::kTime},
    Unit{"seconds", D::kTime},
    Unit{"sec", D::kTime},
    Unit{"minute", D::kTime, 60.0},
    Unit{"minutes", D::kTime, 60.0},
    Unit{"hour", D::kTime, 3600.0},
    Unit{"hours", D::kTime, 3600.0},
    Unit{"hr", D::kTime, 3600.0},
    Unit{"day", D::kTime, 86400.0},
    Unit{"days", D::kTime, 86400.0},
    Unit{"K", D::kTemperature},
    Unit{"degC", D::kTemperature, 1.0, 1.0, 273.15},
    Unit{"V", D::kVoltage},
    Unit{"mV", D::kVoltage, 1.0, 1e3},
    Unit{"Pa", D::kPressure},
    Unit{"kPa", D::kPressure, 1e3},
    Unit{"MPa", D::kPressure, 1e6},
    Unit{"GPa", D::kPressure, 1e9},
    Unit{"bar", D::kPressure, 1e5},
    Unit{"S/m", D::kConductivity},
    Unit{"S/cm", D::kConductivity, 1e2},
    Unit{"mS/cm", D::kConductivity, 1.0, 10.0},
    Unit{"uS/cm", D::kConductivity, 1.0, 1e4},
    Unit{"kg/m2", D::kArealMass},
    Unit{"g/m2", D::kArealMass, 1.0, 1e3},
    Unit{"mg/cm2", D::kArealMass, 1.0, 1e2},
    Unit{"g/cm2", D::kArealMass, 10.0},
    Unit{"kg/m3", D::kDensity},
    Unit{"g/cm3", D::kDensity, 1e3},
    Unit{"g/L", D::kDensity},
    Unit{"kg/mol", D::kMolarMass},
    Unit{"g/mol", D::kMolarMass, 1.0, 1e3},
    Unit{"mol/m3", D::kConcentration},
    Unit{"mol/L", D::kConcentration, 1e3},
    Unit{"mol/dm3", D::kConcentration, 1e3},
    Unit{"mol/cm3", D::kConcentration, 1e6},
    Unit{"m3/mol", D::kMolarVolume},
    Unit{"cm3/mol", D::kMolarVolume, 1.0, 1e6},
    Unit{"mAh/g", D::kSpecificCapacity},
    Unit{"Ah/kg", D::kSpecificCapacity},
    Unit{"C/g", D::kSpecificCapacity, 1.0, 3.6},
    Unit{"A/m2", D::kCurrentDensity},
    Unit{"mA/cm2", D::kCurrentDensity, 10.0},
    Unit{"A/cm2", D::kCurrentDensity, 1e4},
    Unit{"uA/cm2", D::kCurrentDensity, 1.0, 1e2},
    Unit{"C/m2", D::kArealCharge},
    Unit{"mAh/cm2", D::kArealCharge, 36000.0},
    Unit{"m2/s", D::kDiffusivity},
    Unit{"cm2/s", D::kDiffusivity, 1.0, 1e4},
    Unit{"1/s", D::kRate},
    Unit{"1/min", D::kRate, 1.0, 60.0},
    Unit{"1/h", D::kRate, 1.0, 3600.0},
    Unit{"1/d", D::kRate, 1.0, 86400.0},
    Unit{"s-1", D::kRate},
    Unit{"min-1", D::kRate, 1.0, 60.0},
    Unit{"h-1", D::kRate, 1.0, 3600.0},
    Unit{"J/mol", D::kMolarEnergy},
    Unit{"kJ/mol", D::kMolarEnergy, 1e3},
    Unit{"kcal/mol", D::kMolarEnergy, 4184.0},
    Unit{"eV", D::kMolarEnergy, 96485.33212},  // per particle: 1 eV x N_A = F J/mol
    Unit{"Ohm m", D::kResistivity},
    Unit{"Ohm cm", D::kResistivity, 1.0, 1e2},
};

// "cm^2" -> "cm2", "µm"/"μm" -> "um", "m²" -> "m2", "m³" -> "m3", "Ω" -> "Ohm"; spaces, "*"
// and the middle dots "·", "⋅" dropped (so "Ohm m", "Ohm*m" and "Ω·m" are one unit).
std::string normalise_symbol(std::string_view symbol) {
  std::string out;
  for (std::size_t i = 0; i < symbol.size(); ++i) {
    const std::string_view rest = symbol.substr(i);
    if (rest.starts_with("\u00b5") || rest.starts_with("\u03bc")) {  // micro sign, Greek mu
      out += 'u';
      ++i;
    } else if (rest.starts_with("\u03a9")) {  // Greek capital omega
      out += "Ohm";
      ++i;
    } else if (rest.starts_with("\u2126")) {  // ohm sign
      out += "Ohm";
      i += 2;
    } else if (rest.starts_with("\u00b7")) {  // middle dot
      ++i;
    } else if (rest.starts_with("\u22c5")) {  // dot operator
      i += 2;
    } else if (symbol[i] == '*') {
      continue;
    } else if (rest.starts_with("\u00b2")) {
      out += '2';
      ++i;
    } else if (rest.starts_with("\u00b3")) {
      out += '3';
      ++i;
    } else if (symbol[i] != '^' && !std::isspace(static_cast<unsigned char>(symbol[i]))) {
      out += symbol[i];
    }
  }
  return out;
}

bool equal_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// The table's symbols normalised once (they may contain a space, "Ohm m"): normalising the
// whole table on every lookup was a third of the time a config takes to load.
const std::array<std::string, kUnits.size()>& normalised_table_symbols() {
  static const auto symbols = [] {
    std::array<std::string, kUnits.size()> out;
    for (std::size_t i = 0; i < kUnits.size(); ++i) out[i] = normalise_symbol(kUnits[i].symbol);
    return out;
  }();
  return symbols;
}

// Unit symbols are case-sensitive (SI: m = milli, M = mega; 500 mPa is not 500 MPa), so lookup
// is exact; other_case finds the one symbol that differs only in case, for a did-you-mean.
const Unit* lookup(std::string_view symbol, const Dimension* only) {
  const std::string wanted = normalise_symbol(symbol);
  if (wanted.empty()) return nullptr;
  const auto& symbols = normalised_table_symbols();
  for (std::size_t i = 0; i < kUnits.size(); ++i) {
    if ((only == nullptr || kUnits[i].dimension == *only) && symbols[i] == wanted) {
      return &kUnits[i];
    }
  }
  return nullptr;
}

const Unit* other_case(std::string_view symbol, const Dimension* only) {
  const std::string wanted = normalise_symbol(symbol);
  if (wanted.empty()) return nullptr;
  const Unit* match = nullptr;
  const auto& symbols = normalised_table_symbols();
  for (std::size_t i = 0; i < kUnits.size(); ++i) {
    if ((only == nullptr || kUnits[i].dimension == *only) &&
        equal_ignoring_case(symbols[i], wanted)) {
      if (match != nullptr) return nullptr;  // ambiguous without the exact case
      match = &kUnits[i];
    }
  }
  return match;
}

}  // namespace

std::string_view dimension_name(Dimension dimension) {
  switch (dimension) {
    case D::kDimensionless:
      return "dimensionless number";
    case D::kLength:
      return "length";
    case D::kTime:
      return "time";
    case D::kTemperature:
      return "temperature";
    case D::kVoltage:
      return "voltage";
    case D::kPressure:
      return "pressure";
    case D::kConductivity:
      return "conductivity";
    case D::kArealMass:
      return "areal mass";
    case D::kDensity:
      return "density";
    case D::kMolarMass:
      return "molar mass";
    case D::kConcentration:
      return "concentration";
    case D::kMolarVolume:
      return "molar volume";
    case D::kSpecificCapacity:
      return "specific capacity";
    case D::kCurrentDensity:
      return "current density";
    case D::kArealCharge:
      return "areal charge";
    case D::kDiffusivity:
      return "diffusivity";
    case D::kRate:
      return "rate constant";
    case D::kMolarEnergy:
      return "molar energy";
    case D::kResistivity:
      return "resistivity";
  }
  return "quantity";
}

std::string_view canonical_unit(Dimension dimension) {
  if (dimension == D::kDimensionless) return "";
  for (const Unit& unit : kUnits) {
    if (unit.dimension == dimension) return unit.symbol;
  }
  return "";
}

std::string accepted_units(Dimension dimension) {
  std::string list;
  for (const Unit& unit : kUnits) {
    if (unit.dimension != dimension) continue;
    if (!list.empty()) list += ", ";
    list += unit.symbol;
  }
  if (dimension == D::kDimensionless) return "a plain number, or %";
  return list;
}

const Unit* find_unit(std::string_view symbol) {
  return lookup(symbol, nullptr);
}

const Unit* find_unit(std::string_view symbol, Dimension dimension) {
  return lookup(symbol, &dimension);
}

std::optional<double> parse_number(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) {
    text.remove_prefix(1);
  }
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) {
    text.remove_suffix(1);
  }
  if (text.starts_with('+')) text.remove_prefix(1);  // from_chars does not take a '+'
  if (text.empty()) return std::nullopt;
  double value = 0.0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size() || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

WrittenQuantity split_quantity(std::string_view text) {
  std::size_t begin = 0;
  while (begin < text.size() && std::isspace(static_cast<unsigned char>(text[begin]))) ++begin;
  std::string_view rest = text.substr(begin);
  std::size_t sign = rest.starts_with('+') ? 1 : 0;
  double value = 0.0;
  const char* first = rest.data() + sign;
  const auto [end, error] = std::from_chars(first, rest.data() + rest.size(), value);
  // from_chars reads "inf"/"nan" too; a quantity must be a finite number.
  if (error != std::errc{} || !std::isfinite(value) ||
      std::isalpha(static_cast<unsigned char>(*first))) {
    throw UnitError(fmt::format("'{}' does not start with a number", text));
  }
  std::string_view unit = rest.substr(static_cast<std::size_t>(end - rest.data()));
  while (!unit.empty() && std::isspace(static_cast<unsigned char>(unit.front()))) {
    unit.remove_prefix(1);
  }
  while (!unit.empty() && std::isspace(static_cast<unsigned char>(unit.back()))) {
    unit.remove_suffix(1);
  }
  return {value, std::string(unit)};
}

double to_canonical(double value, const Unit& unit) {
  return value * unit.multiply / unit.divide + unit.offset;
}

double from_canonical(double canonical_value, const Unit& unit) {
  return (canonical_value - unit.offset) * unit.divide / unit.multiply;
}

double parse_quantity(std::string_view text, Dimension dimension) {
  const WrittenQuantity written = split_quantity(text);
  if (written.unit.empty()) {
    if (dimension == D::kDimensionless) return written.number;
    throw UnitError(fmt::format("'{}' has no unit; a {} needs one of: {}", text,
                                dimension_name(dimension), accepted_units(dimension)));
  }
  if (const Unit* unit = find_unit(written.unit, dimension)) {
    return to_canonical(written.number, *unit);
  }
  if (dimension == D::kDimensionless) {
    throw UnitError(fmt::format("'{}': expected a plain number (dimensionless) or %, not unit '{}'",
                                text, written.unit));
  }
  if (const Unit* other = find_unit(written.unit)) {
    throw UnitError(fmt::format("'{}': unit '{}' is a {}, but a {} is expected; accepted units: {}",
                                text, written.unit, dimension_name(other->dimension),
                                dimension_name(dimension), accepted_units(dimension)));
  }
  if (const Unit* close = other_case(written.unit, &dimension)) {
    throw UnitError(
        fmt::format("'{}': unknown unit '{}'; did you mean '{}'? (unit symbols are "
                    "case-sensitive: m = milli, M = mega, s = second, S = siemens)",
                    text, written.unit, close->symbol));
  }
  throw UnitError(fmt::format("'{}': unknown unit '{}'; accepted units for a {}: {}", text,
                              written.unit, dimension_name(dimension), accepted_units(dimension)));
}

std::string format_number(double value) {
  return fmt::format("{:.15g}", value);
}

}  // namespace halite::units

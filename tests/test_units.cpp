// Unit parser: every spelling the config and the protocol use, converted to SI (specific
// capacity stays in mAh/g), and errors that list the accepted units.
#include <gtest/gtest.h>

#include <string>

#include "host/app/units.hpp"

namespace halite::units {
namespace {

using D = Dimension;

TEST(Units, ParsesTheDocumentedExamples) {
  EXPECT_DOUBLE_EQ(parse_quantity("120 um", D::kLength), 120e-6);
  EXPECT_DOUBLE_EQ(parse_quantity("3.0e-3 S/cm", D::kConductivity), 0.3);
  EXPECT_DOUBLE_EQ(parse_quantity("760 MPa", D::kPressure), 760e6);
  EXPECT_DOUBLE_EQ(parse_quantity("36 mg/cm2", D::kArealMass), 0.36);
  EXPECT_DOUBLE_EQ(parse_quantity("36 mg/cm^2", D::kArealMass), 0.36);
  EXPECT_DOUBLE_EQ(parse_quantity("15 min", D::kTime), 900.0);
  EXPECT_DOUBLE_EQ(parse_quantity("2 h", D::kTime), 7200.0);
  EXPECT_DOUBLE_EQ(parse_quantity("4.3 V", D::kVoltage), 4.3);
  EXPECT_DOUBLE_EQ(parse_quantity("298.15 K", D::kTemperature), 298.15);
  EXPECT_DOUBLE_EQ(parse_quantity("49200 mol/m3", D::kConcentration), 49200.0);
  EXPECT_DOUBLE_EQ(parse_quantity("1e-6 m3/mol", D::kMolarVolume), 1e-6);
  EXPECT_DOUBLE_EQ(parse_quantity("150 GPa", D::kPressure), 150e9);
  EXPECT_DOUBLE_EQ(parse_quantity("150 mAh/g", D::kSpecificCapacity), 150.0);
  EXPECT_DOUBLE_EQ(parse_quantity("30 A/m2", D::kCurrentDensity), 30.0);
  EXPECT_DOUBLE_EQ(parse_quantity("3.8 mA/cm2", D::kCurrentDensity), 38.0);
  EXPECT_DOUBLE_EQ(parse_quantity("0.25", D::kDimensionless), 0.25);
}

TEST(Units, PowersOfTenConvertWithOneRounding) {
  // Exact for the values the reference config uses, so the YAML reproduces the C++ defaults.
  EXPECT_EQ(parse_quantity("120 um", D::kLength), 120e-6);
  EXPECT_EQ(parse_quantity("400 um", D::kLength), 400e-6);
  EXPECT_EQ(parse_quantity("36 mg/cm2", D::kArealMass), 0.36);
  EXPECT_EQ(parse_quantity("4.79 g/cm3", D::kDensity), 4790.0);
  EXPECT_EQ(parse_quantity("97.30 g/mol", D::kMolarMass), 0.09730);
}

TEST(Units, AcceptsSpellingVariants) {
  EXPECT_DOUBLE_EQ(parse_quantity("120um", D::kLength), 120e-6);
  EXPECT_DOUBLE_EQ(parse_quantity("  120   um ", D::kLength), 120e-6);
  EXPECT_DOUBLE_EQ(parse_quantity("120 \u00b5m", D::kLength), 120e-6);  // micro sign
  EXPECT_DOUBLE_EQ(parse_quantity("120 \u03bcm", D::kLength), 120e-6);  // Greek mu
  EXPECT_DOUBLE_EQ(parse_quantity("1 m\u00b2/s", D::kDiffusivity), 1.0);
  EXPECT_DOUBLE_EQ(parse_quantity("49200 mol/m^3", D::kConcentration), 49200.0);
  EXPECT_DOUBLE_EQ(parse_quantity("+2 h", D::kTime), 7200.0);
  EXPECT_DOUBLE_EQ(parse_quantity("15 minutes", D::kTime), 900.0);
  EXPECT_DOUBLE_EQ(parse_quantity("1 hour", D::kTime), 3600.0);
  EXPECT_DOUBLE_EQ(parse_quantity("7 %", D::kDimensionless), 0.07);
  EXPECT_DOUBLE_EQ(parse_quantity("25 degC", D::kTemperature), 298.15);
  EXPECT_DOUBLE_EQ(parse_quantity("1 mAh/cm2", D::kArealCharge), 36.0 * 1000.0);
  EXPECT_DOUBLE_EQ(parse_quantity("1 C/g", D::kSpecificCapacity), 1.0 / 3.6);
  EXPECT_DOUBLE_EQ(parse_quantity("-1e-6 m3/mol", D::kMolarVolume), -1e-6);
}

// The message of the UnitError thrown by parse_quantity, or "" if none was thrown.
std::string error_of(const std::string& text, Dimension dimension) {
  try {
    parse_quantity(text, dimension);
  } catch (const UnitError& e) {
    return e.what();
  }
  return "";
}

TEST(Units, IncompatibleUnitNamesBothDimensionsAndListsAccepted) {
  const std::string message = error_of("100 MPa", D::kLength);
  EXPECT_NE(message.find("'MPa' is a pressure"), std::string::npos) << message;
  EXPECT_NE(message.find("a length is expected"), std::string::npos) << message;
  EXPECT_NE(message.find("m, cm, mm, um, nm"), std::string::npos) << message;
}

TEST(Units, UnknownUnitListsAccepted) {
  const std::string message = error_of("120 umm", D::kLength);
  EXPECT_NE(message.find("unknown unit 'umm'"), std::string::npos) << message;
  EXPECT_NE(message.find("m, cm, mm, um, nm"), std::string::npos) << message;
}

TEST(Units, MissingUnitIsAnErrorForDimensionedValues) {
  const std::string message = error_of("120", D::kLength);
  EXPECT_NE(message.find("has no unit"), std::string::npos) << message;
  EXPECT_NE(message.find("um"), std::string::npos) << message;
}

TEST(Units, DimensionlessRejectsUnits) {
  EXPECT_NE(error_of("0.3 um", D::kDimensionless).find("plain number"), std::string::npos);
}

TEST(Units, RejectsNonNumbers) {
  EXPECT_NE(error_of("abc um", D::kLength).find("does not start with a number"), std::string::npos);
  EXPECT_NE(error_of("", D::kLength), "");
  EXPECT_NE(error_of("inf m", D::kLength), "");
  EXPECT_NE(error_of("nan", D::kDimensionless), "");
  EXPECT_NE(error_of("1.2.3 m", D::kLength), "");
}

TEST(Units, CaseMattersWhereItDistinguishesUnits) {
  // "mS/cm" (millisiemens) is not "ms" (milliseconds); exact spelling wins.
  EXPECT_DOUBLE_EQ(parse_quantity("3 mS/cm", D::kConductivity), 0.3);
  EXPECT_DOUBLE_EQ(parse_quantity("3 ms", D::kTime), 3e-3);
  EXPECT_NE(error_of("3 ms", D::kConductivity), "");
}

TEST(Units, SymbolsAreCaseSensitiveWithADidYouMean) {
  // Matching prefixes ignoring case turned 500 mPa into 500 MPa, 10 Ms into 10 ms and 3 MS/cm
  // into 3 mS/cm (factors of 1e9) without a word: each is now an error naming the other case.
  const std::string pressure = error_of("500 mPa", D::kPressure);
  EXPECT_NE(pressure.find("unknown unit 'mPa'; did you mean 'MPa'?"), std::string::npos)
      << pressure;
  EXPECT_NE(error_of("10 Ms", D::kTime).find("did you mean 'ms'?"), std::string::npos);
  EXPECT_NE(error_of("3 MS/cm", D::kConductivity).find("did you mean 'mS/cm'?"), std::string::npos);
  EXPECT_NE(error_of("760 mpa", D::kPressure).find("did you mean 'MPa'?"), std::string::npos);
  EXPECT_EQ(find_unit("mpa"), nullptr);
  EXPECT_DOUBLE_EQ(parse_quantity("760 MPa", D::kPressure), 760e6);
}

TEST(Units, LookupAndConversionRoundTrip) {
  const Unit* um = find_unit("um", D::kLength);
  ASSERT_NE(um, nullptr);
  EXPECT_DOUBLE_EQ(from_canonical(to_canonical(1.5, *um), *um), 1.5);
  const Unit* celsius = find_unit("degC");
  ASSERT_NE(celsius, nullptr);
  EXPECT_EQ(celsius->dimension, D::kTemperature);
  EXPECT_DOUBLE_EQ(from_canonical(298.15, *celsius), 25.0);
  EXPECT_EQ(find_unit("furlong"), nullptr);
  EXPECT_EQ(find_unit("MPa", D::kLength), nullptr);
  EXPECT_EQ(canonical_unit(D::kLength), "m");
  EXPECT_EQ(canonical_unit(D::kSpecificCapacity), "mAh/g");
}

TEST(Units, SplitsNumberAndUnit) {
  const WrittenQuantity q = split_quantity("3.0e-3 S/cm");
  EXPECT_DOUBLE_EQ(q.number, 3.0e-3);
  EXPECT_EQ(q.unit, "S/cm");
  EXPECT_EQ(split_quantity("42").unit, "");
  EXPECT_THROW(split_quantity("V 4.3"), UnitError);
}

TEST(Units, ParseNumberIsStrict) {
  EXPECT_EQ(parse_number("1.5"), 1.5);
  EXPECT_EQ(parse_number(" 2 "), 2.0);
  EXPECT_FALSE(parse_number("1.5 um"));
  EXPECT_FALSE(parse_number(""));
  EXPECT_FALSE(parse_number("inf"));
}

TEST(Units, FormatsWithoutConversionNoise) {
  EXPECT_EQ(format_number(120.0), "120");
  EXPECT_EQ(format_number(0.003), "0.003");
  EXPECT_EQ(format_number(1.5e-6 * 1e6), "1.5");
  EXPECT_EQ(format_number(1e-6), "1e-06");
}

}  // namespace
}  // namespace halite::units

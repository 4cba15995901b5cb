// Physical constants (CODATA 2018 exact values).
#pragma once

namespace halite::models {
inline constexpr double kFaraday = 96485.33212;      // C/mol
inline constexpr double kGasConstant = 8.314462618;  // J/(mol K)
inline constexpr double kPi = 3.14159265358979323846;
}  // namespace halite::models

// Cycler protocol: PyBaMM-style steps (CC charge/discharge, CV hold, rest), each ended by
// voltage, current, time or capacity, composed into blocks that repeat (cycles).
// Values are SI: V, A/m^2, s, C/m^2; C-rates are resolved to A/m^2 per cell by the engine.
#pragma once

#include <string>
#include <vector>

namespace halite {

// Which electrode the voltages of a protocol (and of every output) are measured against.
enum class VoltageReference { kLithium, kLithiumIndium };

enum class StepMode { kChargeCurrent, kDischargeCurrent, kHoldVoltage, kRest };

struct Termination {
  enum class Kind { kVoltage, kCurrent, kTime, kCapacity };
  Kind kind = Kind::kTime;
  // V (in the protocol's reference), A/m^2 (magnitude), s, or mAh per g of active material.
  double value = 0.0;
  // kCurrent only: value is a C-rate ("until 0.05C"), resolved to A/m^2 per cell by the engine.
  bool in_c_rate = false;
};

struct Step {
  StepMode mode = StepMode::kRest;
  // Current magnitude: either a C-rate (c_rate > 0) or a current density in A/m^2.
  double c_rate = 0.0;
  double current_density = 0.0;
  double voltage = 0.0;            // V, for kHoldVoltage, in the protocol's reference
  std::vector<Termination> until;  // the first condition met ends the step
  std::string text;                // the step as the user wrote it, for messages and output
};

// A block is a list of steps repeated `repeat` times; each repetition is one cycle.
struct Block {
  std::vector<Step> steps;
  int repeat = 1;
};

struct Protocol {
  std::vector<Block> blocks;
  VoltageReference reference = VoltageReference::kLithium;
  int total_cycles() const {
    int n = 0;
    for (const auto& b : blocks) n += b.repeat;
    return n;
  }
};

const char* to_string(VoltageReference r);

}  // namespace halite

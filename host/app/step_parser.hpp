// Cycler steps written as text (PyBaMM style) parsed into the engine's Step
// (host/engine/protocol.hpp).
#pragma once

#include <string>

#include "host/engine/protocol.hpp"

namespace halite {

// Parses one cycler step written as text, e.g. "Charge at 1C until 4.3 V",
// "Hold at 4.3 V for 15 minutes", "Discharge at 1C until 2.7 V", "Rest for 10 minutes",
// "Discharge at 38 A/m2 until 2.7 V or 2 hours". Throws std::invalid_argument with a message
// naming what was not understood.
Step parse_step(const std::string& text);

}  // namespace halite

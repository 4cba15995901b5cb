// Names of the protocol's enumerations (the step parser is the application's:
// host/app/step_parser.cpp).
#include "host/engine/protocol.hpp"

namespace halite {

const char* to_string(VoltageReference r) {
  switch (r) {
    case VoltageReference::kLithium:
      return "Li+/Li";
    case VoltageReference::kLithiumIndium:
      return "Li-In";
  }
  return "unknown";
}

}  // namespace halite

// libFuzzer harness: --set overrides (one per input line) on the reference configuration.
#include <sstream>
#include <vector>

#include "host/app/config.hpp"
#include "tests/fuzz/fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> overrides;
  std::istringstream lines(halite::fuzz::text(data, size));
  for (std::string line; std::getline(lines, line);) overrides.push_back(line);
  try {
    const halite::RunConfig config = halite::load_config("", overrides);
    (void)config;
  } catch (const halite::ConfigError&) {
  } catch (const std::exception& e) {
    halite::fuzz::unexpected("fuzz_set", e);
  }
  return 0;
}

// libFuzzer harness: the config loader on arbitrary YAML text (over the embedded reference).
#include "host/app/config.hpp"
#include "tests/fuzz/fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const halite::RunConfig config =
        halite::load_config_text(halite::fuzz::text(data, size), "<fuzz>");
    (void)config;
  } catch (const halite::ConfigError&) {
    // rejected with a location: fine
  } catch (const std::exception& e) {
    halite::fuzz::unexpected("fuzz_config", e);
  }
  return 0;
}

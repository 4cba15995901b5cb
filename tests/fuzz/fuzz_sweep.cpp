// libFuzzer harness: the sweep-file parser and the case generator (not the runs).
#include "host/app/sweep.hpp"
#include "tests/fuzz/fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const halite::SweepSpec spec = halite::parse_sweep(halite::fuzz::text(data, size), "<fuzz>");
    const auto cases = halite::generate_cases(spec);
    (void)cases;
  } catch (const halite::SweepError&) {
  } catch (const halite::ConfigError&) {
  } catch (const std::exception& e) {
    halite::fuzz::unexpected("fuzz_sweep", e);
  }
  return 0;
}

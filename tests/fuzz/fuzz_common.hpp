// Shared by the libFuzzer harnesses (tests/fuzz/README.md): what counts as a finding. The input
// may be rejected with the documented exception type (a located ConfigError, SweepError,
// CheckpointError); any other exception escaping, a crash, a sanitizer report or a hang is one.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

namespace halite::fuzz {

// Stops the fuzzer with the message of an exception that should not have escaped.
[[noreturn]] inline void unexpected(const char* harness, const std::exception& e) {
  std::fprintf(stderr, "%s: unexpected exception: %s\n", harness, e.what());
  std::abort();
}

inline std::string text(const std::uint8_t* data, std::size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

}  // namespace halite::fuzz

// Shared by the libFuzzer harnesses (tests/fuzz/README.md): what counts as a finding. The input
// may be rejected with the documented exception type (a located ConfigError, SweepError,
// CheckpointError); any other exception escaping, a crash, a sanitizer report or a hang is one.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "host/app/yaml_limits.hpp"

namespace halite::fuzz {

// Stops the fuzzer with the message of an exception that should not have escaped.
[[noreturn]] inline void unexpected(const char* harness, const std::exception& e) {
  std::fprintf(stderr, "%s: unexpected exception: %s\n", harness, e.what());
  std::abort();
}

// yaml-cpp's loops end at the parse deadline (host/app/yaml_guard.cpp) as a located error; once
// such texts are in the corpus every few hundred inputs meets one, and at halite's 2 s the
// harness would mostly wait. 0.1 s + 2 s per MiB still lets every finite parse finish (a 64 KiB
// input parses in milliseconds under ASan).
inline const bool kShortParseDeadline = (set_yaml_parse_deadline(0.1, 2.0), true);

inline std::string text(const std::uint8_t* data, std::size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

}  // namespace halite::fuzz

// libFuzzer harness: the checkpoint reader on arbitrary bytes (written to a scratch file, as the
// reader takes a path).
#include <unistd.h>

#include <fstream>

#include "host/app/checkpoint.hpp"
#include "tests/fuzz/fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = "/tmp/halite_fuzz_checkpoint_" + std::to_string(getpid());
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    const halite::Checkpoint checkpoint = halite::read_checkpoint(path);
    (void)checkpoint;
  } catch (const halite::CheckpointError&) {
  } catch (const std::exception& e) {
    halite::fuzz::unexpected("fuzz_checkpoint", e);
  }
  return 0;
}

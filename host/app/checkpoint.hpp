// Checkpoints of a run: the Cycler's state at a cycle boundary plus what ties it to its output
// file, written atomically (temporary file, fsync, rename) next to the output as
// OUTPUT.h5.checkpoint. `halite run --resume OUTPUT.h5` reads it back (docs/output.md).
//
// Format (version 1): a small binary file, little-endian, "HALITECK" magic, format version,
// the payload, and a 64-bit FNV-1a checksum of everything before it. Not meant to be read by
// other tools; it is replaced at every checkpoint and is only valid together with its output.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

#include "host/engine/cycler.hpp"

namespace halite {

// Writes all of `bytes` to fd (retrying short writes and EINTR); throws std::system_error naming
// `path` and the errno.
void write_all(int fd, std::string_view bytes, const std::string& path);

// 64-bit FNV-1a (offset basis 14695981039346656037, prime 1099511628211): stable across builds
// and platforms, unlike std::hash.
std::uint64_t fnv1a64(std::string_view bytes);

// The same, fed in pieces (the running hash of the rows a run has written).
struct Fnv1a {
  std::uint64_t value = 14695981039346656037ull;
  void add(std::string_view bytes) {
    for (unsigned char c : bytes) {
      value ^= c;
      value *= 1099511628211ull;
    }
  }
  void add(double x) { add(std::string_view(reinterpret_cast<const char*>(&x), sizeof x)); }
};

// 2: the loss reference carries the RSP share of the first discharge.
// 3: the hash of the /cycles rows the checkpoint covers (table_hash).
// 4: the skipping controller's anchor holds the curvature of the last jump (third-order jumps);
//    the bytes are laid out as in 3, and the Cycler reads an anchor of 2 or 3 as one with no
//    curvature to difference. Versions 2 and 3 are still read.
inline constexpr std::uint32_t kCheckpointFormatVersion = 4;

struct Checkpoint {
  std::uint64_t config_hash = 0;  // fnv1a64 of RunConfig::resolved_yaml
  std::string run_date;    // the output file's root "date" attribute (which run it belongs to)
  int cycles_written = 0;  // rows of /cycles covered by this checkpoint
  // Fnv1a of those rows' values as written (cell 0: the built-in columns, the aging columns and
  // the step end times of each cycle in turn); 0 = not recorded (a version 2 checkpoint).
  std::uint64_t table_hash = 0;
  CyclerState state;
};

// The checkpoint file of an output file: OUTPUT + ".checkpoint" (and + ".checkpoint.tmp" while
// one is being written).
std::string checkpoint_path(const std::string& output);

// A missing, unreadable, truncated or corrupt checkpoint; what() says which and why.
class CheckpointError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Writes `path` atomically: PATH.tmp is written and fsync'ed, renamed over PATH, and the
// directory fsync'ed. A reader (or a process killed at any moment) sees either the previous
// checkpoint or the new one, never a partial file. Throws std::system_error on I/O failure.
void write_checkpoint(const std::string& path, const Checkpoint& checkpoint);

// Reads a checkpoint written by write_checkpoint. Throws CheckpointError.
Checkpoint read_checkpoint(const std::string& path);

}  // namespace halite

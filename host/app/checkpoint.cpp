// Checkpoint files: see checkpoint.hpp and docs/output.md ("Checkpoints and resume").
#include "host/app/checkpoint.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <system_error>

#include "host/app/byte_codec.hpp"

namespace halite {

namespace {

constexpr char kMagic[8] = {'H', 'A', 'L', 'I', 'T', 'E', 'C', 'K'};

// Adding a field to these structs must add it to the checkpoint (and bump the format version).
static_assert(sizeof(models::ParticleAging) == 7 * sizeof(double),
              "ParticleAging changed: update write/read of the checkpoint");
static_assert(sizeof(LossReference) == 4 * sizeof(double),
              "LossReference changed: update write/read of the checkpoint");
static_assert(sizeof(SolverStats) == 6 * sizeof(long),
              "SolverStats changed: update write/read of the checkpoint");

using bytes::read_record;
using bytes::Reader;
using bytes::write_record;
using bytes::Writer;

[[noreturn]] void raise_corrupt_checkpoint(const std::string& path, const std::string& why) {
  throw CheckpointError(fmt::format("checkpoint '{}' is corrupt: {}", path, why));
}

}  // namespace

void write_all(int fd, std::string_view bytes, const std::string& path) {
  const char* p = bytes.data();
  std::size_t left = bytes.size();
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::system_error(errno, std::generic_category(), "write of '" + path + "'");
    }
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

std::uint64_t fnv1a64(std::string_view bytes) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string checkpoint_path(const std::string& output) {
  return output + ".checkpoint";
}

void write_checkpoint(const std::string& path, const Checkpoint& checkpoint) {
  const CyclerState& s = checkpoint.state;
  Writer w;
  w.raw(kMagic, sizeof kMagic);
  w.u32(kCheckpointFormatVersion);
  w.u64(checkpoint.config_hash);
  w.u64(checkpoint.table_hash);
  w.str(checkpoint.run_date);
  w.i64(checkpoint.cycles_written);
  w.i64(s.cursor.block);
  w.i64(s.cursor.repetition);
  w.i64(s.cursor.cycle);
  w.f64(s.time);
  w.i64(s.cells);
  w.i64(s.per_cell);
  w.i64(s.particles);
  w.i64(s.integrated_cycles);
  w.i64(s.skipped_cycles);
  w.f64s(s.clock);
  w.f64s(s.y);
  w.u64(s.aging.size());
  for (const auto& a : s.aging)
    for (double v : {a.rsp_fraction, a.rsp_lithium, a.crack_length, a.isolated_fraction,
                     a.stranded_lithium, a.layer_thickness, a.oxygen_released})
      w.f64(v);
  w.u64(s.failure.size());
  for (const auto& f : s.failure) w.str(f);
  w.u64(s.loss_reference.size());
  for (std::size_t c = 0; c < s.loss_reference.size(); ++c) {
    const auto& r = s.loss_reference[c];
    w.u8(c < s.loss_reference_set.size() && s.loss_reference_set[c] ? 1 : 0);
    w.f64(r.discharge_capacity);
    w.f64(r.layered_fraction);
    w.f64(r.dead_lithium);
    w.f64(r.rsp_share);
  }
  w.u64(s.skip_history.size());
  for (const auto& cell : s.skip_history) {
    w.u64(cell.size());
    for (const auto& v : cell) w.f64s(v);
  }
  w.u64(s.last_records.size());
  for (const auto& r : s.last_records) write_record(w, r);
  Writer out;
  out.raw(w.bytes().data(), w.bytes().size());
  out.u64(fnv1a64(w.bytes()));

  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    throw std::system_error(errno, std::generic_category(), "cannot create '" + tmp + "'");
  try {
    write_all(fd, out.bytes(), tmp);
    if (::fsync(fd) != 0)
      throw std::system_error(errno, std::generic_category(), "fsync of '" + tmp + "'");
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw std::system_error(err, std::generic_category(), "close of '" + tmp + "'");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw std::system_error(err, std::generic_category(),
                            "cannot rename '" + tmp + "' to '" + path + "'");
  }
  // Make the rename itself durable.
  std::string dir = std::filesystem::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

Checkpoint read_checkpoint(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    throw CheckpointError(fmt::format("cannot open checkpoint '{}': {}", path, std::strerror(err)));
  }
  std::string bytes;
  char buffer[65536];
  for (;;) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      const int err = errno;
      ::close(fd);
      throw CheckpointError(
          fmt::format("cannot read checkpoint '{}': {}", path, std::strerror(err)));
    }
    if (n == 0) break;
    bytes.append(buffer, static_cast<std::size_t>(n));
  }
  ::close(fd);

  if (bytes.size() < sizeof kMagic + 4 + 8 || std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0)
    throw CheckpointError(fmt::format("'{}' is not a halite checkpoint", path));
  const std::size_t body = bytes.size() - 8;
  {
    Reader sum(bytes, bytes.size(), path, &raise_corrupt_checkpoint);
    for (std::size_t i = 0; i < body; ++i) sum.u8();
    if (sum.u64() != fnv1a64(std::string_view(bytes).substr(0, body)))
      throw CheckpointError(fmt::format("checkpoint '{}' is corrupt: checksum mismatch", path));
  }
  Reader in(bytes, body, path, &raise_corrupt_checkpoint);
  for (std::size_t i = 0; i < sizeof kMagic; ++i) in.u8();
  const std::uint32_t version = in.u32();
  if (version < 2 || version > kCheckpointFormatVersion)
    throw CheckpointError(
        fmt::format("checkpoint '{}' has format version {}; this halite reads 2 to {}", path,
                    version, kCheckpointFormatVersion));
  Checkpoint ck;
  CyclerState& s = ck.state;
  ck.config_hash = in.u64();
  if (version >= 3) ck.table_hash = in.u64();
  ck.run_date = in.str();
  ck.cycles_written = in.int32();
  s.cursor.block = in.int32();
  s.cursor.repetition = in.int32();
  s.cursor.cycle = in.int32();
  s.time = in.f64();
  s.cells = in.int32();
  s.per_cell = in.int32();
  s.particles = in.int32();
  s.integrated_cycles = in.int32();
  s.skipped_cycles = in.int32();
  s.clock = in.f64s();
  s.y = in.f64s();
  s.aging.resize(in.count(7 * 8));
  for (auto& a : s.aging) {
    a.rsp_fraction = in.f64();
    a.rsp_lithium = in.f64();
    a.crack_length = in.f64();
    a.isolated_fraction = in.f64();
    a.stranded_lithium = in.f64();
    a.layer_thickness = in.f64();
    a.oxygen_released = in.f64();
  }
  s.failure.resize(in.count(8));
  for (auto& f : s.failure) f = in.str();
  const std::size_t refs = in.count(1 + 3 * 8);
  s.loss_reference.resize(refs);
  s.loss_reference_set.resize(refs);
  for (std::size_t c = 0; c < refs; ++c) {
    s.loss_reference_set[c] = in.u8();
    s.loss_reference[c].discharge_capacity = in.f64();
    s.loss_reference[c].layered_fraction = in.f64();
    s.loss_reference[c].dead_lithium = in.f64();
    s.loss_reference[c].rsp_share = in.f64();
  }
  s.skip_history.resize(in.count(8));
  for (auto& cell : s.skip_history) {
    cell.resize(in.count(8));
    for (auto& v : cell) v = in.f64s();
  }
  s.last_records.resize(in.count(8));
  for (auto& r : s.last_records) r = read_record(in);
  if (in.position() != body) in.fail("trailing data");
  if (s.cells < 1 || s.clock.size() != std::size_t(s.cells) ||
      s.y.size() != std::size_t(s.cells) * std::size_t(std::max(s.per_cell, 0)) ||
      s.aging.size() != std::size_t(s.cells) * std::size_t(std::max(s.particles, 0)) ||
      s.failure.size() != std::size_t(s.cells) || refs != std::size_t(s.cells))
    in.fail("inconsistent sizes");
  return ck;
}

}  // namespace halite

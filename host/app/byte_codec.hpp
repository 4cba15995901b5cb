// Little-endian, fixed-width byte encoding of halite's records: the checkpoint files
// (checkpoint.cpp) and the messages of a sweep on MPI ranks (sweep_mpi.cpp) use the same writer,
// reader and CycleRecord layout. A reader never reads past its end: a short or bad input is
// reported through the reader's `fail`, with the byte position.
#pragma once

#include <fmt/format.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "host/engine/results.hpp"

namespace halite::bytes {

class Writer {
 public:
  void u8(std::uint8_t v) { bytes_.push_back(static_cast<char>(v)); }
  void u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) u8(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) u8(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void i64(std::int64_t v) { u64(static_cast<std::uint64_t>(v)); }
  void f64(double v) { u64(std::bit_cast<std::uint64_t>(v)); }
  void str(const std::string& s) {
    u64(s.size());
    bytes_.append(s);
  }
  void f64s(const std::vector<double>& v) {
    u64(v.size());
    for (double x : v) f64(x);
  }
  void raw(const char* p, std::size_t n) { bytes_.append(p, n); }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

// `fail` throws the caller's error type: "<why> (at byte N)" is passed to raise(context, ...).
class Reader {
 public:
  using Raise = void (*)(const std::string& context, const std::string& why);
  Reader(const std::string& bytes, std::size_t end, std::string context, Raise raise)
      : bytes_(bytes), end_(end), context_(std::move(context)), raise_(raise) {}
  std::uint8_t u8() {
    need(1);
    return static_cast<std::uint8_t>(bytes_[pos_++]);
  }
  std::uint32_t u32() {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= std::uint32_t(u8()) << (8 * i);
    return v;
  }
  std::uint64_t u64() {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= std::uint64_t(u8()) << (8 * i);
    return v;
  }
  std::int64_t i64() { return static_cast<std::int64_t>(u64()); }
  double f64() { return std::bit_cast<double>(u64()); }
  std::size_t count(std::size_t element_size) {
    const std::uint64_t n = u64();
    if (element_size > 0 && n > (end_ - pos_) / element_size)
      fail(fmt::format("a count of {} runs past the end of the file", n));
    return static_cast<std::size_t>(n);
  }
  std::string str() {
    const std::size_t n = count(1);
    std::string s = bytes_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::vector<double> f64s() {
    std::vector<double> v(count(8));
    for (double& x : v) x = f64();
    return v;
  }
  int int32() {
    const std::int64_t v = i64();
    if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max())
      fail(fmt::format("integer {} out of range", v));
    return static_cast<int>(v);
  }
  std::size_t position() const { return pos_; }
  [[noreturn]] void fail(const std::string& why) const {
    raise_(context_, fmt::format("{} (at byte {})", why, pos_));
    throw std::logic_error("bytes::Reader: raise returned");  // (raise must throw)
  }

 private:
  void need(std::size_t n) {
    if (end_ - pos_ < n) fail("unexpected end of data");
  }
  const std::string& bytes_;
  std::size_t end_;
  std::size_t pos_ = 0;
  std::string context_;
  Raise raise_;
};

inline void write_record(Writer& w, const CycleRecord& r) {
  w.i64(r.cycle);
  w.f64(r.charge_capacity);
  w.f64(r.discharge_capacity);
  w.f64(r.coulombic_efficiency);
  w.f64(r.charge_energy);
  w.f64(r.discharge_energy);
  w.f64(r.lithium_inventory);
  w.f64(r.duration);
  w.f64s(r.step_end_times);
  w.i64(r.stats.steps);
  w.i64(r.stats.residual_evals);
  w.i64(r.stats.jacobian_evals);
  w.i64(r.stats.nonlinear_iters);
  w.i64(r.stats.error_test_fails);
  w.i64(r.stats.nonlinear_conv_fails);
  w.f64s(r.aging);
  w.u8(r.simulated ? 1 : 0);
  w.u8(r.failed ? 1 : 0);
  w.str(r.failure);
}

inline CycleRecord read_record(Reader& in) {
  CycleRecord r;
  r.cycle = in.int32();
  r.charge_capacity = in.f64();
  r.discharge_capacity = in.f64();
  r.coulombic_efficiency = in.f64();
  r.charge_energy = in.f64();
  r.discharge_energy = in.f64();
  r.lithium_inventory = in.f64();
  r.duration = in.f64();
  r.step_end_times = in.f64s();
  r.stats.steps = in.i64();
  r.stats.residual_evals = in.i64();
  r.stats.jacobian_evals = in.i64();
  r.stats.nonlinear_iters = in.i64();
  r.stats.error_test_fails = in.i64();
  r.stats.nonlinear_conv_fails = in.i64();
  r.aging = in.f64s();
  r.simulated = in.u8() != 0;
  r.failed = in.u8() != 0;
  r.failure = in.str();
  return r;
}

}  // namespace halite::bytes

// What keeps a run's output safe from the outside (issue 12): an exclusive lock on the output
// for the whole run, and SIGINT/SIGTERM/SIGHUP turned into a clean stop at the next cycle
// boundary. Shared by `halite run` (host/app/runner.cpp) and `halite sweep` (host/app/sweep.cpp).
#pragma once

#include <csignal>
#include <string>

namespace halite {

// The signal that asked the run to stop (0: none). Set by the handler StopSignals installs;
// read at cycle boundaries.
int stop_signal();

// Thrown at a cycle boundary once a stop signal arrived.
struct Interrupted {
  int signal = 0;
};

// "SIGINT", "SIGTERM", "SIGHUP" or "a signal".
const char* signal_name(int signal);

// Installs the stop handler for SIGINT, SIGTERM and SIGHUP for its lifetime (the handler only
// records the signal) and restores the previous handlers after it.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  struct sigaction previous_[3]{};
};

// An exclusive POSIX record lock on OUTPUT.lock for the whole run (the kernel drops it when the
// process dies; the file is removed at the end). error() is empty when the lock is held, else it
// says who holds it (two runs on one output both exited 0 and left a corrupt file).
class OutputLock {
 public:
  explicit OutputLock(const std::string& output);
  ~OutputLock();
  OutputLock(const OutputLock&) = delete;
  OutputLock& operator=(const OutputLock&) = delete;
  const std::string& error() const { return error_; }

 private:
  std::string path_;
  int fd_ = -1;
  std::string error_;
};

// Room for the end of a run on the output's file system. A run that fills the disk in the middle
// of an HDF5 write leaves a file HDF5 cannot extend again (and HDF5 may crash on exit): instead,
// at every cycle boundary the run checks the free space and, below a margin, stops there as if
// interrupted — checkpoint, status, flush — while the space is still there. A reserve file
// (OUTPUT.reserve, held for the run and given back before the final writes) keeps that room even
// when another process fills the disk meanwhile.
class DiskGuard {
 public:
  // margin_bytes: the free space below which the run stops (the default: 4 MiB, or the
  // environment variable HALITE_MIN_FREE_BYTES). reserve_bytes: size of OUTPUT.reserve.
  explicit DiskGuard(const std::string& output, long long margin_bytes = -1,
                     long long reserve_bytes = 1 << 20);
  ~DiskGuard();
  DiskGuard(const DiskGuard&) = delete;
  DiskGuard& operator=(const DiskGuard&) = delete;
  // Bytes free for this user on the output's file system (statvfs), not counting the reserve.
  long long free_bytes() const;
  // True once free space fell below the margin (checked on each call); gives the reserve back.
  bool low();
  long long margin() const { return margin_; }
  long long free_at_stop() const { return free_at_stop_; }  // what low() saw when it tripped
  const std::string& directory() const { return directory_; }

 private:
  void release();
  std::string directory_, reserve_path_;
  long long margin_;
  bool low_ = false, reserved_ = false;
  long long free_at_stop_ = -1;
};

}  // namespace halite

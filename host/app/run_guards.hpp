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

}  // namespace halite

#include "host/app/run_guards.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iterator>

namespace halite {

namespace {

volatile std::sig_atomic_t g_stop_signal = 0;
constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP};

extern "C" void record_stop_signal(int signal) {
  g_stop_signal = signal;
}

}  // namespace

int stop_signal() {
  return g_stop_signal;
}

const char* signal_name(int signal) {
  switch (signal) {
    case SIGINT:
      return "SIGINT";
    case SIGTERM:
      return "SIGTERM";
    case SIGHUP:
      return "SIGHUP";
    default:
      return "a signal";
  }
}

StopSignals::StopSignals() {
  g_stop_signal = 0;
  struct sigaction action {};
  action.sa_handler = record_stop_signal;
  sigemptyset(&action.sa_mask);
  for (std::size_t i = 0; i < std::size(kStopSignals); ++i)
    ::sigaction(kStopSignals[i], &action, &previous_[i]);
}

StopSignals::~StopSignals() {
  for (std::size_t i = 0; i < std::size(kStopSignals); ++i)
    ::sigaction(kStopSignals[i], &previous_[i], nullptr);
}

OutputLock::OutputLock(const std::string& output) : path_(output + ".lock") {
  for (int attempt = 0; attempt < 3; ++attempt) {
    fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      error_ = fmt::format("cannot create the lock file '{}': {}", path_, std::strerror(errno));
      return;
    }
    struct flock lock {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    if (::fcntl(fd_, F_SETLK, &lock) != 0) {
      struct flock holder {};
      holder.l_type = F_WRLCK;
      holder.l_whence = SEEK_SET;
      const bool known = ::fcntl(fd_, F_GETLK, &holder) == 0 && holder.l_type != F_UNLCK;
      ::close(fd_);
      fd_ = -1;
      error_ =
          fmt::format("output '{}' is being written by another halite ({}; lock file '{}')", output,
                      known ? fmt::format("process {}", holder.l_pid) : "process unknown", path_);
      return;
    }
    // The holder before us may have unlinked the file we opened: lock the one at the path.
    struct stat ours {
    }, at_path{};
    if (::fstat(fd_, &ours) == 0 && ::stat(path_.c_str(), &at_path) == 0 &&
        ours.st_ino == at_path.st_ino && ours.st_dev == at_path.st_dev) {
      const std::string pid = std::to_string(::getpid()) + "\n";
      if (::ftruncate(fd_, 0) == 0 && ::write(fd_, pid.data(), pid.size()) < 0) {
        // the PID in the file is informational; the lock is what counts
      }
      error_.clear();
      return;
    }
    ::close(fd_);
    fd_ = -1;
  }
  error_ = fmt::format("could not lock '{}' (it kept being replaced)", path_);
}

OutputLock::~OutputLock() {
  if (fd_ >= 0) {
    ::unlink(path_.c_str());
    ::close(fd_);
  }
}

}  // namespace halite

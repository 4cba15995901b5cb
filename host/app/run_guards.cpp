#include "host/app/run_guards.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
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

DiskGuard::DiskGuard(const std::string& output, long long margin_bytes, long long reserve_bytes)
    : reserve_path_(output + ".reserve"), margin_(margin_bytes) {
  const std::filesystem::path parent = std::filesystem::path(output).parent_path();
  directory_ = parent.empty() ? "." : parent.string();
  if (margin_ < 0) {
    margin_ = 4ll << 20;
    if (const char* env = std::getenv("HALITE_MIN_FREE_BYTES")) {
      char* end = nullptr;
      const long long v = std::strtoll(env, &end, 10);
      if (end != env && *end == '\0' && v >= 0) margin_ = v;
    }
  }
  // The reserve is best effort: a file system without fallocate, or one already too full, runs
  // without it (the margin check still applies).
  // (a reserve left by a killed run is taken over: the output lock says the run is ours)
  const int fd = ::open(reserve_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  reserved_ = ::posix_fallocate(fd, 0, reserve_bytes) == 0;
  ::close(fd);
  if (!reserved_) ::unlink(reserve_path_.c_str());
}

DiskGuard::~DiskGuard() {
  release();
}

void DiskGuard::release() {
  if (reserved_) ::unlink(reserve_path_.c_str());
  reserved_ = false;
}

long long DiskGuard::free_bytes() const {
  struct statvfs fs {};
  if (::statvfs(directory_.c_str(), &fs) != 0) return -1;  // unknown: do not stop the run
  return static_cast<long long>(fs.f_bavail) * static_cast<long long>(fs.f_frsize);
}

bool DiskGuard::low() {
  if (!low_) {
    const long long free = free_bytes();
    low_ = free >= 0 && free < margin_;
    if (low_) free_at_stop_ = free;
  }
  if (low_) release();
  return low_;
}

}  // namespace halite

// The parse deadline of yaml_limits.hpp. A worker process, forked once and kept, parses each text
// with yaml-cpp before this process does; a text it has not finished within the deadline is
// refused and the worker killed (the next text forks a new one). Forking per text was simpler
// but cost 6x the config fuzzer's speed under ASan (fork copies the page tables of a large
// process); the worker costs two socket messages and a second parse per text.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>

#include "yaml_limits.hpp"

namespace halite {

namespace {

// Writes all of `size` bytes; false when the peer has gone (no SIGPIPE: MSG_NOSIGNAL).
bool send_all(int fd, const void* data, std::size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::send(fd, p, size, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

bool receive_all(int fd, void* data, std::size_t size) {
  char* p = static_cast<char*>(data);
  while (size > 0) {
    const ssize_t n = ::recv(fd, p, size, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// The worker's loop: read a length and a text, parse it, answer one byte; leave at end of file.
[[noreturn]] void serve(int fd) {
  for (const int sig : {SIGINT, SIGTERM, SIGHUP}) ::signal(sig, SIG_DFL);
  std::string text;
  for (;;) {
    std::uint64_t size = 0;
    if (!receive_all(fd, &size, sizeof size)) ::_exit(0);
    text.resize(size);
    if (!receive_all(fd, text.data(), size)) ::_exit(0);
    try {
      (void)YAML::LoadAll(text);
    } catch (...) {
    }
    const char done = 'k';
    if (!send_all(fd, &done, 1)) ::_exit(0);
  }
}

class ParseWorker {
 public:
  ~ParseWorker() { stop(); }

  // True when yaml-cpp finished on `text` within `seconds` (or the guard is unavailable), false
  // when it had not.
  bool finishes(std::string_view text, double seconds) {
    std::lock_guard<std::mutex> lock(mutex_);
    // A sweep parses its base configuration once per case and a fit once per evaluation: a text
    // the worker has finished is not sent again (64-bit hash and length).
    const std::pair<std::size_t, std::size_t> key{std::hash<std::string_view>{}(text), text.size()};
    if (finished_.count(key)) return true;
    if (!verify(text, seconds)) return false;
    if (finished_.size() >= 4096) finished_.clear();
    finished_.insert(key);
    return true;
  }

 private:
  bool verify(std::string_view text, double seconds) {
    if (socket_ < 0 && !start()) return true;  // no worker (no fork, no socket): no guard
    const std::uint64_t size = text.size();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
    // (the worker reads while this writes, so a text longer than the socket buffer is fine)
    if (!send_all(socket_, &size, sizeof size) || !send_all(socket_, text.data(), text.size())) {
      stop();  // the worker has gone (it crashed on an earlier text): parse in this process
      return true;
    }
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                            deadline - std::chrono::steady_clock::now())
                            .count();
      if (left <= 0) break;
      pollfd watch{socket_, POLLIN, 0};
      const int ready = ::poll(&watch, 1, static_cast<int>(left));
      if (ready < 0 && errno == EINTR) continue;
      if (ready == 0) continue;  // (the loop head sees the deadline)
      char done = 0;
      if (ready < 0 || !receive_all(socket_, &done, 1)) {
        stop();  // the worker died on this text: this process's own parse reports it
        return true;
      }
      return true;
    }
    stop();
    return false;
  }

  bool start() {
    int ends[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) return false;
    const pid_t pid = ::fork();
    if (pid < 0) {
      ::close(ends[0]);
      ::close(ends[1]);
      return false;
    }
    if (pid == 0) {
      // Keep only the standard streams and this end: an inherited descriptor (an output file's
      // lock, say) must not outlive its owner's close.
      const int fd = ends[1];
      if (fd > 3) ::close_range(3, static_cast<unsigned>(fd) - 1, 0);
      ::close_range(static_cast<unsigned>(fd) + 1, ~0u, 0);
      serve(fd);
    }
    ::close(ends[1]);
    socket_ = ends[0];
    pid_ = pid;
    return true;
  }

  void stop() {
    if (socket_ >= 0) ::close(socket_);
    socket_ = -1;
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
      }
    }
    pid_ = -1;
  }

  struct KeyHash {
    std::size_t operator()(const std::pair<std::size_t, std::size_t>& k) const {
      return k.first ^ (k.second * 0x9e3779b97f4a7c15ull);
    }
  };
  std::mutex mutex_;
  std::unordered_set<std::pair<std::size_t, std::size_t>, KeyHash> finished_;
  int socket_ = -1;
  pid_t pid_ = -1;
};

std::atomic<double> deadline_base_seconds{2.0}, deadline_seconds_per_mib{20.0};

}  // namespace

void set_yaml_parse_deadline(double base_seconds, double seconds_per_mib) {
  deadline_base_seconds = base_seconds;
  deadline_seconds_per_mib = seconds_per_mib;
}

double yaml_parse_deadline_seconds(std::size_t text_bytes) {
  // The reference configuration (10 kB) parses in about 1 ms and a 1 MiB one (the
  // kMaxConfigBytes limit) in about 0.3 s in a Release build, a few times that under the
  // sanitizers: the deadline leaves more than an order of magnitude. (Short, because the config
  // fuzzer, which meets yaml-cpp's loops every few thousand inputs, waits it out each time.)
  return deadline_base_seconds +
         deadline_seconds_per_mib * static_cast<double>(text_bytes) / static_cast<double>(1u << 20);
}

void ensure_yaml_cpp_finishes(std::string_view text) {
  static ParseWorker worker;
  const double seconds = yaml_parse_deadline_seconds(text.size());
  if (worker.finishes(text, seconds)) return;
  YAML::Mark start;
  start.pos = 0;
  start.line = 0;
  start.column = 0;
  throw YAML::ParserException(
      start, fmt::format("yaml-cpp did not finish reading this text within {:.0f} s: yaml-cpp "
                         "0.7 loops forever on some malformed YAML (such as ' :\\n[],'); check "
                         "the structure of the text (indentation, stray ',', '[', ']')",
                         seconds));
}

}  // namespace halite

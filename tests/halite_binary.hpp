// Test helpers for the tests that run the halite executable (HALITE_BINARY, set by
// tests/CMakeLists.txt): quoting, reading a file, running it with its output captured, and
// starting it in the background for the kill-and-inspect tests.
#pragma once

#include <fcntl.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace halite::testing {

inline std::string shell_quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A temporary directory for one test (mkdtemp under the system's temporary directory),
// removed with everything in it.
class ScratchDirectory {
 public:
  explicit ScratchDirectory(const std::string& prefix) {
    std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "_XXXXXX")).string();
    path_ = ::mkdtemp(pattern.data());
  }
  ~ScratchDirectory() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDirectory(const ScratchDirectory&) = delete;
  ScratchDirectory& operator=(const ScratchDirectory&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct Outcome {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs halite with `args` (stdin from /dev/null), its stdout and stderr captured through files in
// `scratch`; `environment` is prepended to the command ("VAR=value ").
inline Outcome run_halite(const std::filesystem::path& scratch,
                          const std::vector<std::string>& args,
                          const std::string& environment = "") {
  std::string command = environment + shell_quoted(HALITE_BINARY);
  for (const std::string& arg : args) command += " " + shell_quoted(arg);
  command += " >" + shell_quoted((scratch / "stdout").string()) + " 2>" +
             shell_quoted((scratch / "stderr").string()) + " </dev/null";
  const int status = std::system(command.c_str());
  Outcome outcome;
  outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  outcome.out = read_text(scratch / "stdout");
  outcome.err = read_text(scratch / "stderr");
  return outcome;
}

// fork + execv(argv[0], argv); stdout and stderr go to /dev/null. Returns the child's pid
// (<= 0 if fork failed); a child that cannot exec exits with 127.
inline pid_t spawn_silently(std::vector<std::string> argv_strings) {
  std::vector<char*> argv;
  for (auto& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  return pid;
}

// Starts halite (output discarded) and polls `ready()` (exceptions count as "not yet") until it
// holds, the process ends by itself (returns false; *status set) or `seconds` pass.
template <class Ready>
bool spawn_until(const std::vector<std::string>& args, Ready ready, pid_t* pid, int* status,
                 int seconds = 120) {
  std::vector<std::string> argv_strings{HALITE_BINARY};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  *pid = spawn_silently(argv_strings);
  if (*pid <= 0) return false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  for (;;) {
    if (::waitpid(*pid, status, WNOHANG) == *pid) return false;  // ended by itself
    try {
      if (ready()) return true;
    } catch (const std::exception&) {
      // not written yet, or read in the middle of a write: try again
    }
    if (std::chrono::steady_clock::now() > deadline) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

}  // namespace halite::testing

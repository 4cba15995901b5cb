// Test helper: starts a program with its output discarded, for tests that kill it (SIGKILL)
// while it writes results and then check what it left behind.
#pragma once

#include <fcntl.h>
#include <sys/types.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace halite::testing {

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

}  // namespace halite::testing

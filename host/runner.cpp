// Placeholder until the engine lands (replaced by the core-engine work in this session).
#include "host/runner.hpp"

#include <cstdio>

namespace halite {
int run_job(const RunConfig&, const RunOptions&) {
  std::fprintf(stderr, "halite: run_job is not built yet\n");
  return kExitOther;
}
}  // namespace halite

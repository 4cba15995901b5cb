// Runs a configured job: the protocol over a batch of cells, writing HDF5 as it goes.
#pragma once

#include <string>

#include "host/config.hpp"

namespace halite {

struct RunOptions {
  std::string output = "halite_run.h5";
  bool overwrite = false;
  int max_cycles = -1;  // cut the protocol short (<= 0: full protocol)
  bool quiet = false;
  bool no_skip = false;           // integrate every cycle
  double skip_tolerance = 2e-4;   // cycle-skipping tolerance (see Cycler::run)
};

// Exit codes scripts can rely on.
inline constexpr int kExitOk = 0;
inline constexpr int kExitOther = 1;
inline constexpr int kExitBadInput = 2;
inline constexpr int kExitSolverFailed = 3;

int run_job(const RunConfig& config, const RunOptions& options);

}  // namespace halite

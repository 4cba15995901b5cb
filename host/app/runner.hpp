// Runs a configured job: the protocol over a batch of cells, writing HDF5 as it goes.
#pragma once

#include <cstdint>
#include <string>

#include "host/app/config.hpp"
#include "host/app/result_writer.hpp"
#include "host/engine/cycler.hpp"
#include "host/engine/integrator.hpp"

namespace halite {

struct RunOptions {
  std::string output = "halite_run.h5";
  bool overwrite = false;
  int max_cycles = -1;  // cut the protocol short (<= 0: full protocol)
  bool quiet = false;
  bool no_skip = false;                           // integrate every cycle
  double skip_tolerance = kDefaultSkipTolerance;  // cycle-skipping tolerance (see Cycler::run)
  // Continue the interrupted run whose output is this file (from OUTPUT.checkpoint); `output`
  // and `overwrite` are then ignored. docs/output.md, "Checkpoints and resume".
  std::string resume;
  double checkpoint_interval_s = 10.0;  // wall time between checkpoints; 0 = after every cycle
  int retries = 2;                      // re-integrations of a failed cycle (RunControl::retries)
  Backend backend = Backend::kCpu;      // integration backend (host/engine/integrator.hpp)
};

// Exit codes scripts can rely on.
inline constexpr int kExitOk = 0;
inline constexpr int kExitOther = 1;
inline constexpr int kExitBadInput = 2;
inline constexpr int kExitSolverFailed = 3;

// The provenance of a run of `config` (the result file's root attributes), dated now.
Provenance run_provenance(const RunConfig& config, Backend backend);

// Runs the job. A backend that cannot run here (backend_unavailable_reason) is refused with exit
// code 2 and a line on stderr before anything is written.
int run_job(const RunConfig& config, const RunOptions& options);

// The warning for a mesh coarser than the default, the coarsest shown converged (empty when it
// is not coarser). Issue 12: extreme meshes (1 x 1000, 1000 x 3) changed capacities by -60 % /
// +13 % without a word. Printed by `halite run` and, per sweep, by `halite sweep`.
std::string coarse_mesh_warning(const MeshConfig& mesh);

// The configuration hash stored in checkpoints: FNV-1a of the resolved YAML without its
// full-line comments (the header names the build, which may change between a run and its
// resume; the values, derived ones included, may not).
std::uint64_t config_hash(const std::string& resolved_yaml);

// Where two YAML texts first differ, full-line comments left out: "KEY.PATH was A, now B", or
// "first difference at line N: 'A' then, 'B' now" where no key path applies (resume refusals of
// runs and sweeps).
std::string yaml_difference(const std::string& before, const std::string& now);

}  // namespace halite

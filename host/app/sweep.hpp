// Parameter sweeps (`halite sweep SWEEP.yaml`): a sweep file names a base configuration, common
// overrides and the factors to vary; a design turns the factors into a list of cases (each a set
// of `--set`-style overrides of the base), and the executor runs the cases in batches, one
// Cycler per thread, and writes one HDF5 file with a leading case dimension, each batch's rows
// as soon as they are done. docs/sweep.md.
//
// Case generation (load_sweep, generate_cases, design_points), batching (plan_batches) and
// execution (run_sweep) are kept apart so that a case list can later be sharded over processes
// or machines.
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "host/app/config.hpp"
#include "host/app/result_writer.hpp"
#include "host/engine/cycler.hpp"
#include "host/engine/integrator.hpp"

namespace halite {

// A sweep file problem, "FILE:LINE:COLUMN: message" (line/column 1-based; 0 = unknown).
class SweepError : public std::runtime_error {
 public:
  SweepError(const std::string& file, int line, int column, const std::string& message);
  const std::string file;
  const int line, column;  // 0 where unknown
};

// Where something was written in the sweep file (1-based; 0 = unknown).
struct SweepMark {
  int line = 0, column = 0;
};

struct SweepFactor {
  std::string key;  // config key path, as for --set
  SweepMark mark;   // of the factor's entry
  // Either an explicit list of values (written as strings, with units) ...
  std::vector<std::string> values;
  // ... or a sampled range: min..max in `unit` ("" = dimensionless), linear or log.
  bool sampled = false;
  double min = 0.0, max = 0.0;
  std::string unit;
  bool log_scale = false;
};

enum class SweepDesign { kList, kFullFactorial, kLatinHypercube, kSobol };
const char* to_string(SweepDesign design);

struct SweepSpec {
  std::string file;  // the sweep file ("" when parsed from text)
  std::string text;  // its YAML text
  std::string name;  // optional `name:`
  std::string base;  // base config path, resolved against the sweep file; "" = reference
  std::vector<std::string> set;  // common overrides, applied before the factor values
  std::vector<SweepMark> set_marks;
  std::vector<SweepFactor> factors;
  SweepDesign design = SweepDesign::kList;
  SweepMark design_mark;
  int n_samples = 0;                  // latin_hypercube, sobol
  std::optional<std::uint64_t> seed;  // latin_hypercube
  int skip = 1;                       // sobol: points skipped at the start (1 = the origin)
};

// One case of a sweep: its overrides (spec.set followed by "key=value" per factor) and the
// factor values (as strings with units, one per factor).
struct SweepCase {
  int index = 0;
  std::vector<std::string> overrides;
  std::vector<std::string> values;
};

// Parses a sweep file / sweep text. Throws SweepError.
SweepSpec load_sweep(const std::string& path);
SweepSpec parse_sweep(const std::string& text, const std::string& file = "<sweep>");

// The design's points in the unit hypercube, n x dims, row-major (list and full_factorial do not
// use this). Latin hypercube: each of the n equal strata of every dimension is hit exactly once;
// reproducible for a seed. Sobol: unscrambled, Joe-Kuo direction numbers, dims <= 10.
std::vector<std::vector<double>> latin_hypercube(int n, int dims, std::uint64_t seed);
std::vector<std::vector<double>> sobol_points(int n, int dims, int skip = 1);

// The cases of a sweep (no configuration is loaded). Throws SweepError.
std::vector<SweepCase> generate_cases(const SweepSpec& spec);

// Loads the configuration of every case (halite::load_config(spec.base, case.overrides)). A bad
// factor key or value throws SweepError located at the factor in the sweep file (the config
// error's message included); other config errors are thrown as ConfigError.
std::vector<RunConfig> resolve_cases(const SweepSpec& spec, const std::vector<SweepCase>& cases);

// A factor value in SI (e.g. "50 MPa" -> 5e7), NaN if it is not a number with a known unit.
double value_in_si(const std::string& value);

// The largest batch the cuda backend gets by default.
inline constexpr int kMaxCudaBatch = 8192;
// Input limits (docs/sweep.md): cases in one sweep, bytes of a sweep file.
inline constexpr std::size_t kMaxSweepCases = 100000;
inline constexpr std::size_t kMaxSweepFileBytes = 16u << 20;
// The smallest group the cuda backend splits a large sweep into by default (narrower batches
// leave most of the GPU idle in each kernel).
inline constexpr int kMinCudaGroup = 256;

// One finished batch, as its worker reports it to the coordinator (progress and the summary).
struct SweepBatchReport {
  int failed = 0, cycles = 0, integrated = 0, skipped = 0;
  double seconds = 0.0;
};

// The other processes of a sweep that runs on several (MPI ranks: host/app/sweep_mpi.cpp, only
// in a build with MPI). Rank 0 coordinates: it owns the output file, hands out batches (as case
// lists) to whichever rank asks, writes the row blocks they send back, and computes batches
// itself on its own threads. The other ranks compute and send. The sweep code sees only this
// interface, so it builds and runs without MPI. All calls come from the calling process's main
// thread.
class SweepCluster {
 public:
  virtual ~SweepCluster() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // Coordinator (rank 0). A message from a worker rank, if one is waiting (non-blocking).
  struct Message {
    enum class Kind { kRequest, kBlock, kBatchDone, kGone } kind = Kind::kRequest;
    int source = 0;
    RowBlock block;           // kBlock
    SweepBatchReport report;  // kBatchDone
    int signal = 0;           // kGone: the signal that stopped the worker (0: none)
  };
  virtual bool poll(Message* message) = 0;
  // Answers a worker's request: the cases of its next batch, or an empty list (no more work).
  virtual void assign(int worker, const std::vector<int>& cases) = 0;
  // Ends the whole job at once (after the coordinator has closed the output), with this exit code.
  [[noreturn]] virtual void abort(int exit_code) = 0;

  // Worker (rank > 0). Blocks until the coordinator answers; empty: no more work.
  virtual std::vector<int> request() = 0;
  virtual void send_block(const RowBlock& block) = 0;
  virtual void send_batch_done(const SweepBatchReport& report) = 0;
  virtual void send_gone(int signal) = 0;  // this worker stops (a signal) and asks no more
};

struct SweepOptions {
  std::string output = "halite_sweep.h5";
  bool overwrite = false;
  // Non-empty: continue the interrupted sweep that wrote this file (halite sweep --resume) instead
  // of creating `output`: its cases "not run" or "running" are run again and written into their
  // rows, those "completed" or "failed" are kept. Refused (exit 2) unless the file is a sweep
  // result of the same sweep text and cycle count.
  std::string resume;
  int max_cycles = -1;  // <= 0: the full protocol
  int threads = 0;      // <= 0: std::thread::hardware_concurrency()
  // Cases per batch (one Cycler, one IDA instance).
  // < 0 (the default): the backend's default. CPU: 1, every case keeps its own cycle-skipping
  //   decisions and equals a single run, and the thread pool uses all cores. CUDA: all compatible
  //   cases in one batch, at most kMaxCudaBatch per batch (the GPU wants large batches).
  // 0: split every group of compatible cases into `threads` batches.
  // CUDA default in detail: ceil(n / kMaxCudaBatch) batches, or more, up to one per thread, as
  // long as each keeps at least kMinCudaGroup cases (several IDA instances on their own streams
  // and host threads; each holds similar cases, see similar_batches).
  int batch_size = -1;
  // Order the cases of each compatible group along a Z-order (Morton) curve of their factor
  // values (rank-normalised per factor) before cutting batches, so that a batch holds
  // neighbouring designs: similar event times within a protocol step (fewer IDA steps for the
  // batch) and similar aging (longer common cycle-skipping jumps). false: design order.
  bool similar_batches = true;
  bool no_skip = false;
  double skip_tolerance = kDefaultSkipTolerance;
  int retries = 2;
  bool quiet = false;
  Backend backend = Backend::kCpu;
  // Not null: this process is one rank of a multi-process sweep (SweepCluster): rank 0 runs
  // run_sweep as the coordinator, the others run_sweep_worker. Threads per rank then default
  // to 1 (a rank is usually given one core or one GPU).
  SweepCluster* cluster = nullptr;
  // A batch buffers at most this many records (cycles x its cases) before it writes them: a batch
  // of one case writes once, at its end; a batch of 8192 cases every 8 cycles. Bounds the memory
  // of a batch's results.
  int block_records = 65536;
};

// The batches of a sweep, as case indices (ascending within a batch): cases that can share one
// Cycler (same mesh, particle classes, solver section and protocol) are grouped in case order,
// ordered by similarity when `cases` is given and options.similar_batches is set (otherwise in case
// order), and every group is split into batches of options.batch_size cases (see SweepOptions), as
// even as possible. Depends only on the configurations, the cases' factor values and the options.
std::vector<std::vector<int>> plan_batches(const std::vector<RunConfig>& configs,
                                           const SweepOptions& options,
                                           const std::vector<SweepCase>* cases = nullptr);
// The order of `members` (case indices) along a Z-order curve of the cases' rank-normalised
// factor values (numbers by value in SI, other values as text).
std::vector<int> similarity_order(const std::vector<SweepCase>& cases, std::vector<int> members);

// halite sweep --dry-run: writes to `out` the cases (index and factor values) and the batches
// run_sweep would run them in (plan_batches with the same options), how many threads would take
// them and how many cycles each case runs; computes nothing, reads and writes no result file.
// Returns kExitOk, or kExitBadInput when the backend cannot run here (as run_sweep would).
int print_sweep_plan(const SweepSpec& spec, const std::vector<SweepCase>& cases,
                     const std::vector<RunConfig>& configs, const SweepOptions& options,
                     std::FILE* out);

// Runs all cases and writes SweepOptions::output: the file, with its /cases table and every case
// "not run", is created first; each batch's rows and statuses are written and flushed (fsync)
// as soon as the batch finishes (a large batch writes blocks of cycles as it goes), so an
// interrupted sweep keeps every finished case. Returns an exit code (host/app/runner.hpp): 0 when
// the sweep ran (failed cases are recorded in the file, not an error), 2 for bad input (an existing
// output without overwrite, a backend that cannot run here, a --resume file that does not exist,
// is no sweep result or belongs to another sweep text or cycle count), before anything is written.
// With options.resume, the batches are the full sweep's (plan_batches over all cases) less the
// cases already completed or failed, so the file ends as an uninterrupted sweep's would.
//
// Benchmark hook: with HALITE_BENCH_TRIVIAL_CASES=1 every case computes nothing and writes empty
// records (bench/mpi_sweep.sh times the coordinator's dispatching and writing with it).
//
// Test hook: with the environment variable HALITE_TEST_ABORT_AFTER_BATCHES=N (tests only), the
// process ends with std::_Exit(137), like a crash, right after the N-th batch is in the file.
int run_sweep(const SweepSpec& spec, const std::vector<SweepCase>& cases,
              const std::vector<RunConfig>& configs, const SweepOptions& options);

// A worker rank of a multi-process sweep (options.cluster, rank > 0): asks rank 0 for batches,
// computes each as run_sweep would (the same Cycler, skipping and retries, so the rows are
// bit-identical) and sends its row blocks and report back, until rank 0 has no more work or a
// stop signal arrives (then it tells rank 0, which reports it). Returns an exit code (0).
//
// Test hook: with HALITE_TEST_CRASH_RANK=R and HALITE_TEST_CRASH_AFTER_BATCHES=N, rank R ends
// with std::_Exit(137), like a crash, right after sending its N-th batch.
int run_sweep_worker(const std::vector<SweepCase>& cases, const std::vector<RunConfig>& configs,
                     const SweepOptions& options);

}  // namespace halite

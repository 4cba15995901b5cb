// halite command line: `halite run [CONFIG]` (also `--resume FILE.h5`), `halite config [CONFIG]`,
// `halite sweep SWEEP.yaml` (also `--resume FILE.h5`; host/app/sweep.hpp),
// `--version`, `--help`. `run` and `sweep` take `--backend cpu|cuda|auto`
// (host/engine/integrator.hpp). Exit codes (host/app/runner.hpp): 0 ok, 1 other error, 2 bad input
// (config or arguments), 3 solver failure (from run_job).
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "halite/build_info.hpp"
#include "host/app/config.hpp"
#include "host/app/fit.hpp"
#include "host/app/runner.hpp"
#include "host/app/sweep.hpp"
#include "host/app/validate.hpp"
#include "host/engine/integrator.hpp"
#ifdef HALITE_WITH_CUDA
#include "cuda/register_backend.hpp"
#endif
#ifdef HALITE_WITH_MPI
#include "host/app/sweep_mpi.hpp"
#endif

namespace {

// CLI11's Range and NonNegativeNumber let "nan" through (every comparison with NaN is false):
// --skip-tolerance nan turned skipping off and --checkpoint-interval nan stopped checkpoints.
const CLI::Validator kFinite(
    [](std::string& text) -> std::string {
      double value = 0.0;
      const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (error != std::errc{} || end != text.data() + text.size() || !std::isfinite(value))
        return "must be a finite number, got '" + text + "'";
      return "";
    },
    "FINITE");
// An empty --resume started a new run instead of resuming one.
const CLI::Validator kNotEmpty(
    [](std::string& text) -> std::string {
      return text.empty() ? std::string("must name a file, got ''") : std::string();
    },
    "NOT EMPTY");

// Line `line` (1-based) of a text, or "" if it has fewer lines.
std::string line_of(const std::string& text, int line) {
  std::istringstream in(text);
  std::string current;
  for (int i = 1; std::getline(in, current); ++i) {
    if (i == line) return current;
  }
  return "";
}

// The source line an error points at, for the excerpt under the message.
std::string source_line(const halite::ConfigError& error, const std::vector<std::string>& sets) {
  if (error.line <= 0) return "";
  if (error.file == "--set") {
    const auto index = static_cast<std::size_t>(error.line) - 1;
    return index < sets.size() ? sets[index] : "";
  }
  if (error.file == "<embedded reference>") {
    return line_of(halite::build_info::kReferenceConfigYaml, error.line);
  }
  std::ifstream in(error.file);
  std::ostringstream text;
  text << in.rdbuf();
  return line_of(text.str(), error.line);
}

// "FILE:LINE:COLUMN: key '...': problem", then the line with a caret under the column.
void report(const halite::ConfigError& error, const std::vector<std::string>& sets) {
  fmt::print(stderr, "{}\n", error.what());
  const std::string line = source_line(error, sets);
  if (line.empty() || error.column <= 0) return;
  const std::string gutter = fmt::format("{:>5} | ", error.line);
  std::string caret(static_cast<std::size_t>(error.column) - 1, ' ');
  for (std::size_t i = 0; i < caret.size() && i < line.size(); ++i) {
    if (line[i] == '\t') caret[i] = '\t';  // keep the caret aligned under tabs
  }
  fmt::print(stderr, "{}{}\n{:>5} | {}^\n", gutter, line, "", caret);
}

// The backend named by `--backend TEXT` of `command` ("halite run"), or nullopt after a line on
// stderr when it is unknown or cannot run here (built without CUDA, no device).
std::optional<halite::Backend> resolve_backend(const char* command, const std::string& text) {
  halite::Backend backend = halite::Backend::kCpu;
  try {
    backend = halite::parse_backend(text);
  } catch (const std::invalid_argument& e) {
    fmt::print(stderr, "{}: --backend {}: {}\n", command, text, e.what());
    return std::nullopt;
  }
  if (const std::string why = halite::backend_unavailable_reason(backend); !why.empty()) {
    fmt::print(stderr, "{}: --backend {}: {}\n", command, text, why);
    return std::nullopt;
  }
  return backend;
}

int run_cli(int argc, char** argv, std::vector<std::string>& sets) {
  CLI::App app{"halite: P2D simulator of solid-state battery aging (NMC | sulfide SE | Li-In)"};
#ifdef HALITE_WITH_CUDA
  constexpr const char* kBackends = "cpu, cuda, auto";
#else
  constexpr const char* kBackends = "cpu, auto";
#endif
#ifdef HALITE_WITH_MPI
  constexpr const char* kSweepRanks = "; sweeps on MPI ranks";
#else
  constexpr const char* kSweepRanks = "";
#endif
  app.set_version_flag(
      "--version", fmt::format("halite {} (git {}; backends: {}{})", halite::build_info::kVersion,
                               halite::build_info::kGitCommit, kBackends, kSweepRanks));
  app.require_subcommand(1);

  std::string config_path;
  const auto add_config_options = [&](CLI::App* command) {
    command->add_option("CONFIG", config_path,
                        "YAML config; keys it omits come from the embedded reference cell "
                        "(default: the reference cell itself)");
    command
        ->add_option("--set", sets,
                     "Override one key after reading CONFIG, e.g. --set "
                     "'cell.mechanics.stack_pressure=500 MPa' (repeatable)")
        ->type_name("KEY.PATH=VALUE")
        ->allow_extra_args(false);
  };

  halite::RunOptions options;
  std::string run_backend = "auto";
  CLI::App* run = app.add_subcommand("run", "Simulate the protocol of CONFIG and write HDF5");
  add_config_options(run);
  run->add_option("-o,--output", options.output, "HDF5 file to write")->capture_default_str();
  run->add_flag("--overwrite", options.overwrite, "Replace OUTPUT if it exists");
  run->add_option("--cycles", options.max_cycles, "Stop after N cycles of the protocol")
      ->type_name("N")
      ->check(CLI::PositiveNumber);
  run->add_flag("-q,--quiet", options.quiet, "No progress output");
  run->add_flag("--no-skip", options.no_skip, "Integrate every cycle (no adaptive cycle skipping)");
  run->add_option("--skip-tolerance", options.skip_tolerance,
                  "Allowed extrapolation error of the slow state per jump (weighted max norm)")
      ->capture_default_str()
      ->check(kFinite)
      ->check(CLI::Range(1e-8, 1e-1));
  CLI::Option* resume =
      run->add_option("--resume", options.resume,
                      "Continue the interrupted run that writes FILE.h5 from its checkpoint "
                      "FILE.h5.checkpoint (same CONFIG and --set options; implies -o FILE.h5)")
          ->type_name("FILE.h5")
          ->check(kNotEmpty);
  run->add_option("--checkpoint-interval", options.checkpoint_interval_s,
                  "Wall-clock seconds between checkpoints (0: after every cycle; always at the "
                  "end of a block and of the run)")
      ->type_name("SECONDS")
      ->capture_default_str()
      ->check(kFinite)
      ->check(CLI::NonNegativeNumber);
  run->add_option("--backend", run_backend,
                  "Integration backend: cpu, cuda (a halite built with CUDA, on a machine with a "
                  "GPU), or auto (one cell: the CPU)")
      ->capture_default_str();

  halite::SweepOptions sweep_options;
  std::string sweep_path, sweep_backend = "auto";
  CLI::App* sweep = app.add_subcommand(
      "sweep", "Run a parameter sweep (docs/sweep.md) and write one HDF5 file for all cases");
  sweep->add_option("SWEEP", sweep_path, "Sweep YAML (base config, overrides, factors, design)")
      ->required();
  sweep->add_option("-o,--output", sweep_options.output, "HDF5 file to write")
      ->capture_default_str();
  sweep->add_flag("--overwrite", sweep_options.overwrite, "Replace OUTPUT if it exists");
  CLI::Option* sweep_resume =
      sweep
          ->add_option("--resume", sweep_options.resume,
                       "Continue the interrupted sweep that wrote FILE.h5: run its cases not "
                       "run or running, keep those completed or failed (same SWEEP, --cycles "
                       "and options; instead of -o)")
          ->type_name("FILE.h5")
          ->check(kNotEmpty);
  sweep->add_option("--cycles", sweep_options.max_cycles, "Stop every case after N cycles")
      ->type_name("N")
      ->check(CLI::PositiveNumber);
  sweep
      ->add_option("--threads", sweep_options.threads,
                   "Batches run at once, one thread each (default: hardware threads)")
      ->type_name("T")
      ->check(CLI::PositiveNumber);
  sweep
      ->add_option("--batch-size", sweep_options.batch_size,
                   "Cases per batch (one IDA instance). Default: 1 on the cpu backend (every "
                   "case on its own: keeps its own cycle skipping and equals a single run), all "
                   "compatible cases in one batch (at most 8192) on cuda; 0 = split the cases "
                   "into one batch per thread")
      ->type_name("N")
      ->check(CLI::NonNegativeNumber);
  sweep
      ->add_option_function<std::string>(
          "--batch-order",
          [&](const std::string& order) { sweep_options.similar_batches = order == "similar"; },
          "Which cases share a batch: similar (default: neighbours in factor space, so a batch's "
          "events and cycle-skipping jumps are alike) or design (in case order)")
      ->type_name("ORDER")
      ->check(CLI::IsMember({"similar", "design"}));
  sweep->add_flag("--no-skip", sweep_options.no_skip,
                  "Integrate every cycle (no adaptive cycle skipping)");
  sweep->add_flag("-q,--quiet", sweep_options.quiet, "No progress output");
  bool sweep_dry_run = false;
  CLI::Option* sweep_dry = sweep->add_flag(
      "--dry-run", sweep_dry_run,
      "Print the cases and the batches they would run in, then stop: nothing is computed, no "
      "file is read or written but the sweep file and its configs");
  sweep
      ->add_option("--backend", sweep_backend,
                   "Integration backend: cpu, cuda (a halite built with CUDA, on a machine with a "
                   "GPU), or auto (the GPU for batches of at least 256 cases where a device can "
                   "be used, the CPU otherwise)")
      ->capture_default_str();

  halite::ValidateOptions validate_options;
  std::vector<std::string> validate_files;
  std::string validate_backend = "auto";
  CLI::App* validate = app.add_subcommand(
      "validate",
      "Compare the model with measured data (docs/validation.md): exit 0 when every value is "
      "inside its band, 4 when some are not, 2 on bad input, 3 when a simulation failed");
  validate
      ->add_option("FILES", validate_files,
                   "[CONFIG] DATA.yaml: the measured datasets and their bands (one file: DATA, "
                   "with the config it names or the reference cell; none: the reference cell's "
                   "own data, compiled in)")
      ->expected(0, 2);
  validate
      ->add_option("--set", validate_options.overrides,
                   "Override one key of CONFIG for every run (repeatable)")
      ->type_name("KEY.PATH=VALUE")
      ->allow_extra_args(false);
  validate->add_option("-o,--output", validate_options.output, "HDF5 file to write")
      ->capture_default_str();
  validate->add_flag("--overwrite", validate_options.overwrite, "Replace OUTPUT if it exists");
  validate
      ->add_option("--plots", validate_options.plots,
                   "Directory for PNG plots (needs python3 with h5py and matplotlib)")
      ->type_name("DIR");
  validate
      ->add_option("--threads", validate_options.threads,
                   "Runs at once, one thread each (default: hardware threads)")
      ->type_name("T")
      ->check(CLI::PositiveNumber);
  validate->add_flag("-q,--quiet", validate_options.quiet, "No progress output");
  validate
      ->add_option("--backend", validate_backend,
                   "Integration backend: cpu, cuda, or auto (the CPU)")
      ->capture_default_str();

  halite::FitOptions fit_options;
  std::vector<std::string> fit_files;
  std::string fit_backend = "auto";
  CLI::App* fit = app.add_subcommand(
      "fit",
      "Fit configuration keys to measured data with uncertainty (docs/validation.md, \"Fitting "
      "a cell\")");
  fit->add_option("FILES", fit_files,
                  "[CONFIG] FIT.yaml: the parameters (keys, bounds, scale, start, prior), the data "
                  "(a DATA.yaml of halite validate) and the optimiser's settings")
      ->expected(1, 2)
      ->required();
  fit->add_option("--set", fit_options.overrides, "Override one key of CONFIG for every run")
      ->type_name("KEY.PATH=VALUE")
      ->allow_extra_args(false);
  fit->add_option("-o,--output", fit_options.output,
                  "HDF5 report; also OUTPUT_best.yaml, OUTPUT.md and the journal "
                  "OUTPUT.evaluations")
      ->capture_default_str();
  fit->add_flag("--overwrite", fit_options.overwrite, "Start again over an existing fit");
  fit->add_option("--plots", fit_options.plots,
                  "Directory for PNG plots: the fit's validation and its profiles (needs python3 "
                  "with h5py and matplotlib)")
      ->type_name("DIR");
  fit->add_flag("--resume", fit_options.resume,
                "Continue a killed fit from its journal OUTPUT.evaluations (same files and "
                "options)");
  fit->add_option("--threads", fit_options.threads, "Threads (default: hardware threads)")
      ->type_name("T")
      ->check(CLI::PositiveNumber);
  fit->add_flag("-q,--quiet", fit_options.quiet, "No progress output");
  fit->add_option("--backend", fit_backend, "Integration backend: cpu, cuda, or auto (the CPU)")
      ->capture_default_str();

  CLI::App* config = app.add_subcommand(
      "config", "Print the resolved configuration (defaults included, with units) and exit");
  add_config_options(config);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help/version (code 0) or the error
    return code == 0 ? halite::kExitOk : halite::kExitBadInput;
  }

  if (run->parsed() && resume->count() > 0) {
    if (options.overwrite) {
      fmt::print(stderr, "halite run: --resume and --overwrite exclude each other\n");
      return halite::kExitBadInput;
    }
    if (run->count("--output") > 0 && options.output != options.resume) {
      fmt::print(stderr, "halite run: --resume {} writes to {}; drop -o/--output {}\n",
                 options.resume, options.resume, options.output);
      return halite::kExitBadInput;
    }
  }

  if (sweep->parsed() && sweep_resume->count() > 0 && sweep_dry->count() > 0) {
    fmt::print(stderr,
               "halite sweep: --dry-run prints the plan of a new sweep; it cannot be combined "
               "with --resume\n");
    return halite::kExitBadInput;
  }
  if (sweep->parsed() && sweep_resume->count() > 0) {
    if (sweep_options.overwrite) {
      fmt::print(stderr, "halite sweep: --resume and --overwrite exclude each other\n");
      return halite::kExitBadInput;
    }
    if (sweep->count("--output") > 0 && sweep_options.output != sweep_options.resume) {
      fmt::print(stderr, "halite sweep: --resume {} writes to {}; drop -o/--output {}\n",
                 sweep_options.resume, sweep_options.resume, sweep_options.output);
      return halite::kExitBadInput;
    }
  }

  // The backend first: an unknown or unusable one stops before any file is read or written.
  if (run->parsed()) {
    const auto backend = resolve_backend("halite run", run_backend);
    if (!backend) return halite::kExitBadInput;
    options.backend = *backend;
  }
  if (sweep->parsed()) {
    const auto backend = resolve_backend("halite sweep", sweep_backend);
    if (!backend) return halite::kExitBadInput;
    sweep_options.backend = *backend;
    try {
      const halite::SweepSpec spec = halite::load_sweep(sweep_path);
      const auto cases = halite::generate_cases(spec);
      const auto configs = halite::resolve_cases(spec, cases);
      if (sweep_dry_run) {
#ifdef HALITE_WITH_MPI
        // under mpirun every rank parses the command: one plan, from rank 0 (no MPI needed)
        if (halite::launcher_rank() > 0) return halite::kExitOk;
#endif
        return halite::print_sweep_plan(spec, cases, configs, sweep_options, stdout);
      }
#ifdef HALITE_WITH_MPI
      // Under mpirun/srun with several ranks: rank 0 coordinates and writes, every rank computes
      // (docs/sweep.md, "On several machines"). Each rank has read the sweep and its configs.
      if (halite::started_by_mpi_launcher_with_several_ranks()) {
        halite::MpiSweepCluster cluster(nullptr, nullptr);
        sweep_options.cluster = &cluster;
#ifdef HALITE_WITH_CUDA
        halite::cuda::use_device_of_local_rank(cluster.local_rank());
#endif
        if (cluster.rank() != 0) {
          sweep_options.quiet = true;
          return halite::run_sweep_worker(cases, configs, sweep_options);
        }
        const int code = halite::run_sweep(spec, cases, configs, sweep_options);
        cluster.release_workers();  // a refused sweep (exit 2) never handed out a batch
        return code;
      }
#endif
      return halite::run_sweep(spec, cases, configs, sweep_options);
    } catch (const halite::SweepError& e) {
      fmt::print(stderr, "{}\n", e.what());
      return halite::kExitBadInput;
    }
  }

  if (fit->parsed()) {
    if (fit_options.resume && fit_options.overwrite) {
      fmt::print(stderr, "halite fit: --resume and --overwrite exclude each other\n");
      return halite::kExitBadInput;
    }
    const auto backend = resolve_backend("halite fit", fit_backend);
    if (!backend) return halite::kExitBadInput;
    fit_options.backend = *backend;
    fit_options.fit = fit_files.back();
    if (fit_files.size() == 2) fit_options.config = fit_files[0];
    sets = fit_options.overrides;
    return halite::run_fit(fit_options);
  }
  if (validate->parsed()) {
    const auto backend = resolve_backend("halite validate", validate_backend);
    if (!backend) return halite::kExitBadInput;
    validate_options.backend = *backend;
    if (validate_files.size() == 1) validate_options.data = validate_files[0];
    if (validate_files.size() == 2) {
      validate_options.config = validate_files[0];
      validate_options.data = validate_files[1];
    }
    sets = validate_options.overrides;  // located --set errors
    return halite::run_validate(validate_options);
  }

  const halite::RunConfig resolved = halite::load_config(config_path, sets);
  if (config->parsed()) {
    fmt::print("{}", resolved.resolved_yaml);
    return halite::kExitOk;
  }
  return halite::run_job(resolved, options);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> sets;
  try {
#ifdef HALITE_WITH_CUDA
    halite::cuda::register_cuda_backend();  // --backend cuda ("no CUDA device" without one)
#endif
    return run_cli(argc, argv, sets);
  } catch (const halite::ConfigError& e) {
    report(e, sets);
    return halite::kExitBadInput;
  } catch (const std::exception& e) {
    fmt::print(stderr, "halite: error: {}\n", e.what());
    // Leave without the library exit handlers: after a failed write (a full disk) HDF5's own
    // handler crashed (SIGSEGV) or looped closing the library. Everything halite wrote is
    // flushed or closed already (the stack is unwound), and the checkpoint is on disk.
    std::fflush(nullptr);
    std::_Exit(halite::kExitOther);
  } catch (...) {
    fmt::print(stderr, "halite: error: unknown exception\n");
    return halite::kExitOther;
  }
}

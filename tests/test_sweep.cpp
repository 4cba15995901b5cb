// Parameter sweeps (host/app/sweep.hpp, `halite sweep`): design generators, sweep-file validation,
// batching, the backend option, an end-to-end sweep whose cases match single `halite run`s, and
// sweeps killed part-way that keep every finished case.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "host/app/result_writer.hpp"
#include "host/app/sweep.hpp"
#include "host/engine/aging_report.hpp"
#include "tests/halite_binary.hpp"

namespace halite {
namespace {

using halite::testing::Outcome;
using halite::testing::read_text;
using halite::testing::run_halite;
using halite::testing::shell_quoted;

// ---- designs ------------------------------------------------------------------------------------

TEST(SweepDesign, LatinHypercubeHitsEveryStratumOncePerDimension) {
  for (int n : {1, 2, 8, 37}) {
    const auto p = latin_hypercube(n, 4, 1234);
    ASSERT_EQ(p.size(), static_cast<std::size_t>(n));
    for (int d = 0; d < 4; ++d) {
      std::set<int> strata;
      for (const auto& point : p) {
        ASSERT_EQ(point.size(), 4u);
        ASSERT_GE(point[d], 0.0);
        ASSERT_LT(point[d], 1.0);
        strata.insert(static_cast<int>(std::floor(point[d] * n)));
      }
      EXPECT_EQ(strata.size(), static_cast<std::size_t>(n)) << "n " << n << " dim " << d;
      EXPECT_EQ(*strata.begin(), 0);
      EXPECT_EQ(*strata.rbegin(), n - 1);
    }
  }
}

TEST(SweepDesign, LatinHypercubeIsReproducibleForASeed) {
  EXPECT_EQ(latin_hypercube(16, 3, 7), latin_hypercube(16, 3, 7));
  EXPECT_NE(latin_hypercube(16, 3, 7), latin_hypercube(16, 3, 8));
}

TEST(SweepDesign, SobolMatchesTheJoeKuoSequence) {
  // The first points after the origin, dimensions 1 and 2 (Joe & Kuo's published table).
  const std::vector<std::vector<double>> expected{{0.5, 0.5},     {0.75, 0.25},   {0.25, 0.75},
                                                  {0.375, 0.375}, {0.875, 0.875}, {0.625, 0.125},
                                                  {0.125, 0.625}};
  EXPECT_EQ(sobol_points(7, 2), expected);
  // Skipping more points continues the same sequence.
  const auto skipped = sobol_points(3, 2, 3);
  EXPECT_EQ(skipped[0], expected[2]);
  // 10 dimensions: every coordinate of the first 2^k points is a distinct multiple of 2^-k
  // (each dimension is a (0,k,1)-sequence), k = 5 including the origin.
  const auto p = sobol_points(31, 10);
  for (int d = 0; d < 10; ++d) {
    std::set<double> seen{0.0};
    for (const auto& point : p) seen.insert(point[d]);
    EXPECT_EQ(seen.size(), 32u) << "dimension " << d;
    for (double v : seen) EXPECT_EQ(v * 32, std::floor(v * 32));
  }
  EXPECT_THROW(sobol_points(4, 11), std::invalid_argument);
}

TEST(SweepDesign, FullFactorialIsEveryCombinationFirstFactorSlowest) {
  const SweepSpec spec = parse_sweep(R"(
set: ["cell.temperature=300 K"]
factors:
  - key: cell.mechanics.stack_pressure
    values: [50 MPa, 760 MPa]
  - key: cell.cathode.contact_fraction
    values: [0.2, 0.3, 0.4]
design: full_factorial
)");
  const auto cases = generate_cases(spec);
  ASSERT_EQ(cases.size(), 6u);
  const std::vector<std::vector<std::string>> expected{{"50 MPa", "0.2"},  {"50 MPa", "0.3"},
                                                       {"50 MPa", "0.4"},  {"760 MPa", "0.2"},
                                                       {"760 MPa", "0.3"}, {"760 MPa", "0.4"}};
  for (std::size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(cases[i].index, static_cast<int>(i));
    EXPECT_EQ(cases[i].values, expected[i]);
    ASSERT_EQ(cases[i].overrides.size(), 3u);
    EXPECT_EQ(cases[i].overrides[0], "cell.temperature=300 K");
    EXPECT_EQ(cases[i].overrides[1], "cell.mechanics.stack_pressure=" + expected[i][0]);
    EXPECT_EQ(cases[i].overrides[2], "cell.cathode.contact_fraction=" + expected[i][1]);
  }
}

TEST(SweepDesign, ListZipsAndRejectsLengthMismatch) {
  const auto cases = generate_cases(parse_sweep(R"(
factors:
  - {key: cell.mechanics.stack_pressure, values: [50 MPa, 100 MPa]}
  - {key: cell.cathode.contact_fraction, values: [0.2, 0.3]}
design: list
)"));
  ASSERT_EQ(cases.size(), 2u);
  EXPECT_EQ(cases[1].values, (std::vector<std::string>{"100 MPa", "0.3"}));
  try {
    parse_sweep(R"(factors:
  - key: cell.mechanics.stack_pressure
    values: [50 MPa, 100 MPa]
  - key: cell.cathode.contact_fraction
    values: [0.2, 0.3, 0.4]
design: list
)",
                "s.yaml");
    FAIL() << "no error for lists of different lengths";
  } catch (const SweepError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("s.yaml:4:5:"), std::string::npos) << what;
    EXPECT_NE(what.find("'cell.cathode.contact_fraction' has 3 values"), std::string::npos) << what;
  }
}

TEST(SweepDesign, SampledFactorsStayInRangeWithUnits) {
  const SweepSpec spec = parse_sweep(R"(
factors:
  - {key: cell.mechanics.stack_pressure, min: 50 MPa, max: 760 MPa}
  - {key: aging.rsp.rate_constant, min: 1e-7, max: 1e-6, unit: 1/s, scale: log}
  - {key: cell.cathode.contact_fraction, values: [0.2, 0.3]}
design: {type: latin_hypercube, n_samples: 8, seed: 3}
)");
  const auto cases = generate_cases(spec);
  ASSERT_EQ(cases.size(), 8u);
  std::set<std::string> fractions;
  for (const auto& c : cases) {
    ASSERT_EQ(c.values.size(), 3u);
    EXPECT_NE(c.values[0].find(" MPa"), std::string::npos) << c.values[0];
    const double p = value_in_si(c.values[0]);
    EXPECT_GE(p, 50e6);
    EXPECT_LE(p, 760e6);
    EXPECT_NE(c.values[1].find(" 1/s"), std::string::npos) << c.values[1];
    const double k = value_in_si(c.values[1]);
    EXPECT_GE(k, 1e-7 * (1 - 1e-12));
    EXPECT_LE(k, 1e-6 * (1 + 1e-12));
    fractions.insert(c.values[2]);
  }
  EXPECT_EQ(fractions.size(), 2u);  // 8 strata over 2 values: both used
  EXPECT_DOUBLE_EQ(value_in_si("50 MPa"), 50e6);
  EXPECT_TRUE(std::isnan(value_in_si("dispersed")));
}

TEST(SweepDesign, BadSweepFilesAreLocated) {
  auto expect_error = [](const std::string& text, const std::string& part) {
    try {
      parse_sweep(text, "s.yaml");
      ADD_FAILURE() << "no error for:\n" << text;
    } catch (const SweepError& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  expect_error("factors: []\ndesign: list\n", "'factors'");
  expect_error("factors:\n  - {key: a.b, values: [1]}\ndesign: grid\n",
               "s.yaml:3:9: unknown design 'grid'");
  expect_error("factors:\n  - {key: a.b, min: 1, max: 2}\ndesign: list\n",
               "needs explicit 'values'");
  expect_error(
      "factors:\n  - {key: a.b, min: 1, max: 2}\ndesign: {type: latin_hypercube, n_samples: 4}\n",
      "needs a seed");
  expect_error("factors:\n  - {key: a.b, min: 2, max: 1}\ndesign: {type: sobol, n_samples: 4}\n",
               "min must be below max");
  expect_error(
      "factors:\n  - {key: a.b, min: 1 MPa, max: 2 um}\ndesign: {type: sobol, n_samples: 4}\n",
      "cannot be converted");
  expect_error("factor:\n  - {key: a.b, values: [1]}\ndesign: list\n",
               "s.yaml:1:1: unknown key 'factor'");
}

// ---- the halite binary --------------------------------------------------------------------------

class SweepCli : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "halite_sweep_XXXXXX").string();
    dir_ = ::mkdtemp(pattern.data());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(dir_ / name) << text;
    return path(name);
  }
  // `environment`: "NAME=value " assignments put before the command.
  Outcome halite(const std::vector<std::string>& args, const std::string& environment = "") const {
    return run_halite(dir_, args, environment);
  }
  std::filesystem::path dir_;
};

TEST_F(SweepCli, BadFactorKeyFailsBeforeAnyRun) {
  const std::string sweep = write("bad.yaml", R"(factors:
  - key: cell.mechanics.stack_pressure
    values: [50 MPa, 100 MPa]
  - key: cell.mechanics.stack_presure
    values: [1 MPa, 2 MPa]
design: list
)");
  const Outcome r = halite({"sweep", sweep, "-o", path("out.h5")});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("bad.yaml:4:5: factor 'cell.mechanics.stack_presure'"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("did you mean 'stack_pressure'"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(path("out.h5")));

  // A value out of range is caught the same way; so is a missing sweep file.
  write("range.yaml",
        "factors:\n  - {key: cell.cathode.contact_fraction, values: [0.3, 7]}\ndesign: list\n");
  const Outcome range = halite({"sweep", path("range.yaml"), "-o", path("out.h5")});
  EXPECT_EQ(range.exit_code, 2);
  EXPECT_NE(
      range.err.find("range.yaml:2:5: factor 'cell.cathode.contact_fraction' (case 1, value '7')"),
      std::string::npos)
      << range.err;
  const Outcome missing = halite({"sweep", path("nope.yaml")});
  EXPECT_EQ(missing.exit_code, 2) << missing.err;
}

// Three cases, two cycles: the first two share a batch, the third (a vanishing NMC exchange
// current: the solver cannot start the first charge) fails alone or beside them, and the others
// finish with the capacities of single runs.
TEST_F(SweepCli, EndToEndMatchesSingleRunsAndRecordsFailures) {
  const std::vector<std::vector<std::string>> sets{
      {"cell.mechanics.stack_pressure=760 MPa", "aging.rsp.rate_constant=5.4e-7 1/s"},
      {"cell.mechanics.stack_pressure=300 MPa", "aging.rsp.rate_constant=2e-6 1/s"},
      {"cell.mechanics.stack_pressure=760 MPa", "aging.rsp.rate_constant=5.4e-7 1/s",
       "cell.nmc.exchange_current_mid=1e-6 A/m2"}};
  const std::string sweep = write("sweep.yaml", R"(name: three cases
factors:
  - key: cell.mechanics.stack_pressure
    values: ["760 MPa", "300 MPa", "760 MPa"]
  - key: aging.rsp.rate_constant
    values: ["5.4e-7 1/s", "2e-6 1/s", "5.4e-7 1/s"]
  - key: cell.nmc.exchange_current_mid
    values: ["1 A/m2", "1 A/m2", "1e-6 A/m2"]
design: list
)");
  std::vector<std::vector<double>> single;
  for (std::size_t i = 0; i < 2; ++i) {
    std::vector<std::string> args{"run", "-q", "--cycles",
                                  "2",   "-o", path("single" + std::to_string(i) + ".h5")};
    for (const auto& s : sets[i]) {
      args.push_back("--set");
      args.push_back(s);
    }
    const Outcome r = halite(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    single.push_back(read_cycle_column(path("single" + std::to_string(i) + ".h5"),
                                       "Discharge capacity [mA.h.g-1]")
                         .at(0));
    ASSERT_EQ(single.back().size(), 2u);
  }
  for (const std::string threads : {"2", "1"}) {
    const std::string out = path("sweep" + threads + ".h5");
    const Outcome r = halite({"sweep", sweep, "-o", out, "--cycles", "2", "--threads", threads});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const auto discharge = read_cycle_column(out, "Discharge capacity [mA.h.g-1]");
    ASSERT_EQ(discharge.size(), 3u);
    for (int i = 0; i < 2; ++i) {
      ASSERT_EQ(discharge[i].size(), 2u);
      for (int c = 0; c < 2; ++c)
        EXPECT_NEAR(discharge[i][c], single[i][c], 1e-4 * single[i][c])
            << "threads " << threads << " case " << i << " cycle " << c + 1;
    }
    const auto status = read_string_dataset(out, "/cases/status");
    EXPECT_EQ(status, (std::vector<std::string>{"completed", "completed", "failed"}));
    EXPECT_EQ(read_string_dataset(out, "/cells/status"), status);
    const auto reason = read_string_dataset(out, "/cases/failure reason");
    EXPECT_EQ(reason[0], "");
    EXPECT_NE(reason[2].find("failed"), std::string::npos) << reason[2];
    EXPECT_EQ(read_array(out, "/cases/index").values, (std::vector<double>{0, 1, 2}));
    EXPECT_EQ(read_string_dataset(out, "/cases/cell.mechanics.stack_pressure"),
              (std::vector<std::string>{"760 MPa", "300 MPa", "760 MPa"}));
    EXPECT_EQ(read_array(out, "/cases/cell.mechanics.stack_pressure [SI]").values,
              (std::vector<double>{760e6, 300e6, 760e6}));
    EXPECT_EQ(read_string_attribute(out, "/cases/aging.rsp.rate_constant [SI]", "units"), "1/s");
    EXPECT_EQ(read_string_attribute(out, "/", "sweep_design"), "list");
    EXPECT_EQ(read_string_attribute(out, "/", "sweep_yaml"), read_text(sweep));
  }
  // Never overwrites without --overwrite.
  const Outcome again = halite({"sweep", sweep, "-o", path("sweep1.h5"), "--cycles", "1"});
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.err.find("sweep1.h5"), std::string::npos) << again.err;
}

// Similarity order puts cases 1 and 3 (300, 350 MPa) and 0 and 2 (700, 760 MPa) together: batches
// whose rows are not contiguous in the file. Each case's results do not depend on its partner.
TEST_F(SweepCli, SimilarBatchesOfScatteredCasesMatchDesignOrder) {
  const std::string sweep = write("four.yaml", R"(factors:
  - key: cell.mechanics.stack_pressure
    values: [760 MPa, 300 MPa, 700 MPa, 350 MPa]
design: list
)");
  std::map<std::string, std::vector<std::vector<double>>> discharge;
  for (const std::string order : {"similar", "design"}) {
    const std::string out = path(order + ".h5");
    const Outcome r = halite({"sweep", sweep, "-o", out, "--cycles", "2", "--batch-size", "2",
                              "--batch-order", order, "-q"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(read_string_dataset(out, "/cases/status"), std::vector<std::string>(4, "completed"));
    discharge[order] = read_cycle_column(out, "Discharge capacity [mA.h.g-1]");
  }
  for (int i = 0; i < 4; ++i)
    for (int c = 0; c < 2; ++c)
      EXPECT_NEAR(discharge["similar"][i][c], discharge["design"][i][c],
                  1e-4 * discharge["design"][i][c])
          << "case " << i << " cycle " << c + 1;
  const Outcome bad = halite({"sweep", sweep, "-o", path("bad.h5"), "--batch-order", "random"});
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
}

// The 256-case study of docs/performance.md: every case is a valid configuration, the design
// is a Latin hypercube (each of the 256 strata of every factor hit once), and on the cuda
// backend the cases form one batch.
TEST(SweepDesign, ShippedLhs256StudyResolvesIntoOneGpuBatch) {
  const SweepSpec spec = load_sweep(std::string(HALITE_SOURCE_DIR) + "/configs/sweep_lhs256.yaml");
  ASSERT_EQ(spec.design, SweepDesign::kLatinHypercube);
  const auto cases = generate_cases(spec);
  ASSERT_EQ(cases.size(), 256u);
  const auto configs = resolve_cases(spec, cases);
  ASSERT_EQ(configs.size(), 256u);
  std::set<int> strata;
  for (const auto& c : cases) {
    const double p = value_in_si(c.values[1]);  // stack pressure, 200..760 MPa
    strata.insert(static_cast<int>((p - 200e6) / (560e6 / 256)));
  }
  EXPECT_EQ(strata.size(), 256u);
  SweepOptions options;
  options.backend = Backend::kCuda;
  options.threads = 16;
  EXPECT_EQ(plan_batches(configs, options, &cases).size(), 1u);
}

TEST_F(SweepCli, ShippedExampleParsesAndResolves) {
  const SweepSpec spec = load_sweep(std::string(HALITE_SOURCE_DIR) + "/configs/sweep_example.yaml");
  EXPECT_EQ(spec.design, SweepDesign::kLatinHypercube);
  const auto cases = generate_cases(spec);
  EXPECT_EQ(cases.size(), 8u);
  EXPECT_EQ(resolve_cases(spec, cases).size(), 8u);
}

// halite sweep --dry-run (issue 15, operations): the cases with their factor values and the
// batches plan_batches makes for the same options, nothing computed, no file written; with
// --resume it is refused.
TEST_F(SweepCli, DryRunPrintsTheCasesAndTheirBatchesAndWritesNothing) {
  const std::string sweep_path = std::string(HALITE_SOURCE_DIR) + "/configs/sweep_example.yaml";
  const Outcome r =
      halite({"sweep", sweep_path, "--dry-run", "--threads", "2", "-o", path("out.h5")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(std::filesystem::exists(path("out.h5")));
  EXPECT_FALSE(std::filesystem::exists(path("out.h5.lock")));
  const SweepSpec spec = load_sweep(sweep_path);
  const auto cases = generate_cases(spec);
  const auto configs = resolve_cases(spec, cases);
  EXPECT_NE(r.out.find("8 case(s) (latin_hypercube design)"), std::string::npos) << r.out;
  for (const auto& c : cases) {
    std::string row = "| " + std::to_string(c.index) + " |";
    for (const auto& value : c.values) row += " " + value + " |";
    EXPECT_NE(r.out.find(row + "\n"), std::string::npos) << row << "\n" << r.out;
  }
  SweepOptions options;
  options.threads = 2;
  options.backend = Backend::kAuto;  // the CLI's default: the CPU for batches of one case
  const auto plan = plan_batches(configs, options, &cases);
  for (std::size_t b = 0; b < plan.size(); ++b) {
    std::string line = "  batch " + std::to_string(b) + " (cpu):";
    for (int i : plan[b]) line += " " + std::to_string(i);
    EXPECT_NE(r.out.find(line + "\n"), std::string::npos) << line << "\n" << r.out;
  }
  const Outcome refused = halite({"sweep", sweep_path, "--dry-run", "--resume", path("out.h5")});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_NE(refused.err.find("--dry-run"), std::string::npos) << refused.err;
}

// ---- backends
// ------------------------------------------------------------------------------------

// Whether the halite binary was built with the CUDA backend (`halite --version` lists it).
bool binary_has_cuda() {
  std::string text;
  if (FILE* pipe = ::popen((shell_quoted(HALITE_BINARY) + " --version").c_str(), "r")) {
    char buffer[256];
    while (std::fgets(buffer, sizeof buffer, pipe)) text += buffer;
    ::pclose(pipe);
  }
  EXPECT_NE(text.find("backends: cpu"), std::string::npos) << text;
  return text.find("cuda") != std::string::npos;
}

const char* kTwoCases = R"(factors:
  - key: cell.mechanics.stack_pressure
    values: [760 MPa, 300 MPa]
design: list
)";

TEST_F(SweepCli, UnknownOrUnavailableBackendExitsTwoBeforeAnyFile) {
  const std::string sweep = write("two.yaml", kTwoCases);
  const Outcome unknown = halite({"sweep", sweep, "-o", path("foo.h5"), "--backend", "foo"});
  EXPECT_EQ(unknown.exit_code, 2) << unknown.err;
  EXPECT_NE(unknown.err.find("halite sweep: --backend foo: unknown backend 'foo' (allowed: cpu, "
                             "cuda, auto)"),
            std::string::npos)
      << unknown.err;
  EXPECT_FALSE(std::filesystem::exists(path("foo.h5")));

  // Built with CUDA on a machine without a GPU, the refusal names the CUDA runtime's answer;
  // with a GPU the sweep runs on it.
  const bool built_with_cuda = binary_has_cuda();
  const Outcome cuda =
      halite({"sweep", sweep, "-o", path("cuda.h5"), "--backend", "cuda", "--cycles", "1"});
  if (built_with_cuda && cuda.exit_code == 0) {
    EXPECT_EQ(read_string_attribute(path("cuda.h5"), "/", "backend"), "cuda");
    return;
  }
  EXPECT_EQ(cuda.exit_code, 2) << cuda.err;
  EXPECT_EQ(cuda.err.rfind("halite sweep: --backend cuda: ", 0), 0u) << cuda.err;
  EXPECT_NE(cuda.err.find(built_with_cuda ? "no CUDA device" : "built without CUDA"),
            std::string::npos)
      << cuda.err;
  EXPECT_EQ(std::count(cuda.err.begin(), cuda.err.end(), '\n'), 1) << cuda.err;  // one line
  EXPECT_FALSE(std::filesystem::exists(path("cuda.h5")));
}

TEST(SweepPlan, BatchSizeDefaultsDependOnTheBackend) {
  const RunConfig reference = load_config("");
  const std::vector<RunConfig> five(5, reference);
  SweepOptions options;
  EXPECT_EQ(plan_batches(five, options),
            (std::vector<std::vector<int>>{{0}, {1}, {2}, {3}, {4}}));  // cpu: one case each
  options.backend = Backend::kCuda;
  EXPECT_EQ(plan_batches(five, options), (std::vector<std::vector<int>>{{0, 1, 2, 3, 4}}));
  options.batch_size = 0;  // one batch per thread
  options.threads = 2;
  EXPECT_EQ(plan_batches(five, options), (std::vector<std::vector<int>>{{0, 1, 2}, {3, 4}}));
  options.batch_size = 2;
  EXPECT_EQ(plan_batches(five, options), (std::vector<std::vector<int>>{{0, 1}, {2, 3}, {4}}));

  // Incompatible cases (another solver section) go to other batches, in case order.
  std::vector<RunConfig> mixed = five;
  for (int i : {1, 3}) mixed[i] = load_config("", {"solver.relative_tolerance=1e-7"});
  options.batch_size = -1;
  EXPECT_EQ(plan_batches(mixed, options), (std::vector<std::vector<int>>{{0, 2, 4}, {1, 3}}));

  // The default cuda batch is capped: 8193 compatible cases make two batches.
  RunConfig light = reference;
  light.resolved_yaml.clear();  // (only compared between cases here; keeps the copies small)
  const std::vector<RunConfig> many(kMaxCudaBatch + 1, light);
  const auto batches = plan_batches(many, options);
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0].size(), 4097u);
  EXPECT_EQ(batches[1].size(), 4096u);
  EXPECT_EQ(batches[1].front(), 4097);
  EXPECT_EQ(batches[1].back(), kMaxCudaBatch);
}

// Batches hold neighbouring designs: a 4 x 4 full factorial in design order (first factor
// slowest) cut into batches of 4 gives rows (the second factor spans its whole range in every
// batch); in similarity order every batch is a 2 x 2 block of neighbours.
TEST(SweepPlan, SimilarCasesShareABatch) {
  RunConfig light = load_config("");
  light.resolved_yaml.clear();
  const std::vector<RunConfig> configs(16, light);
  std::vector<SweepCase> cases;
  const std::vector<std::string> pressures = {"50 MPa", "200 MPa", "400 MPa", "760 MPa"};
  const std::vector<std::string> rates = {"2e-7 1/s", "4e-7 1/s", "8e-7 1/s", "1.5e-6 1/s"};
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      SweepCase c;
      c.index = static_cast<int>(cases.size());
      c.values = {pressures[i], rates[j]};
      cases.push_back(c);
    }
  auto spans = [&](const std::vector<int>& batch) {  // index range of each factor in a batch
    int lo_i = 4, hi_i = -1, lo_j = 4, hi_j = -1;
    for (int k : batch) {
      lo_i = std::min(lo_i, k / 4), hi_i = std::max(hi_i, k / 4);
      lo_j = std::min(lo_j, k % 4), hi_j = std::max(hi_j, k % 4);
    }
    return std::pair{hi_i - lo_i, hi_j - lo_j};
  };
  SweepOptions options;
  options.batch_size = 4;
  options.similar_batches = false;
  for (const auto& batch : plan_batches(configs, options, &cases))
    EXPECT_EQ(spans(batch), (std::pair{0, 3}));
  options.similar_batches = true;
  const auto similar = plan_batches(configs, options, &cases);
  ASSERT_EQ(similar.size(), 4u);
  std::vector<int> all;
  for (const auto& batch : similar) {
    EXPECT_EQ(spans(batch), (std::pair{1, 1})) << "a batch is not a 2 x 2 block";
    all.insert(all.end(), batch.begin(), batch.end());
  }
  std::sort(all.begin(), all.end());
  for (int k = 0; k < 16; ++k) EXPECT_EQ(all[k], k);  // every case exactly once
}

// The cuda default splits a large group into one batch per thread, each of at least
// kMinCudaGroup cases, and never more than kMaxCudaBatch per batch.
TEST(SweepPlan, CudaDefaultGroupsLargeSweepsOverThreads) {
  RunConfig light = load_config("");
  light.resolved_yaml.clear();
  SweepOptions options;
  options.backend = Backend::kCuda;
  options.threads = 16;
  EXPECT_EQ(plan_batches(std::vector<RunConfig>(256, light), options).size(), 1u);
  EXPECT_EQ(plan_batches(std::vector<RunConfig>(4 * kMinCudaGroup, light), options).size(), 4u);
  EXPECT_EQ(plan_batches(std::vector<RunConfig>(8192, light), options).size(), 16u);
  options.threads = 1;
  EXPECT_EQ(plan_batches(std::vector<RunConfig>(8193, light), options).size(), 2u);
}

// ---- results written batch by batch ------------------------------------------------------------

// Every /cycles dataset of a result file, by name.
std::map<std::string, ArrayData> cycle_table(const std::string& file) {
  std::vector<std::string> names;
  for (const auto& c : ResultWriter::builtin_columns()) names.push_back(c.name);
  names.push_back("Step end times [s]");
  for (const auto& c : aging_column_specs()) names.push_back(c.name);
  std::map<std::string, ArrayData> table;
  for (const auto& name : names) table[name] = read_array(file, "/cycles/" + name);
  return table;
}

std::vector<double> row_of(const ArrayData& data, std::size_t row) {
  const std::size_t width = data.values.size() / data.dims.at(0);
  return {data.values.begin() + static_cast<std::ptrdiff_t>(row * width),
          data.values.begin() + static_cast<std::ptrdiff_t>((row + 1) * width)};
}

// Bit for bit, NaN equal to NaN.
bool identical(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](double x, double y) {
           return std::memcmp(&x, &y, sizeof x) == 0 || (std::isnan(x) && std::isnan(y));
         });
}

// Checks the file of an interrupted sweep against the uninterrupted one: the cases marked
// completed have every /cycles row of the reference, the others are "not run" with empty rows
// (NaN, integer columns 0). Returns the number of completed cases.
int expect_finished_cases_kept(const std::string& killed, const std::string& reference) {
  const auto status = read_string_dataset(killed, "/cases/status");
  const auto expected_status = read_string_dataset(reference, "/cases/status");
  EXPECT_EQ(status.size(), expected_status.size());
  EXPECT_EQ(read_string_dataset(killed, "/cells/status"), status);
  EXPECT_EQ(read_numeric_attribute(killed, "/cycles", "cycles_written"),
            read_numeric_attribute(reference, "/cycles", "cycles_written"));
  EXPECT_EQ(read_array(killed, "/cases/index").values,
            read_array(reference, "/cases/index").values);
  const auto table = cycle_table(killed);
  const auto expected = cycle_table(reference);
  int completed = 0;
  for (std::size_t i = 0; i < status.size() && i < expected_status.size(); ++i) {
    if (status[i] == "completed") {
      ++completed;
      EXPECT_EQ(expected_status[i], "completed");
      for (const auto& [name, data] : table)
        EXPECT_TRUE(identical(row_of(data, i), row_of(expected.at(name), i)))
            << "case " << i << ": " << name;
    } else {
      EXPECT_EQ(status[i], "not run") << "case " << i;
      EXPECT_EQ(read_string_dataset(killed, "/cases/failure reason").at(i), "");
      for (const auto& [name, data] : table) {
        const auto row = row_of(data, i);
        const bool integer = name == "Cycle number" || name == "Simulated" || name == "Failed" ||
                             name == "IDA steps" || name == "Residual evaluations" ||
                             name == "Jacobian evaluations" || name == "Nonlinear iterations" ||
                             name == "Error test failures" ||
                             name == "Nonlinear convergence failures";
        for (double v : row) {
          if (integer)
            EXPECT_EQ(v, 0.0) << "case " << i << ": " << name;
          else
            EXPECT_TRUE(std::isnan(v)) << "case " << i << ": " << name << " = " << v;
        }
      }
    }
  }
  return completed;
}

const char* kFiveCases = R"(name: five pressures
factors:
  - key: cell.mechanics.stack_pressure
    values: [760 MPa, 300 MPa, 100 MPa, 500 MPa, 50 MPa]
  - key: aging.rsp.rate_constant
    values: [5.4e-7 1/s, 2e-6 1/s, 1e-6 1/s, 3e-6 1/s, 2e-5 1/s]
design: list
)";

// The test hook ends the process like a crash right after the N-th batch is in the file.
TEST_F(SweepCli, InterruptedSweepKeepsEveryFinishedCase) {
  const std::string sweep = write("five.yaml", kFiveCases);
  struct Variant {
    std::string batch_size;
    int abort_after, completed;
  };
  for (const Variant& v : {Variant{"1", 2, 2}, Variant{"2", 1, 2}, Variant{"2", 2, 4}}) {
    SCOPED_TRACE("--batch-size " + v.batch_size + ", abort after " + std::to_string(v.abort_after));
    const std::string reference = path("reference" + v.batch_size + ".h5");
    if (!std::filesystem::exists(reference)) {
      const Outcome r = halite({"sweep", sweep, "-o", reference, "--cycles", "3", "--threads", "2",
                                "--batch-size", v.batch_size});
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    const std::string killed = path("killed.h5");
    std::filesystem::remove(killed);
    const Outcome k =
        halite({"sweep", sweep, "-o", killed, "--cycles", "3", "--threads", "1", "--batch-size",
                v.batch_size},
               "HALITE_TEST_ABORT_AFTER_BATCHES=" + std::to_string(v.abort_after) + " ");
    EXPECT_EQ(k.exit_code, 137) << k.err;
    EXPECT_NE(k.err.find("HALITE_TEST_ABORT_AFTER_BATCHES"), std::string::npos) << k.err;
    ASSERT_TRUE(std::filesystem::exists(killed));
    EXPECT_EQ(expect_finished_cases_kept(killed, reference), v.completed);
    // The /cases table and the provenance are complete from the start.
    EXPECT_EQ(read_string_dataset(killed, "/cases/cell.mechanics.stack_pressure"),
              (std::vector<std::string>{"760 MPa", "300 MPa", "100 MPa", "500 MPa", "50 MPa"}));
    EXPECT_EQ(read_string_attribute(killed, "/", "sweep_yaml"), read_text(sweep));
    EXPECT_EQ(read_string_attribute(killed, "/", "backend"), "cpu");
  }
}

// --resume runs the cases "not run" (or "running") of a sweep killed by the test hook and keeps
// the finished ones: the file ends as the uninterrupted sweep's, bit for bit.
TEST_F(SweepCli, ResumedSweepEqualsAnUninterruptedOne) {
  const std::string sweep = write("five.yaml", kFiveCases);
  struct Variant {
    std::string batch_size;
    int abort_after, done;
  };
  for (const Variant& v : {Variant{"2", 1, 2}, Variant{"1", 2, 2}}) {
    SCOPED_TRACE("--batch-size " + v.batch_size + ", abort after " + std::to_string(v.abort_after));
    const std::string reference = path("reference" + v.batch_size + ".h5");
    const Outcome r = halite({"sweep", sweep, "-o", reference, "--cycles", "3", "--threads", "2",
                              "--batch-size", v.batch_size});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const std::string killed = path("killed" + v.batch_size + ".h5");
    const Outcome k =
        halite({"sweep", sweep, "-o", killed, "--cycles", "3", "--threads", "1", "--batch-size",
                v.batch_size},
               "HALITE_TEST_ABORT_AFTER_BATCHES=" + std::to_string(v.abort_after) + " ");
    ASSERT_EQ(k.exit_code, 137) << k.err;
    ASSERT_EQ(expect_finished_cases_kept(killed, reference), v.done);

    const Outcome resumed = halite({"sweep", sweep, "--resume", killed, "--cycles", "3",
                                    "--threads", "1", "--batch-size", v.batch_size});
    ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
    EXPECT_NE(resumed.err.find(std::to_string(v.done) + " of 5 case(s) already done"),
              std::string::npos)
        << resumed.err;
    EXPECT_NE(resumed.err.find(std::to_string(5 - v.done) + " to run"), std::string::npos)
        << resumed.err;
    EXPECT_EQ(read_string_dataset(killed, "/cases/status"),
              read_string_dataset(reference, "/cases/status"));
    EXPECT_EQ(read_string_dataset(killed, "/cases/status"),
              std::vector<std::string>(5, "completed"));
    EXPECT_EQ(read_string_dataset(killed, "/cases/failure reason"),
              read_string_dataset(reference, "/cases/failure reason"));
    const auto table = cycle_table(killed);
    const auto expected = cycle_table(reference);
    for (const auto& [name, data] : table) {
      EXPECT_EQ(data.dims, expected.at(name).dims) << name;
      EXPECT_TRUE(identical(data.values, expected.at(name).values)) << name;
    }
    EXPECT_EQ(read_string_attribute(killed, "/", "backend"), "cpu");
  }
}

// --resume refuses, before touching the file, a file that does not exist or is no sweep result,
// a changed sweep file and another --cycles.
TEST_F(SweepCli, ResumeRefusesAnotherSweep) {
  const std::string sweep = write("five.yaml", kFiveCases);
  const std::string killed = path("killed.h5");
  const Outcome k = halite({"sweep", sweep, "-o", killed, "--cycles", "2", "--threads", "1"},
                           "HALITE_TEST_ABORT_AFTER_BATCHES=1 ");
  ASSERT_EQ(k.exit_code, 137) << k.err;
  const auto status = read_string_dataset(killed, "/cases/status");
  const auto table = cycle_table(killed);

  const Outcome missing = halite({"sweep", sweep, "--resume", path("nope.h5"), "--cycles", "2"});
  EXPECT_EQ(missing.exit_code, 2) << missing.err;
  EXPECT_NE(missing.err.find("cannot resume " + path("nope.h5") + ": no such file"),
            std::string::npos)
      << missing.err;
  EXPECT_FALSE(std::filesystem::exists(path("nope.h5")));

  const Outcome not_sweep = halite({"sweep", sweep, "--resume", sweep, "--cycles", "2"});
  EXPECT_EQ(not_sweep.exit_code, 2) << not_sweep.err;
  EXPECT_NE(not_sweep.err.find("not a halite sweep result"), std::string::npos) << not_sweep.err;

  std::string changed_text = kFiveCases;
  changed_text.replace(changed_text.find("500 MPa"), 7, "510 MPa");
  const std::string changed = write("changed.yaml", changed_text);
  const Outcome edited = halite({"sweep", changed, "--resume", killed, "--cycles", "2"});
  EXPECT_EQ(edited.exit_code, 2) << edited.err;
  EXPECT_NE(edited.err.find("cannot resume " + killed + ": the sweep file changed since " + killed +
                            " was written"),
            std::string::npos)
      << edited.err;
  EXPECT_NE(edited.err.find("510 MPa"), std::string::npos) << edited.err;

  const Outcome cycles = halite({"sweep", sweep, "--resume", killed, "--cycles", "3"});
  EXPECT_EQ(cycles.exit_code, 2) << cycles.err;
  EXPECT_NE(cycles.err.find("cannot resume " + killed + ": it holds 2 cycle(s) per case"),
            std::string::npos)
      << cycles.err;

  const Outcome both = halite({"sweep", sweep, "--resume", killed, "--overwrite"});
  EXPECT_EQ(both.exit_code, 2) << both.err;

  // The refused resumes left the file as it was.
  EXPECT_EQ(read_string_dataset(killed, "/cases/status"), status);
  const auto after = cycle_table(killed);
  for (const auto& [name, data] : table)
    EXPECT_TRUE(identical(data.values, after.at(name).values)) << name;
}

// A real SIGKILL, sent as soon as a reader sees two cases marked completed (so often while the
// writer is still flushing): a completed case must have its rows on disk.
TEST_F(SweepCli, SigkilledSweepKeepsEveryFinishedCase) {
  std::string values_p, values_k;
  for (int i = 0; i < 12; ++i) {
    values_p += (i ? ", " : "") + std::to_string(100 + 50 * i) + " MPa";
    values_k += (i ? ", " : "") + std::to_string(1 + i) + "e-6 1/s";
  }
  const std::string sweep = write("twelve.yaml",
                                  "factors:\n  - key: cell.mechanics.stack_pressure\n"
                                  "    values: [" +
                                      values_p +
                                      "]\n  - key: aging.rsp.rate_constant\n"
                                      "    values: [" +
                                      values_k + "]\ndesign: list\n");
  const std::vector<std::string> args{"sweep", sweep, "--cycles", "8", "--no-skip", "-q"};
  std::vector<std::string> reference_args = args;
  reference_args.insert(reference_args.end(), {"-o", path("reference.h5"), "--threads", "2"});
  const Outcome r = halite(reference_args);
  ASSERT_EQ(r.exit_code, 0) << r.err;

  // Started, then killed once two cases are marked completed in the file.
  const std::string killed = path("killed.h5");
  std::vector<std::string> argv_strings{HALITE_BINARY};
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  argv_strings.insert(argv_strings.end(), {"-o", killed, "--threads", "1"});
  const pid_t pid = halite::testing::spawn_silently(argv_strings);
  ASSERT_GT(pid, 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  int status = 0;
  bool ended = false;
  for (;;) {
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      ended = true;
      break;
    }
    try {
      const auto cases = read_string_dataset(killed, "/cases/status");
      if (std::count(cases.begin(), cases.end(), "completed") >= 2) break;
    } catch (const std::exception&) {
      // not created yet, or read in the middle of a write: try again
    }
    if (std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  if (!ended) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  ASSERT_FALSE(ended) << "the sweep ended before it could be killed";
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  const int completed = expect_finished_cases_kept(killed, path("reference.h5"));
  EXPECT_GE(completed, 2);
  EXPECT_LT(completed, 12);
}

// Issue 12, items 8 and 4 for sweeps: SIGTERM stops every batch at its next cycle boundary (exit
// 143, finished cases kept, the rest resumable), and a second writer is refused while it runs.
TEST_F(SweepCli, SigtermStopsTheSweepAndItResumes) {
  std::string values_p;
  for (int i = 0; i < 12; ++i) values_p += (i ? ", " : "") + std::to_string(100 + 50 * i) + " MPa";
  const std::string sweep = write("twelve.yaml",
                                  "factors:\n  - key: cell.mechanics.stack_pressure\n"
                                  "    values: [" +
                                      values_p + "]\ndesign: list\n");
  const std::vector<std::string> args{"sweep", sweep, "--cycles", "8", "--no-skip", "-q"};
  std::vector<std::string> reference_args = args;
  reference_args.insert(reference_args.end(), {"-o", path("reference.h5"), "--threads", "2"});
  ASSERT_EQ(halite(reference_args).exit_code, 0);

  const std::string stopped = path("stopped.h5");
  std::vector<std::string> run_args = args;
  run_args.insert(run_args.end(), {"-o", stopped, "--threads", "1"});
  pid_t pid = 0;
  int status = 0;
  const bool ended = !halite::testing::spawn_until(
      run_args,
      [&] {
        const auto cases = read_string_dataset(stopped, "/cases/status");
        return std::count(cases.begin(), cases.end(), "completed") >= 2;
      },
      &pid, &status);
  ASSERT_FALSE(ended) << "the sweep ended before it could be signalled";
  const Outcome second =
      halite({"sweep", sweep, "--cycles", "8", "-q", "--overwrite", "-o", stopped});
  EXPECT_EQ(second.exit_code, 2) << second.err;
  EXPECT_NE(second.err.find("being written by another halite"), std::string::npos) << second.err;
  ::kill(pid, SIGTERM);
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by the signal instead of stopping";
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGTERM);
  const auto cases = read_string_dataset(stopped, "/cases/status");
  const auto completed = std::count(cases.begin(), cases.end(), "completed");
  EXPECT_GE(completed, 2);
  EXPECT_LT(completed, 12);
  std::vector<std::string> resume_args = args;
  resume_args.insert(resume_args.end(), {"--resume", stopped, "--threads", "1"});
  const Outcome resumed = halite(resume_args);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(expect_finished_cases_kept(stopped, path("reference.h5")), 12);
}

// Issue 12: the run's disk margin in the sweep too. Below the margin (here: every file system,
// 2^62 bytes) every batch stops at its next cycle boundary, exit 1 with the resume command, and
// --resume finishes to the uninterrupted file.
TEST_F(SweepCli, ANearlyFullDiskStopsTheSweepAndItResumes) {
  const std::string sweep = write("four.yaml",
                                  "factors:\n  - key: cell.mechanics.stack_pressure\n"
                                  "    values: [200 MPa, 400 MPa, 600 MPa, 760 MPa]\n"
                                  "design: list\n");
  const std::vector<std::string> args{"sweep", sweep, "--cycles", "4", "--no-skip", "-q"};
  std::vector<std::string> reference_args = args;
  reference_args.insert(reference_args.end(), {"-o", path("reference.h5"), "--threads", "2"});
  ASSERT_EQ(halite(reference_args).exit_code, 0);
  const std::string stopped = path("stopped.h5");
  std::vector<std::string> run_args = args;
  run_args.insert(run_args.end(), {"-o", stopped, "--threads", "2"});
  const Outcome full = halite(run_args, "HALITE_MIN_FREE_BYTES=4611686018427387904 ");
  EXPECT_EQ(full.exit_code, 1) << full.err;
  EXPECT_NE(full.err.find("the disk is nearly full"), std::string::npos) << full.err;
  EXPECT_NE(full.err.find("--resume " + stopped), std::string::npos) << full.err;
  const auto cases = read_string_dataset(stopped, "/cases/status");
  EXPECT_EQ(std::count(cases.begin(), cases.end(), "completed"), 0);
  EXPECT_FALSE(std::filesystem::exists(stopped + ".reserve"));
  std::vector<std::string> resume_args = args;
  resume_args.insert(resume_args.end(), {"--resume", stopped, "--threads", "2"});
  const Outcome resumed = halite(resume_args);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(expect_finished_cases_kept(stopped, path("reference.h5")), 4);
}

// Issue 12 item 9 in sweeps: a case whose mesh is coarser than the converged default is named in
// a warning (the mesh may be a factor); the sweep goes on.
TEST_F(SweepCli, AMeshCoarserThanTheConvergedDefaultIsAWarning) {
  const std::string sweep = write("meshes.yaml",
                                  "factors:\n  - key: mesh.radial_shells\n"
                                  "    values: [20, 6, 4]\n"
                                  "design: list\n");
  const Outcome out = halite({"sweep", sweep, "--cycles", "1", "-q", "-o", path("meshes.h5")});
  EXPECT_EQ(out.exit_code, 0) << out.err;
  EXPECT_NE(out.err.find("warning: 2 of 3 case(s), the first case 1: the mesh (8 cathode nodes x "
                         "6 radial shells) is coarser than the default 8 x 20"),
            std::string::npos)
      << out.err;
  const std::string converged = write("converged.yaml",
                                      "factors:\n  - key: mesh.radial_shells\n"
                                      "    values: [20, 24]\n"
                                      "design: list\n");
  const Outcome fine = halite({"sweep", converged, "--cycles", "1", "-q", "-o", path("fine.h5")});
  EXPECT_EQ(fine.exit_code, 0) << fine.err;
  EXPECT_EQ(fine.err.find("warning"), std::string::npos) << fine.err;
}

// Groups of compatible cases that interleave (rows of a batch not contiguous) and a batch
// written in many blocks of cycles give the same file as one write per batch.
TEST(SweepRun, BlocksOfCyclesAndInterleavedBatchesWriteTheSameRows) {
  const SweepSpec spec = parse_sweep(R"(factors:
  - key: cell.mechanics.stack_pressure
    values: [760 MPa, 300 MPa, 100 MPa, 500 MPa]
  - key: solver.relative_tolerance
    values: [1e-6, 1e-7, 1e-6, 1e-7]
design: list
)");
  const auto cases = generate_cases(spec);
  const auto configs = resolve_cases(spec, cases);
  std::string pattern = (std::filesystem::temp_directory_path() / "halite_sweep_XXXXXX").string();
  const std::filesystem::path dir = ::mkdtemp(pattern.data());
  SweepOptions options;
  options.max_cycles = 3;
  options.threads = 1;
  options.batch_size = 0;  // one batch per group: {0, 2} and {1, 3}
  options.quiet = true;
  ASSERT_EQ(plan_batches(configs, options), (std::vector<std::vector<int>>{{0, 2}, {1, 3}}));
  options.output = (dir / "whole.h5").string();
  ASSERT_EQ(run_sweep(spec, cases, configs, options), 0);
  options.output = (dir / "blocks.h5").string();
  options.block_records = 2;  // one cycle of the two cases at a time
  ASSERT_EQ(run_sweep(spec, cases, configs, options), 0);
  const auto whole = cycle_table((dir / "whole.h5").string());
  const auto blocks = cycle_table((dir / "blocks.h5").string());
  for (const auto& [name, data] : whole) {
    EXPECT_EQ(data.dims, blocks.at(name).dims) << name;
    EXPECT_TRUE(identical(data.values, blocks.at(name).values)) << name;
  }
  const auto discharge =
      read_cycle_column((dir / "whole.h5").string(), "Discharge capacity [mA.h.g-1]");
  for (const auto& row : discharge)
    for (double q : row) EXPECT_GT(q, 100.0);
  EXPECT_EQ(read_string_dataset((dir / "blocks.h5").string(), "/cases/status"),
            std::vector<std::string>(4, "completed"));
  std::filesystem::remove_all(dir);
}

}  // namespace

// A self-referencing alias in a sweep file (here as a factor's values) is a located error, not a
// stack overflow.
TEST(SweepDesign, SelfReferencingAliasIsAnError) {
  try {
    parse_sweep(
        "factors:\n  - key: cell.mechanics.stack_pressure\n    values: &v [*v]\n"
        "design: list\n",
        "r.yaml");
    FAIL() << "no error for a self-referencing alias";
  } catch (const SweepError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("r.yaml:3:"), std::string::npos) << what;
    EXPECT_NE(what.find("an alias refers to a node that contains it"), std::string::npos) << what;
  }
}

// yaml-cpp 0.7 hangs on a document root that is a flow value followed by a comma (found by
// tests/fuzz/fuzz_set): a sweep file like that is a located error.
TEST(SweepDesign, ACommaAfterATopLevelFlowValueIsAnErrorNotAHang) {
  try {
    parse_sweep("{factors: [], design: list},\n", "c.yaml");
    FAIL() << "no error";
  } catch (const SweepError& e) {
    EXPECT_EQ(e.file, "c.yaml");
    EXPECT_EQ(e.line, 1);
    EXPECT_EQ(e.column, 28);
    EXPECT_NE(std::string(e.what()).find("a ',' at the top level"), std::string::npos) << e.what();
  }
}

// Issue 12 item 6: LHS n_samples 1e6 printed nothing for 300 s (1e7: bad_alloc), and the size of
// a full factorial was an overflowing product. At most kMaxSweepCases cases, checked first.
TEST(SweepDesign, TooManyCasesAreRefusedBeforeAnyIsMade) {
  try {
    parse_sweep(
        "factors:\n  - key: cell.mechanics.stack_pressure\n    min: 100 MPa\n    max: 900 MPa\n"
        "design:\n  type: latin_hypercube\n  n_samples: 1000000\n",
        "lhs.yaml");
    ADD_FAILURE() << "no error for a million samples";
  } catch (const SweepError& e) {
    EXPECT_EQ(e.line, 7) << e.what();
    EXPECT_NE(std::string(e.what()).find("at most 100000 cases"), std::string::npos) << e.what();
  }
  std::string text = "factors:\n";
  for (int k = 0; k < 40; ++k)  // 10^40 cases: the product overflowed 64 bits
    text += "  - key: protocol.blocks[" + std::to_string(k) +
            "].repeat\n    values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n";
  text += "design: full_factorial\n";
  try {
    generate_cases(parse_sweep(text, "ff.yaml"));
    ADD_FAILURE() << "no error for 10^40 cases";
  } catch (const SweepError& e) {
    EXPECT_NE(std::string(e.what()).find("more than 100000 cases"), std::string::npos) << e.what();
  }
  try {
    parse_sweep(std::string(17u << 20, '#'), "huge.yaml");
    ADD_FAILURE() << "no error for a 17 MiB sweep file";
  } catch (const SweepError& e) {
    EXPECT_NE(std::string(e.what()).find("larger than 16 MiB"), std::string::npos) << e.what();
  }
}

// --- halite sweep on MPI ranks (issue 15; docs/sweep.md, "On several machines") -----------------

// A sweep whose cases take a second or so on the coarse mesh, one of which fails (a vanishing
// exchange current): enough work for a rank to die in the middle of it.
const char* kMpiSweep = R"(name: mpi test
set:
  - "mesh.cathode_nodes=4"
  - "mesh.radial_shells=5"
factors:
  - key: cell.mechanics.stack_pressure
    values: ["760 MPa", "300 MPa", "500 MPa", "100 MPa", "650 MPa", "200 MPa", "400 MPa"]
  - key: cell.nmc.exchange_current_mid
    values: ["1 A/m2", "1 A/m2", "1e-6 A/m2", "1 A/m2", "1 A/m2", "1 A/m2", "1 A/m2"]
design: list
)";

// Every case of `file` that is done (completed or failed) has the status, failure reason and every
// /cycles row of `reference`, bit for bit. Returns how many are done.
int expect_done_cases_identical(const std::string& file, const std::string& reference) {
  const auto status = read_string_dataset(file, "/cases/status");
  const auto expected_status = read_string_dataset(reference, "/cases/status");
  const auto reason = read_string_dataset(file, "/cases/failure reason");
  const auto expected_reason = read_string_dataset(reference, "/cases/failure reason");
  const auto table = cycle_table(file), expected = cycle_table(reference);
  EXPECT_EQ(status.size(), expected_status.size());
  int done = 0;
  for (std::size_t i = 0; i < status.size() && i < expected_status.size(); ++i) {
    if (status[i] != "completed" && status[i] != "failed") continue;
    ++done;
    EXPECT_EQ(status[i], expected_status[i]) << "case " << i;
    EXPECT_EQ(reason.at(i), expected_reason.at(i)) << "case " << i;
    for (const auto& [name, data] : table)
      EXPECT_TRUE(identical(row_of(data, i), row_of(expected.at(name), i)))
          << "case " << i << ": " << name;
  }
  return done;
}

class SweepMpi : public SweepCli {
 protected:
  void SetUp() override {
    SweepCli::SetUp();
    if (halite({"--version"}).out.find("MPI") == std::string::npos)
      GTEST_SKIP() << "this halite was built without MPI";
    if (std::system("command -v mpirun >/dev/null 2>&1") != 0) GTEST_SKIP() << "no mpirun";
  }
  // mpirun -n RANKS halite ARGS, bounded by `timeout` (a hung job fails the test with 124);
  // Open MPI may run as root in CI, and oversubscribes the 2-core machine.
  Outcome mpirun(int ranks, const std::vector<std::string>& args,
                 const std::string& environment = "") const {
    std::string launcher = environment +
                           "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 "
                           "timeout 180 mpirun --oversubscribe -n " +
                           std::to_string(ranks) + " ";
    // -x passes the test hooks on to every rank
    for (const char* hook : {"HALITE_TEST_CRASH_RANK", "HALITE_TEST_CRASH_AFTER_BATCHES",
                             "HALITE_TEST_ABORT_AFTER_BATCHES"})
      if (environment.find(hook) != std::string::npos) launcher += std::string("-x ") + hook + " ";
    return halite(args, launcher);
  }
};

// Three ranks write the file of the threaded sweep: the same rows bit for bit, statuses and
// failure reasons (the failing case marked failed with its reason, the others completed).
TEST_F(SweepMpi, ThreeRanksWriteTheThreadedSweepsFile) {
  const std::string sweep = write("mpi.yaml", kMpiSweep);
  const Outcome threaded = halite({"sweep", sweep, "-o", path("threaded.h5"), "--cycles", "3"});
  ASSERT_EQ(threaded.exit_code, 0) << threaded.err;
  const Outcome ranks = mpirun(3, {"sweep", sweep, "-o", path("ranks.h5"), "--cycles", "3"});
  ASSERT_EQ(ranks.exit_code, 0) << ranks.err;
  // the work was shared (which rank took how many batches depends on the load)
  EXPECT_TRUE(ranks.err.find(" on rank 1 ") != std::string::npos ||
              ranks.err.find(" on rank 2 ") != std::string::npos)
      << ranks.err;
  EXPECT_EQ(expect_done_cases_identical(path("ranks.h5"), path("threaded.h5")), 7);
  const auto status = read_string_dataset(path("ranks.h5"), "/cases/status");
  EXPECT_EQ(status.at(2), "failed");
  EXPECT_NE(read_string_dataset(path("ranks.h5"), "/cases/failure reason").at(2).find("failed"),
            std::string::npos);
  EXPECT_EQ(read_string_dataset(path("ranks.h5"), "/cells/status"), status);
  EXPECT_EQ(read_numeric_attribute(path("ranks.h5"), "/cycles", "cycles_written"),
            read_numeric_attribute(path("threaded.h5"), "/cycles", "cycles_written"));
  EXPECT_EQ(read_string_attribute(path("ranks.h5"), "/", "backend"), "cpu");
}

// A worker rank that dies (exit 137, as after SIGKILL, after its first batch) takes the job down
// without a hang, and every case finished before is in the file bit for bit; --resume on two
// ranks finishes the sweep as the uninterrupted one.
TEST_F(SweepMpi, AKilledWorkerRankEndsTheJobWithoutAHangAndResumeFinishesIt) {
  const std::string sweep = write("mpi.yaml", kMpiSweep);
  const std::vector<std::string> slow{"--cycles", "30", "--no-skip"};  // about 1 s per case
  auto args = [&](std::vector<std::string> a) {
    a.insert(a.end(), slow.begin(), slow.end());
    return a;
  };
  const Outcome reference = halite(args({"sweep", sweep, "-o", path("ref.h5")}));
  ASSERT_EQ(reference.exit_code, 0) << reference.err;
  const Outcome killed = mpirun(3, args({"sweep", sweep, "-o", path("k.h5")}),
                                "HALITE_TEST_CRASH_RANK=1 HALITE_TEST_CRASH_AFTER_BATCHES=1 ");
  EXPECT_NE(killed.exit_code, 0) << killed.err;
  EXPECT_NE(killed.exit_code, 124) << "the job hung after a rank died:\n" << killed.err;
  EXPECT_NE(killed.err.find("HALITE_TEST_CRASH_AFTER_BATCHES"), std::string::npos) << killed.err;
  const int done_before = expect_done_cases_identical(path("k.h5"), path("ref.h5"));
  EXPECT_GE(done_before, 1);
  const Outcome resumed = mpirun(2, args({"sweep", sweep, "--resume", path("k.h5")}));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(expect_done_cases_identical(path("k.h5"), path("ref.h5")), 7);
}

// The coordinator (rank 0, the writer) dies after the second batch is in the file: the job ends
// without a hang, and --resume with another rank count (2) runs exactly the cases left (one case
// per batch: no case lost or computed twice); the file ends as the uninterrupted sweep's.
TEST_F(SweepMpi, AKilledCoordinatorThenResumeOnTwoRanksLosesAndRepeatsNoCase) {
  const std::string sweep = write("mpi.yaml", kMpiSweep);
  const Outcome reference = halite({"sweep", sweep, "-o", path("ref.h5"), "--cycles", "30"});
  ASSERT_EQ(reference.exit_code, 0) << reference.err;
  const Outcome killed = mpirun(3, {"sweep", sweep, "-o", path("k.h5"), "--cycles", "30"},
                                "HALITE_TEST_ABORT_AFTER_BATCHES=2 ");
  EXPECT_NE(killed.exit_code, 0) << killed.err;
  EXPECT_NE(killed.exit_code, 124) << "the job hung after rank 0 died:\n" << killed.err;
  // at least the two batches counted before the crash; another rank's batch may have reached
  // the file in the same moment (its rows are complete: it was written)
  const int done_before = expect_done_cases_identical(path("k.h5"), path("ref.h5"));
  EXPECT_GE(done_before, 2);
  ASSERT_LT(done_before, 7);

  const Outcome resumed = mpirun(2, {"sweep", sweep, "--resume", path("k.h5"), "--cycles", "30"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find(std::to_string(done_before) + " of 7 case(s) already done"),
            std::string::npos)
      << resumed.err;
  int batches_run = 0;
  for (std::size_t at = 0; (at = resumed.err.find("halite sweep: batch ", at)) != std::string::npos;
       ++at)
    ++batches_run;
  EXPECT_EQ(batches_run, 7 - done_before) << resumed.err;
  EXPECT_EQ(expect_done_cases_identical(path("k.h5"), path("ref.h5")), 7);
}

// The scheduler's time limit: SIGTERM to every rank (Slurm signals the tasks themselves) stops
// each at its next cycle boundary; the workers tell rank 0, which writes the statuses, says how to
// resume and exits 143; the file marks every case completed, failed, not run or running.
TEST_F(SweepMpi, SigtermStopsEveryRankAndTheFileSaysWhatIsDone) {
  const std::string sweep = write("mpi.yaml", kMpiSweep);
  const std::string ranks = "^" + std::string(HALITE_BINARY) + " sweep " + sweep;
  const std::string command =
      "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 timeout 120 mpirun "
      "--oversubscribe -n 3 " +
      shell_quoted(HALITE_BINARY) + " sweep " + shell_quoted(sweep) + " -o " +
      shell_quoted(path("t.h5")) + " --cycles 600 --no-skip 2>" + shell_quoted(path("err")) +
      " & job=$!; sleep 5; pkill -TERM -f " + shell_quoted(ranks) + "; wait $job";
  const int status = std::system(("sh -c " + shell_quoted(command)).c_str());
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  const std::string err = read_text(path("err"));
  EXPECT_EQ(code, 128 + SIGTERM) << err;
  EXPECT_NE(err.find("interrupted by SIGTERM"), std::string::npos) << err;
  EXPECT_NE(err.find("--resume " + path("t.h5")), std::string::npos) << err;
  const auto status_of = read_string_dataset(path("t.h5"), "/cases/status");
  ASSERT_EQ(status_of.size(), 7u);
  int unfinished = 0;
  for (const auto& s : status_of) {
    EXPECT_TRUE(s == "completed" || s == "failed" || s == "not run" || s == "running") << s;
    unfinished += s == "not run" || s == "running" ? 1 : 0;
  }
  EXPECT_GT(unfinished, 0) << "the sweep ended before the signal: nothing was interrupted";
}

// --dry-run under mpirun: one plan (rank 0's), nothing computed or written.
TEST_F(SweepMpi, DryRunPrintsOnePlan) {
  const std::string sweep = write("mpi.yaml", kMpiSweep);
  const Outcome r = mpirun(3, {"sweep", sweep, "--dry-run", "-o", path("d.h5")});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::size_t plans = 0;
  for (std::size_t at = 0; (at = r.out.find("halite sweep --dry-run", at)) != std::string::npos;
       ++at)
    ++plans;
  EXPECT_EQ(plans, 1u) << r.out;
  EXPECT_FALSE(std::filesystem::exists(path("d.h5")));
}

// A sweep that rank 0 refuses (its output exists) ends on every rank, exit 2, nothing computed.
TEST_F(SweepMpi, ARefusedSweepEndsEveryRank) {
  const std::string sweep = write("mpi.yaml", kMpiSweep);
  write("exists.h5", "not a sweep");
  const Outcome r = mpirun(3, {"sweep", sweep, "-o", path("exists.h5"), "--cycles", "3"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err.find("batch 1/"), std::string::npos) << r.err;
  EXPECT_EQ(read_text(path("exists.h5")), "not a sweep");
}

}  // namespace halite

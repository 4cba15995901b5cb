// Parameter sweeps (host/sweep.hpp, `halite sweep`): design generators, sweep-file validation,
// and an end-to-end sweep whose cases match single `halite run`s.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "host/result_writer.hpp"
#include "host/sweep.hpp"

namespace halite {
namespace {

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

std::string shell_quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

struct Outcome {
  int exit_code = -1;
  std::string err;
};

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
  Outcome halite(const std::vector<std::string>& args) const {
    std::string command = shell_quoted(HALITE_BINARY);
    for (const std::string& arg : args) command += " " + shell_quoted(arg);
    command += " >/dev/null 2>" + shell_quoted(path("stderr")) + " </dev/null";
    const int status = std::system(command.c_str());
    Outcome outcome;
    outcome.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    outcome.err = read_text(dir_ / "stderr");
    return outcome;
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

  // A value out of range is caught the same way; so is a bad sweep file and the CUDA backend.
  write("range.yaml",
        "factors:\n  - {key: cell.cathode.contact_fraction, values: [0.3, 7]}\ndesign: list\n");
  const Outcome range = halite({"sweep", path("range.yaml"), "-o", path("out.h5")});
  EXPECT_EQ(range.exit_code, 2);
  EXPECT_NE(
      range.err.find("range.yaml:2:5: factor 'cell.cathode.contact_fraction' (case 1, value '7')"),
      std::string::npos)
      << range.err;
  const Outcome cuda = halite({"sweep", path("range.yaml"), "--backend", "cuda"});
  EXPECT_EQ(cuda.exit_code, 2);
  EXPECT_NE(cuda.err.find("CUDA backend is not wired into sweeps yet"), std::string::npos);
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

TEST_F(SweepCli, ShippedExampleParsesAndResolves) {
  const SweepSpec spec = load_sweep(std::string(HALITE_SOURCE_DIR) + "/configs/sweep_example.yaml");
  EXPECT_EQ(spec.design, SweepDesign::kLatinHypercube);
  const auto cases = generate_cases(spec);
  EXPECT_EQ(cases.size(), 8u);
  EXPECT_EQ(resolve_cases(spec, cases).size(), 8u);
}

}  // namespace
}  // namespace halite

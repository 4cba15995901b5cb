// `halite fit`: synthetic truth — data made by halite itself with known parameters plus noise of
// a fixed seed — is fitted back from starting points off by factors 2-4 to within the reported
// 95 % intervals (Fisher and profile), and the Fisher intervals cover the truth for most noise
// seeds; an exactly trading pair is flagged; a fit killed with SIGKILL and resumed reaches the
// same optimum bit for bit; bad FIT.yaml input is located. Test mesh, eight cycles.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "host/app/result_writer.hpp"
#include "tests/halite_binary.hpp"

namespace halite {
namespace {

using halite::testing::Outcome;
using halite::testing::read_text;
using halite::testing::run_halite;

const std::vector<std::string> kTestMesh = {"--set", "mesh.radial_shells=8", "--set",
                                            "mesh.cathode_nodes=4"};
constexpr double kTrueRate = 2e-5;     // aging.rsp.rate_constant, 1/s
constexpr double kTrueInactive = 0.2;  // cell.cathode.inactive_fraction
constexpr double kNoise = 0.2;         // mAh/g, also the band (one standard deviation)
const int kCycles[] = {1, 2, 4, 6, 8};

class Fit : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(dir_ / name) << text;
    return path(name);
  }
  Outcome halite(std::vector<std::string> args) const {
    args.insert(args.end(), kTestMesh.begin(), kTestMesh.end());
    return run_halite(dir_, args);
  }
  // The true cell's discharge capacities over eight cycles (`extra`: more overrides).
  std::vector<double> truth(const std::vector<std::string>& extra = {}) const {
    std::vector<std::string> args = {
        "run",         "-q",
        "--overwrite", "--no-skip",
        "--cycles",    "8",
        "-o",          path("truth.h5"),
        "--set",       fmt::format("aging.rsp.rate_constant={} 1/s", kTrueRate),
        "--set",       fmt::format("cell.cathode.inactive_fraction={}", kTrueInactive)};
    args.insert(args.end(), extra.begin(), extra.end());
    EXPECT_EQ(halite(args).exit_code, 0);
    return read_cycle_column(path("truth.h5"), "Discharge capacity [mA.h.g-1]").at(0);
  }
  // DATA.yaml and its CSV: the capacities at kCycles with Gaussian noise of `seed`.
  std::string data(const std::vector<double>& q, unsigned seed, const std::string& name) const {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> noise(0.0, kNoise);
    std::string csv = "cycle,capacity\n";
    for (int c : kCycles)
      csv += fmt::format("{},{:.9f}\n", c, q[static_cast<std::size_t>(c - 1)] + noise(rng));
    write(name + ".csv", csv);
    return write(name + "_data.yaml",
                 fmt::format("datasets:\n  - name: fade\n    file: {}.csv\n    type: cycles\n"
                             "    columns:\n      capacity: {{quantity: discharge_capacity, "
                             "unit: mAh/g, band: {} mAh/g}}\n    protocol:\n      blocks:\n"
                             "        - repeat: 8\n          steps: [Charge at 1C until 4.3 V, "
                             "Hold at 4.3 V for 15 minutes, Discharge at 1C until 2.7 V]\n",
                             name, kNoise));
  }
  // FIT.yaml for the two parameters, starting 4x and 2x off the truth.
  std::string fit_file(const std::string& name, const std::string& data_file, bool profiles) const {
    return write(name + ".yaml",
                 fmt::format("name: synthetic truth\ndata: {}\nparameters:\n"
                             "  - {{key: aging.rsp.rate_constant, unit: 1/s, min: 1e-6, max: 1e-3, "
                             "scale: log, start: 8e-5}}\n"
                             "  - {{key: cell.cathode.inactive_fraction, min: 0, max: 0.5, "
                             "start: 0.4}}\n"
                             "optimizer: {{max_evaluations: 100, tolerance: 1e-5, profiles: {}, "
                             "profile_points: 3}}\n",
                             data_file, profiles ? "true" : "false"));
  }
  std::vector<double> array(const std::string& file, const std::string& dataset) const {
    return read_array(file, dataset).values;
  }
  halite::testing::ScratchDirectory scratch_{"halite_fit"};
  const std::filesystem::path& dir_ = scratch_.path();
};

TEST_F(Fit, SyntheticTruthIsFittedBackWithinItsIntervals) {
  const std::string fit = fit_file("fit", data(truth(), 1, "noisy"), true);
  const Outcome out = halite({"fit", fit, "-q", "-o", path("fit.h5")});
  ASSERT_EQ(out.exit_code, 0) << out.err << out.out;
  const std::string h5 = path("fit.h5");
  const auto best = array(h5, "/fit/parameters/best");
  const auto fisher_low = array(h5, "/fit/parameters/fisher_low");
  const auto fisher_high = array(h5, "/fit/parameters/fisher_high");
  const auto profile_low = array(h5, "/fit/parameters/profile_low");
  const auto profile_high = array(h5, "/fit/parameters/profile_high");
  const double truth_values[] = {kTrueRate, kTrueInactive};
  for (int j = 0; j < 2; ++j) {
    EXPECT_LT(fisher_low[j], truth_values[j]) << j;
    EXPECT_GT(fisher_high[j], truth_values[j]) << j;
    EXPECT_LT(profile_low[j], truth_values[j]) << j;
    EXPECT_GT(profile_high[j], truth_values[j]) << j;
    EXPECT_LT(fisher_low[j], best[j]);
    EXPECT_GT(fisher_high[j], best[j]);
    // a quadratic problem: the profile and Fisher intervals agree to a few percent of their width
    EXPECT_NEAR(profile_high[j] - profile_low[j], fisher_high[j] - fisher_low[j],
                0.1 * (fisher_high[j] - fisher_low[j]));
  }
  EXPECT_NE(out.out.find("| aging.rsp.rate_constant |"), std::string::npos) << out.out;
  EXPECT_EQ(out.out.find("Warning"), std::string::npos) << out.out;
  // the best parameters as a configuration halite run accepts
  const std::string best_yaml = path("fit_best.yaml");
  const Outcome config = run_halite(dir_, {"config", best_yaml});
  ASSERT_EQ(config.exit_code, 0) << config.err;
  EXPECT_NE(config.out.find(fmt::format("inactive_fraction: {:.6}", best[1]).substr(0, 24)),
            std::string::npos)
      << config.out;
  EXPECT_TRUE(std::filesystem::exists(path("fit.md")));
}

// Ten noise seeds, Fisher intervals only: the 95 % intervals cover the truth in at least 8 of
// 10 (a binomial(10, 0.95) count below 8 has probability 1.2 %).
TEST_F(Fit, FisherIntervalsCoverTheTruthForMostNoiseSeeds) {
  const auto q = truth();
  constexpr int kSeeds = 10;
  std::vector<int> covered(kSeeds, -1);
  std::vector<std::thread> pool;
  for (int worker = 0; worker < 2; ++worker)
    pool.emplace_back([&, worker] {
      const std::filesystem::path own = dir_ / fmt::format("worker{}", worker);  // its stdout
      std::filesystem::create_directory(own);
      for (int seed = worker; seed < kSeeds; seed += 2) {
        const std::string name = fmt::format("seed{}", seed);
        const std::string fit = fit_file(name, data(q, 100 + seed, name), false);
        std::vector<std::string> args = {
            "fit", fit, "-q", "--threads", "1", "-o", path(name + ".h5")};
        args.insert(args.end(), kTestMesh.begin(), kTestMesh.end());
        if (run_halite(own, args).exit_code != 0) continue;
        const auto low = array(path(name + ".h5"), "/fit/parameters/fisher_low");
        const auto high = array(path(name + ".h5"), "/fit/parameters/fisher_high");
        covered[seed] = low[0] < kTrueRate && kTrueRate < high[0] && low[1] < kTrueInactive &&
                        kTrueInactive < high[1];
      }
    });
  for (auto& t : pool) t.join();
  int hits = 0;
  for (int seed = 0; seed < kSeeds; ++seed) {
    EXPECT_NE(covered[seed], -1) << "the fit of seed " << seed << " failed";
    hits += covered[seed] == 1;
  }
  std::printf("Fisher intervals covered the truth for %d of %d noise seeds\n", hits, kSeeds);
  EXPECT_GE(hits, 8);
}

// At one temperature only the product k_RS exp(-E_a/R (1/T - 1/T_ref)) enters: log10 k_RS and
// E_a trade off exactly, and the report says so.
TEST_F(Fit, AnExactlyTradingPairIsFlagged) {
  const std::vector<std::string> warm = {"--set", "cell.temperature=318.15 K"};
  const std::string data_file = data(truth(warm), 1, "warm");
  const std::string fit = write(
      "pair.yaml", fmt::format("data: {}\nparameters:\n"
                               "  - {{key: aging.rsp.rate_constant, unit: 1/s, min: 1e-6, max: "
                               "1e-3, scale: log, start: 4e-5}}\n"
                               "  - {{key: aging.rsp.activation_energy, unit: kJ/mol, min: 20, "
                               "max: 80, start: 40}}\n"
                               "optimizer: {{max_evaluations: 60, profiles: false}}\n",
                               data_file));
  const Outcome out =
      halite({"fit", fit, "-q", "-o", path("pair.h5"), "--set", "cell.temperature=318.15 K"});
  ASSERT_EQ(out.exit_code, 0) << out.err << out.out;
  const bool flagged = out.out.find("are correlated") != std::string::npos ||
                       out.out.find("Fisher matrix is singular") != std::string::npos;
  EXPECT_TRUE(flagged) << out.out;
  const auto warnings = read_string_dataset(path("pair.h5"), "/fit/warnings");
  EXPECT_FALSE(warnings.empty() || warnings[0].empty());
}

TEST_F(Fit, AKilledFitResumesToTheSameOptimum) {
  const std::string fit = fit_file("fit", data(truth(), 3, "noisy"), false);
  const Outcome whole = halite({"fit", fit, "-q", "-o", path("whole.h5")});
  ASSERT_EQ(whole.exit_code, 0) << whole.err;
  const std::string killed = path("killed.h5");
  std::vector<std::string> args = {"fit", fit, "-q", "-o", killed};
  args.insert(args.end(), kTestMesh.begin(), kTestMesh.end());
  pid_t pid = 0;
  int status = 0;
  const bool ended = !halite::testing::spawn_until(
      args,
      [&] {
        const std::string journal = read_text(killed + ".evaluations");
        return std::count(journal.begin(), journal.end(), '\n') >= 12;
      },
      &pid, &status);
  ASSERT_FALSE(ended) << "the fit ended before it could be killed";
  ::kill(pid, SIGKILL);
  ::waitpid(pid, &status, 0);
  EXPECT_FALSE(std::filesystem::exists(killed));  // written only at the end
  const Outcome again = halite({"fit", fit, "-q", "-o", killed});
  EXPECT_EQ(again.exit_code, 2) << "an existing journal needs --resume or --overwrite";
  const Outcome resumed = halite({"fit", fit, "-q", "--resume", "-o", killed});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  const auto a = array(path("whole.h5"), "/fit/parameters/best");
  const auto b = array(killed, "/fit/parameters/best");
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t j = 0; j < a.size(); ++j) EXPECT_EQ(a[j], b[j]) << j;  // bit for bit
  EXPECT_EQ(array(path("whole.h5"), "/fit/covariance"), array(killed, "/fit/covariance"));
}

TEST_F(Fit, BadInputIsLocated) {
  const std::string data_file = data(truth(), 1, "noisy");
  auto expect = [&](const std::string& text, int line, int column, const std::string& fragment) {
    const std::string fit = write("bad.yaml", "data: " + data_file + "\n" + text);
    const Outcome out = halite({"fit", fit, "-q", "--overwrite", "-o", path("bad.h5")});
    EXPECT_EQ(out.exit_code, 2) << out.err;
    const std::string prefix = fmt::format("{}:{}:{}: ", fit, line, column);
    EXPECT_EQ(out.err.rfind(prefix, 0), 0u) << "expected " << prefix << " in " << out.err;
    EXPECT_NE(out.err.find(fragment), std::string::npos) << out.err;
  };
  expect("parameters:\n  - {key: aging.rsp.rate_constant, min: 1e-6, max: 1e-3, scal: log}\n", 3,
         58, "unknown key 'scal'");
  expect("parameters:\n  - {key: aging.rsp.rate_constant, min: 1e-3, max: 1e-6}\n", 3, 52,
         "'max' must exceed 'min'");
  expect("parameters:\n  - {key: cell.cathode.inactive_fraction, min: 0, max: 0.5, scale: log}\n",
         3, 48, "min > 0");
  expect("parameters:\n  - {key: cell.cathode.inactive_fraction, min: 0, max: 0.5, start: 0.7}\n",
         3, 68, "within [min, max]");
  expect("paramters: []\n", 2, 1, "unknown key 'paramters'");
  // a key the configuration does not have: the config's own located error
  const std::string fit = write("key.yaml", "data: " + data_file +
                                                "\nparameters:\n  - {key: aging.rsp.rate, min: 1, "
                                                "max: 2}\n");
  const Outcome out = halite({"fit", fit, "-q", "-o", path("key.h5")});
  EXPECT_EQ(out.exit_code, 2) << out.err;
  EXPECT_NE(out.err.find("unknown key 'rate'"), std::string::npos) << out.err;
  const Outcome resume = halite({"fit", fit, "-q", "--resume", "-o", path("none.h5")});
  EXPECT_EQ(resume.exit_code, 2) << resume.err;
  EXPECT_NE(resume.err.find("no journal"), std::string::npos) << resume.err;
}

}  // namespace
}  // namespace halite

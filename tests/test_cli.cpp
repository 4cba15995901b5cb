// The halite executable: --version, --help, `config`, and exit code 2 with the error location on
// stderr for bad configs and bad arguments; `halite run` writes a readable file and never
// overwrites.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "halite/build_info.hpp"
#include "host/app/config.hpp"
#include "host/app/result_writer.hpp"
#include "tests/halite_binary.hpp"

namespace halite {
namespace {

using halite::testing::Outcome;
using halite::testing::read_text;
using halite::testing::run_halite;
using halite::testing::shell_quoted;

// Runs the halite binary in a scratch directory that also holds the test's config files.
class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "halite_cli_XXXXXX").string();
    dir_ = ::mkdtemp(pattern.data());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(dir_ / name) << text;
    return (dir_ / name).string();
  }

  Outcome halite(const std::vector<std::string>& args) const { return run_halite(dir_, args); }

  // Expects exit code 2 and `location` ("file:line:col: key '...'") on stderr.
  void expect_bad_input(const std::vector<std::string>& args, const std::string& location) const {
    const Outcome r = halite(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find(location), std::string::npos) << "stderr:\n" << r.err;
  }

  std::filesystem::path dir_;
};

TEST_F(Cli, VersionPrintsVersionAndCommit) {
  const Outcome r = halite({"--version"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find(build_info::kVersion), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(build_info::kGitCommit), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("backends: cpu"), std::string::npos) << r.out;
}

TEST_F(Cli, HelpForTheAppAndEachSubcommand) {
  const Outcome top = halite({"--help"});
  EXPECT_EQ(top.exit_code, 0);
  EXPECT_NE(top.out.find("run"), std::string::npos) << top.out;
  EXPECT_NE(top.out.find("config"), std::string::npos) << top.out;
  const Outcome run = halite({"run", "--help"});
  EXPECT_EQ(run.exit_code, 0);
  for (const char* option : {"--set", "--output", "--overwrite", "--cycles", "--quiet"}) {
    EXPECT_NE(run.out.find(option), std::string::npos) << option << "\n" << run.out;
  }
  const Outcome config = halite({"config", "--help"});
  EXPECT_EQ(config.exit_code, 0);
  EXPECT_NE(config.out.find("--set"), std::string::npos) << config.out;
}

TEST_F(Cli, ConfigPrintsTheResolvedReference) {
  const Outcome r = halite({"config"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, load_config("").resolved_yaml);
  // What it prints is itself a valid config.
  const RunConfig reloaded = load_config(write("printed.yaml", r.out));
  EXPECT_DOUBLE_EQ(reloaded.cell.stack_pressure, 760e6);
  EXPECT_EQ(reloaded.protocol.total_cycles(), 4004);
}

TEST_F(Cli, ConfigAppliesTheFileAndRepeatedSets) {
  const std::string path = write("c.yaml", "cell:\n  mechanics:\n    stack_pressure: 100 MPa\n");
  const Outcome r = halite({"config", "--set", "cell.particles[0].radius=1 um", path, "--set",
                            "cell.mechanics.young_modulus=120 GPa"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("stack_pressure: 100 MPa"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("young_modulus: 120 GPa"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("- radius: 1 um"), std::string::npos) << r.out;
}

TEST_F(Cli, EveryClassOfBadConfigExitsTwoWithItsLocation) {
  const std::string unknown = write("unknown.yaml", "cell:\n  cathode:\n    thicknes: 100 um\n");
  expect_bad_input({"config", unknown},
                   unknown +
                       ":3:5: key 'cell.cathode.thicknes': unknown key 'thicknes'; did you "
                       "mean 'thickness'?");
  const std::string unit = write("unit.yaml", "cell:\n  separator:\n    thickness: 4 V\n");
  expect_bad_input({"config", unit}, unit + ":3:16: key 'cell.separator.thickness'");
  const std::string range = write("range.yaml", "cell:\n  mechanics:\n    poisson_ratio: 0.6\n");
  expect_bad_input({"run", range}, range + ":3:20: key 'cell.mechanics.poisson_ratio'");
  const std::string type = write("type.yaml", "mesh:\n  cathode_nodes: 2.5\n");
  expect_bad_input({"config", type}, type + ":2:18: key 'mesh.cathode_nodes'");
  const std::string yaml = write("yaml.yaml", "cell:\n  anode: {open_circuit_potential: 1 V\n");
  expect_bad_input({"config", yaml}, "key 'cell.anode': malformed YAML");
  const std::string step = write("step.yaml",
                                 "protocol:\n  blocks:\n    - repeat: 1\n      steps:\n"
                                 "        - Charge at 1C untl 4.3 V\n");
  expect_bad_input({"config", step}, step + ":5:11: key 'protocol.blocks[0].steps[0]'");
  const std::string both = write("both.yaml",
                                 "cell:\n  cathode:\n    thickness: 90 um\n"
                                 "loading:\n  areal_mass: 20 mg/cm2\n");
  expect_bad_input({"config", both}, both + ":3:16: key 'cell.cathode.thickness': inconsistent");
}

TEST_F(Cli, ErrorShowsTheLineWithACaret) {
  const std::string path = write("caret.yaml", "cell:\n  cathode:\n    thicknes: 100 um\n");
  const Outcome r = halite({"config", path});
  EXPECT_NE(r.err.find("    3 |     thicknes: 100 um\n      |     ^"), std::string::npos) << r.err;
}

TEST_F(Cli, SetErrorsExitTwoAndNameSet) {
  expect_bad_input({"config", "--set", "cell.mechanics.stack_pressure=5 kg"},
                   "--set:1:31: key 'cell.mechanics.stack_pressure'");
  expect_bad_input({"run", "--set", "mesh.radial_shells=8", "--set", "cell.nmc.bogus=1"},
                   "--set:2:10: key 'cell.nmc.bogus': unknown key");
}

TEST_F(Cli, BadArgumentsExitTwo) {
  EXPECT_EQ(halite({}).exit_code, 2);
  EXPECT_EQ(halite({"fly"}).exit_code, 2);
  EXPECT_EQ(halite({"run", "--no-such-option"}).exit_code, 2);
  EXPECT_EQ(halite({"run", "--cycles", "0"}).exit_code, 2);
  EXPECT_EQ(halite({"run", "--cycles", "many"}).exit_code, 2);
  EXPECT_EQ(halite({"config", "a.yaml", "b.yaml"}).exit_code, 2);
}

TEST_F(Cli, MissingConfigFileExitsTwo) {
  const std::string missing = (dir_ / "missing.yaml").string();
  expect_bad_input({"config", missing}, missing + ": cannot open the config file");
  expect_bad_input({"run", missing}, missing + ": cannot open the config file");
}

}  // namespace
}  // namespace halite

namespace halite {
namespace {

// `halite run --cycles 3` on the embedded reference cell: exit 0, and the HDF5 file it writes
// has the documented layout (read back here; opened with h5py too when python3 has it).
TEST_F(Cli, RunThreeCyclesOfTheReferenceWritesAReadableFile) {
  const std::string out = (dir_ / "ref.h5").string();
  const Outcome r = halite({"run", "--cycles", "3", "--quiet", "--output", out});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_TRUE(std::filesystem::exists(out));
  const std::string check = write("check.py",
                                  "import sys, h5py\n"
                                  "f = h5py.File(sys.argv[1], 'r')\n"
                                  "q = f['cycles']['Discharge capacity [mA.h.g-1]'][()]\n"
                                  "assert q.shape == (1, 3), q.shape\n"
                                  "assert 100 < q[0, 0] < 140, q\n"
                                  "assert f.attrs['voltage_reference'] == 'Li+/Li'\n"
                                  "assert 'cycle_1' in f['curves']['cell_0']\n"
                                  "print('ok')\n");
  if (std::system("python3 -c 'import h5py' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "python3 with h5py not available";
  const std::string command = "python3 " + shell_quoted(check) + " " + shell_quoted(out) + " > " +
                              shell_quoted((dir_ / "py.txt").string()) + " 2>&1";
  EXPECT_EQ(std::system(command.c_str()), 0) << read_text(dir_ / "py.txt");
}

// --backend: an unknown name or a backend this binary cannot run exits 2 with one line naming
// why, before the output file exists; the backend that ran is in the file's provenance.
TEST_F(Cli, RunBackendIsCheckedBeforeAnyFileAndRecorded) {
  const std::string out = (dir_ / "b.h5").string();
  const Outcome unknown = halite({"run", "--cycles", "1", "-q", "-o", out, "--backend", "foo"});
  EXPECT_EQ(unknown.exit_code, 2) << unknown.err;
  EXPECT_EQ(unknown.err,
            "halite run: --backend foo: unknown backend 'foo' (allowed: cpu, cuda, "
            "auto)\n");
  EXPECT_FALSE(std::filesystem::exists(out));

  const Outcome cpu = halite({"run", "--cycles", "1", "-q", "-o", out, "--backend", "cpu"});
  ASSERT_EQ(cpu.exit_code, 0) << cpu.err;
  EXPECT_EQ(read_string_attribute(out, "/", "backend"), "cpu");
  std::filesystem::remove(out);
  std::filesystem::remove(out + ".checkpoint");

  // auto (the default): one cell runs on the CPU, and the file names the backend that ran.
  const Outcome automatic = halite({"run", "--cycles", "1", "-q", "-o", out});
  ASSERT_EQ(automatic.exit_code, 0) << automatic.err;
  EXPECT_EQ(read_string_attribute(out, "/", "backend"), "cpu");
  std::filesystem::remove(out);
  std::filesystem::remove(out + ".checkpoint");

  // Built without CUDA: refused, saying so. Built with CUDA on a machine without a GPU: refused,
  // naming the CUDA runtime's answer. With a GPU: runs, and the file says so.
  const bool built_with_cuda = halite({"--version"}).out.find("cuda") != std::string::npos;
  const Outcome cuda = halite({"run", "--cycles", "1", "-q", "-o", out, "--backend", "cuda"});
  if (built_with_cuda && cuda.exit_code == 0) {
    EXPECT_EQ(read_string_attribute(out, "/", "backend"), "cuda");
    return;
  }
  EXPECT_EQ(cuda.exit_code, 2) << cuda.err;
  EXPECT_EQ(cuda.err.rfind("halite run: --backend cuda: ", 0), 0u) << cuda.err;
  EXPECT_NE(cuda.err.find(built_with_cuda ? "no CUDA device" : "built without CUDA"),
            std::string::npos)
      << cuda.err;
  EXPECT_EQ(std::count(cuda.err.begin(), cuda.err.end(), '\n'), 1) << cuda.err;
  EXPECT_FALSE(std::filesystem::exists(out));
  EXPECT_FALSE(std::filesystem::exists(out + ".checkpoint"));
}

// A second run onto the same file refuses (exit 2) and leaves it alone.
TEST_F(Cli, RunNeverOverwritesSilently) {
  const std::string out = (dir_ / "ref.h5").string();
  ASSERT_EQ(halite({"run", "--cycles", "1", "--quiet", "--output", out}).exit_code, 0);
  const auto before = std::filesystem::last_write_time(out);
  const Outcome again = halite({"run", "--cycles", "1", "--quiet", "--output", out});
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.err.find("--overwrite"), std::string::npos) << again.err;
  EXPECT_EQ(std::filesystem::last_write_time(out), before);
}

// Issue 12, item 10: NaN passed CLI11's range checks (--skip-tolerance nan turned skipping off,
// --checkpoint-interval nan stopped checkpoints) and an empty --resume started a new run.
TEST_F(Cli, NonFiniteNumbersAndAnEmptyResumeAreRefused) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"run", "--cycles", "1", "--skip-tolerance", "nan"},
        std::vector<std::string>{"run", "--cycles", "1", "--checkpoint-interval", "nan"},
        std::vector<std::string>{"run", "--cycles", "1", "--checkpoint-interval", "inf"},
        std::vector<std::string>{"run", "--cycles", "1", "--resume", ""},
        std::vector<std::string>{"sweep", "s.yaml", "--resume", ""}}) {
    const Outcome r = halite(args);
    EXPECT_EQ(r.exit_code, 2) << args[args.size() - 2] << " " << args.back() << ": " << r.err;
    EXPECT_TRUE(r.err.find("finite") != std::string::npos ||
                r.err.find("must name a file") != std::string::npos)
        << r.err;
  }
  EXPECT_FALSE(std::filesystem::exists(dir_ / "halite_run.h5"));
}

// Issue 12, item 9: a cell that moves no charge (here an SE at 1e-8 S/cm) finished with 0 mAh/g
// in every cycle and status "completed". It is now a warning on stderr and in /cells.
// Issue 12 item 9: a mesh coarser than the converged default is said on stderr (the run goes on).
TEST_F(Cli, AMeshCoarserThanTheConvergedDefaultIsAWarning) {
  const Outcome coarse = halite({"run", "-q", "--cycles", "1", "-o", (dir_ / "coarse.h5").string(),
                                 "--set", "mesh.radial_shells=3"});
  EXPECT_EQ(coarse.exit_code, 0) << coarse.err;
  EXPECT_NE(coarse.err.find("coarser than the default 8 x 20"), std::string::npos) << coarse.err;
  const Outcome fine = halite({"run", "-q", "--cycles", "1", "-o", (dir_ / "fine.h5").string(),
                               "--set", "mesh.radial_shells=24"});
  EXPECT_EQ(fine.exit_code, 0) << fine.err;
  EXPECT_EQ(fine.err.find("coarser"), std::string::npos) << fine.err;
}

TEST_F(Cli, ACellThatMovesNoChargeIsAWarningNotASilentSuccess) {
  const std::string out = (dir_ / "dead.h5").string();
  const Outcome r = halite({"run", "--cycles", "2", "-q", "-o", out, "--set",
                            "cell.conductivity.electrolyte=1e-8 S/cm"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: 2 cycle(s) moved almost no charge"), std::string::npos) << r.err;
  const Outcome status = halite({"run", "--cycles", "1", "-q", "-o", (dir_ / "ok.h5").string()});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  EXPECT_EQ(status.err.find("warning"), std::string::npos) << status.err;
}

// Issue 12, item 1: `--overwrite` deleted whatever stood at the output path when writing failed
// (a device node, as root the null device). A FIFO or a directory there is refused with exit 2
// and left as it was, by `run` and by `sweep`.
TEST_F(Cli, OverwriteRefusesAnythingButARegularFile) {
  const std::string fifo = (dir_ / "fifo").string();
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0666), 0);
  const std::string folder = (dir_ / "folder").string();
  std::filesystem::create_directory(folder);
  std::ofstream(std::filesystem::path(folder) / "keep.txt") << "mine";
  const std::string sweep =
      write("s.yaml",
            "factors:\n  - {key: cell.cathode.contact_fraction, values: [0.3]}\n"
            "design: list\n");
  for (const std::string& target : {fifo, folder}) {
    const Outcome r = halite({"run", "--cycles", "1", "--quiet", "--overwrite", "-o", target});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("is not a regular file"), std::string::npos) << r.err;
    const Outcome s = halite({"sweep", sweep, "--cycles", "1", "--overwrite", "-o", target});
    EXPECT_EQ(s.exit_code, 2) << s.err;
    EXPECT_NE(s.err.find("is not a regular file"), std::string::npos) << s.err;
  }
  EXPECT_TRUE(std::filesystem::is_fifo(fifo));
  EXPECT_EQ(read_text(std::filesystem::path(folder) / "keep.txt"), "mine");
}

}  // namespace
}  // namespace halite

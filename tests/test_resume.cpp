// Checkpoints, resume and retries: a run killed with SIGKILL and resumed ends with the same
// per-cycle table as an uninterrupted run (no cycle lost or duplicated); a changed configuration
// or a missing checkpoint refuses to resume (exit 2); the checkpoint file round-trips and
// detects corruption; a failing cycle is retried with tighter settings.
#include <fcntl.h>
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <hdf5.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "host/app/checkpoint.hpp"
#include "host/app/config.hpp"
#include "host/app/result_writer.hpp"
#include "host/app/row_journal.hpp"
#include "host/engine/cycler.hpp"
#include "tests/halite_binary.hpp"

namespace halite {
namespace {

using halite::testing::Outcome;
using halite::testing::read_text;
using halite::testing::run_halite;
using halite::testing::shell_quoted;

// Reference cell, accelerated aging so that the fade is visible within a few cycles.
const std::vector<std::string> kFastFade = {"--set", "aging.rsp.rate_constant=2e-5 1/s"};
constexpr double kRelativeTolerance = 1e-6;  // SolverConfig default

std::vector<std::string> operator+(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// The per-cycle table of cell 0, as far as cycles_written.
struct Table {
  int cycles = 0;
  std::vector<double> number, discharge, charge, inventory, simulated, failed;
  std::string status;
};

Table read_table(const std::string& path) {
  Table t;
  t.cycles = static_cast<int>(read_numeric_attribute(path, "/cycles", "cycles_written"));
  auto column = [&](const std::string& name) {
    auto v = read_cycle_column(path, name).at(0);
    v.resize(static_cast<std::size_t>(t.cycles));
    return v;
  };
  t.number = column("Cycle number");
  t.discharge = column("Discharge capacity [mA.h.g-1]");
  t.charge = column("Charge capacity [mA.h.g-1]");
  t.inventory = column("Lithium inventory [mol.m-2]");
  t.simulated = column("Simulated");
  t.failed = column("Failed");
  t.status = read_string_dataset(path, "/cells/status").at(0);
  return t;
}

// Same cycles, numbered 1..N without gap or duplicate, values within `rel` (relative).
void expect_same_table(const Table& a, const Table& b, int cycles, double rel) {
  ASSERT_EQ(a.cycles, cycles);
  ASSERT_EQ(b.cycles, cycles);
  for (int k = 0; k < cycles; ++k) {
    EXPECT_EQ(a.number[k], k + 1);
    EXPECT_EQ(b.number[k], k + 1) << "cycle row " << k;
    EXPECT_EQ(a.simulated[k], b.simulated[k]) << "cycle " << k + 1;
    EXPECT_EQ(b.failed[k], 0.0);
    EXPECT_NEAR(b.discharge[k], a.discharge[k], rel * std::fabs(a.discharge[k]))
        << "cycle " << k + 1;
    EXPECT_NEAR(b.charge[k], a.charge[k], rel * std::fabs(a.charge[k])) << "cycle " << k + 1;
    EXPECT_NEAR(b.inventory[k], a.inventory[k], rel * std::fabs(a.inventory[k]))
        << "cycle " << k + 1;
  }
  EXPECT_EQ(b.status, "completed");
}

std::vector<std::string> curve_names(const std::string& path) {
  std::vector<std::string> names;
  for (int c = 1; c <= 200; ++c) {
    try {
      read_array(path, "/curves/cell_0/cycle_" + std::to_string(c) + "/Time [s]");
      names.push_back("cycle_" + std::to_string(c));
    } catch (const std::exception&) {
    }
  }
  return names;
}

class Resume : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "halite_resume_XXXXXX").string();
    dir_ = ::mkdtemp(pattern.data());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string file(const std::string& name) const { return (dir_ / name).string(); }

  Outcome halite(const std::vector<std::string>& args) const { return run_halite(dir_, args); }

  // Starts halite with `args`, waits until its checkpoint covers at least `cycles` cycles, lets
  // it run `delay_ms` more, and kills it with SIGKILL. Returns false if it ended by itself first.
  bool run_and_kill(const std::vector<std::string>& args, const std::string& output, int cycles,
                    int delay_ms) const {
    std::vector<std::string> argv_strings{HALITE_BINARY};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    const pid_t pid = halite::testing::spawn_silently(argv_strings);
    EXPECT_GT(pid, 0);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    int status = 0;
    for (;;) {
      if (::waitpid(pid, &status, WNOHANG) == pid) return false;  // ended by itself
      try {
        if (read_checkpoint(checkpoint_path(output)).cycles_written >= cycles) break;
      } catch (const CheckpointError&) {
        // not written yet
      }
      if (std::chrono::steady_clock::now() > deadline) break;
      std::this_thread::sleep_for(std::chrono::microseconds(500));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
  }

  std::filesystem::path dir_;
};

// Issue 12, item 8: SIGTERM (and SIGINT, SIGHUP) killed a run with no message, /cells/status
// left "running" and no final checkpoint. Now the run stops at the next cycle boundary with a
// checkpoint, status "interrupted", a hint how to resume, exit 128 + signal; resuming gives the
// uninterrupted table.
TEST_F(Resume, SigtermStopsAtACycleBoundaryAndTheRunResumes) {
  const auto base =
      std::vector<std::string>{"run", "-q", "--cycles", "16", "--no-skip"} + kFastFade;
  const std::string a = file("a.h5"), b = file("b.h5");
  ASSERT_EQ(halite(base + std::vector<std::string>{"-o", a}).exit_code, 0);
  pid_t pid = 0;
  int status = 0;
  const bool ended = !halite::testing::spawn_until(
      base + std::vector<std::string>{"--checkpoint-interval", "0", "-o", b},
      [&] { return read_checkpoint(checkpoint_path(b)).cycles_written >= 3; }, &pid, &status, 60);
  ASSERT_FALSE(ended) << "the run ended before it could be signalled";
  ::kill(pid, SIGTERM);
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by the signal instead of stopping";
  EXPECT_EQ(WEXITSTATUS(status), 128 + SIGTERM);
  EXPECT_EQ(read_string_dataset(b, "/cells/status").at(0), "interrupted");
  const int written = read_table(b).cycles;
  EXPECT_GE(written, 3);
  EXPECT_LT(written, 16);
  EXPECT_EQ(read_checkpoint(checkpoint_path(b)).cycles_written, written);  // nothing lost
  const Outcome r = halite(base + std::vector<std::string>{"--resume", b});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_string_dataset(b, "/cells/status").at(0), "completed");
  expect_same_table(read_table(a), read_table(b), 16, 100 * kRelativeTolerance);
}

// Issue 12, item 4: two runs on one output both exited 0 and left a corrupt file, and --resume of
// a run still going on was accepted. The output is locked for the whole run.
TEST_F(Resume, ASecondWriterAndAResumeOfALiveRunAreRefused) {
  const std::string b = file("b.h5");
  pid_t pid = 0;
  int status = 0;
  ASSERT_TRUE(halite::testing::spawn_until(
      {"run", "-q", "--cycles", "400", "--no-skip", "--checkpoint-interval", "0", "-o", b},
      [&] { return read_checkpoint(checkpoint_path(b)).cycles_written >= 1; }, &pid, &status, 60))
      << "the run ended too early";
  const std::string holder = fmt::format("being written by another halite (process {};", pid);
  const Outcome second = halite({"run", "-q", "--cycles", "2", "--overwrite", "-o", b});
  EXPECT_EQ(second.exit_code, 2) << second.err;
  EXPECT_NE(second.err.find(holder), std::string::npos) << second.err;
  const Outcome resume = halite({"run", "-q", "--resume", b});
  EXPECT_EQ(resume.exit_code, 2) << resume.err;
  EXPECT_NE(resume.err.find(holder), std::string::npos) << resume.err;
  ::kill(pid, SIGTERM);
  ::waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 128 + SIGTERM);
  EXPECT_FALSE(std::filesystem::exists(b + ".lock"));  // released and removed
  EXPECT_EQ(read_string_dataset(b, "/cells/status").at(0), "interrupted");
}

TEST_F(Resume, KilledTwiceAndResumedGivesTheUninterruptedTable) {
  const auto base =
      std::vector<std::string>{"run", "-q", "--cycles", "16", "--no-skip"} + kFastFade;
  const std::string a = file("a.h5"), b = file("b.h5");
  ASSERT_EQ(halite(base + std::vector<std::string>{"-o", a}).exit_code, 0);

  // Killed after at least 3 cycles, resumed, killed again after at least 8, resumed to the end
  // (the short delays keep the kills inside the run on a much faster machine too).
  const auto every_cycle = std::vector<std::string>{"--checkpoint-interval", "0"};
  EXPECT_TRUE(run_and_kill(base + every_cycle + std::vector<std::string>{"-o", b}, b, 3, 3))
      << "the run ended before it could be killed";
  EXPECT_LT(read_checkpoint(checkpoint_path(b)).cycles_written, 16);
  EXPECT_EQ(read_string_dataset(b, "/cells/status").at(0), "running");
  EXPECT_TRUE(run_and_kill(base + every_cycle + std::vector<std::string>{"--resume", b}, b, 8, 9))
      << "the resumed run ended before it could be killed";
  const Outcome r = halite(base + std::vector<std::string>{"--resume", b});
  ASSERT_EQ(r.exit_code, 0) << r.err;

  expect_same_table(read_table(a), read_table(b), 16, 100 * kRelativeTolerance);
  // The curves of the first and the last cycle, none twice and none of a dropped cycle.
  EXPECT_EQ(curve_names(b), (std::vector<std::string>{"cycle_1", "cycle_16"}));
  // A finished run has nothing left to do.
  const Outcome again = halite(base + std::vector<std::string>{"--resume", b});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(read_table(b).cycles, 16);
}

// Issue 12, item 2: a full disk crashed halite (SIGSEGV in HDF5's exit handler), left a file
// HDF5 could not extend and a --resume that failed. Now a run stops at a cycle boundary while
// there is room (free space below HALITE_MIN_FREE_BYTES, default 4 MiB): checkpoint, status
// "interrupted" with the reason, exit 1; and it resumes to the uninterrupted table.
TEST_F(Resume, ANearlyFullDiskStopsTheRunCleanlyAndItResumes) {
  const auto base = std::vector<std::string>{"run", "-q", "--cycles", "8", "--no-skip"} + kFastFade;
  const std::string a = file("a.h5"), b = file("b.h5");
  ASSERT_EQ(halite(base + std::vector<std::string>{"-o", a}).exit_code, 0);
  // every file system is "nearly full" below 2^62 bytes
  const Outcome stopped = run_halite(dir_, base + std::vector<std::string>{"-o", b},
                                     "HALITE_MIN_FREE_BYTES=4611686018427387904 ");
  EXPECT_EQ(stopped.exit_code, 1) << stopped.err;
  EXPECT_NE(stopped.err.find("the disk is nearly full"), std::string::npos) << stopped.err;
  EXPECT_NE(stopped.err.find("--resume " + b), std::string::npos) << stopped.err;
  const Table partial = read_table(b);
  EXPECT_GE(partial.cycles, 1);
  EXPECT_LT(partial.cycles, 8);
  EXPECT_EQ(partial.status, "interrupted");
  EXPECT_NE(read_string_dataset(b, "/cells/failure reason").at(0).find("nearly full"),
            std::string::npos);
  EXPECT_EQ(read_checkpoint(checkpoint_path(b)).cycles_written, partial.cycles);
  EXPECT_FALSE(std::filesystem::exists(b + ".reserve"));  // the reserve is given back
  const Outcome resumed = halite(base + std::vector<std::string>{"--resume", b});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  expect_same_table(read_table(a), read_table(b), 8, 100 * kRelativeTolerance);
}

// The same when the disk fills in the middle of an HDF5 write (another process took the space;
// the margin is 0 here): exit 1 with HDF5's message (path, errno 28), no crash; once there is
// space, --resume copies the readable cycles into a fresh file and finishes the run. Needs a
// small file system: a tmpfs, mounted when the test runs as root (skipped otherwise).
TEST_F(Resume, AFileTheDiskFilledMidWriteIsRebuiltOnResume) {
  const std::string mount_point = file("small");
  std::filesystem::create_directory(mount_point);
  if (std::system(
          ("mount -t tmpfs -o size=240k tmpfs " + shell_quoted(mount_point) + " 2>/dev/null")
              .c_str()) != 0)
    GTEST_SKIP() << "cannot mount a tmpfs here (needs root)";
  struct Unmount {
    std::string at;
    ~Unmount() { std::system(("umount " + shell_quoted(at) + " 2>/dev/null").c_str()); }
  } unmount{mount_point};
  const auto base = std::vector<std::string>{"run",
                                             "-q",
                                             "--cycles",
                                             "150",
                                             "--no-skip",
                                             "--checkpoint-interval",
                                             "0",
                                             "--set",
                                             "mesh.radial_shells=8",
                                             "--set",
                                             "mesh.cathode_nodes=4"};
  const std::string a = file("a.h5"), b = mount_point + "/b.h5";
  ASSERT_EQ(halite(base + std::vector<std::string>{"-o", a}).exit_code, 0);
  const Outcome full =
      run_halite(dir_, base + std::vector<std::string>{"-o", b}, "HALITE_MIN_FREE_BYTES=0 ");
  EXPECT_EQ(full.exit_code, 1) << full.err;  // not a crash (run_halite gives -1 for a signal)
  EXPECT_NE(full.err.find("No space left on device"), std::string::npos) << full.err;
  const int kept = read_checkpoint(checkpoint_path(b)).cycles_written;
  EXPECT_GT(kept, 0);
  EXPECT_LT(kept, 150);
  ASSERT_EQ(std::system(("mount -o remount,size=40m " + shell_quoted(mount_point)).c_str()), 0);
  const Outcome resumed = halite(base + std::vector<std::string>{"--resume", b});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  expect_same_table(read_table(a), read_table(b), 150, 100 * kRelativeTolerance);
  EXPECT_EQ(curve_names(b).front(), "cycle_1");
}

// The full disk and the failing device again, for machines where a tmpfs cannot be mounted: a
// write fault injector (tests/fault/write_fault.cpp, LD_PRELOAD) makes writes fail from a byte
// budget on. ENOSPC: every file of the output's directory shares the free space, and writes
// over existing bytes still succeed, as on a full file system; EIO: every write to the HDF5
// file fails once the budget is spent, as on a failing region of a disk. For each budget (the
// failure falls at different moments: while the file is created, at a flush, in the journal,
// in a checkpoint): exit 1 naming the error, no crash, and --resume without the fault finishes
// to the uninterrupted table.
class WriteFaults : public Resume {
 protected:
  const std::vector<std::string> base_ = {"run",
                                          "-q",
                                          "--cycles",
                                          "30",
                                          "--no-skip",
                                          "--checkpoint-interval",
                                          "0",
                                          "--set",
                                          "mesh.radial_shells=8",
                                          "--set",
                                          "mesh.cathode_nodes=4"};

  // Runs into `output` under the fault (`target`: HALITE_FAULT_DIRECTORY=... or
  // HALITE_FAULT_FILE=...), then resumes without it; returns the resume's outcome.
  Outcome fail_then_resume(const std::string& output, const std::string& target,
                           const std::string& mode, long long budget, const std::string& error) {
    const std::string fault = fmt::format(
        "HALITE_MIN_FREE_BYTES=0 LD_PRELOAD={} {} HALITE_FAULT_MODE={} HALITE_FAULT_FREE_BYTES={} ",
        shell_quoted(HALITE_WRITE_FAULT_LIBRARY), target, mode, budget);
    const Outcome failed = run_halite(dir_, base_ + std::vector<std::string>{"-o", output}, fault);
    EXPECT_EQ(failed.exit_code, 1) << mode << " " << budget << ": " << failed.err;
    EXPECT_NE(failed.err.find(error), std::string::npos)
        << mode << " " << budget << ": " << failed.err;
    EXPECT_EQ(failed.err.find("Sanitizer"), std::string::npos) << failed.err;
    std::vector<std::string> resume = base_;
    resume.erase(resume.begin() + 1);  // not quiet: the test reads how the file was taken back
    return halite(resume + std::vector<std::string>{"--resume", output});
  }
};

TEST_F(WriteFaults, AFullDiskStopsTheRunAndItResumesOnceThereIsSpace) {
  const std::string a = file("a.h5");
  ASSERT_EQ(halite(base_ + std::vector<std::string>{"-o", a}).exit_code, 0);
  const Table reference = read_table(a);
  for (const long long budget : {60000LL, 150000LL, 1200000LL}) {  // (the reserve: 1 MiB)
    const std::string directory = file(fmt::format("full_{}", budget));
    std::filesystem::create_directory(directory);
    const std::string b = directory + "/b.h5";
    const Outcome resumed = fail_then_resume(b, "HALITE_FAULT_DIRECTORY=" + shell_quoted(directory),
                                             "enospc", budget, "No space left on device");
    ASSERT_EQ(resumed.exit_code, 0) << budget << ": " << resumed.err;
    expect_same_table(reference, read_table(b), 30, 100 * kRelativeTolerance);
  }
}

TEST_F(WriteFaults, AFailingDeviceStopsTheRunAndItResumes) {
  const std::string a = file("a.h5");
  ASSERT_EQ(halite(base_ + std::vector<std::string>{"-o", a}).exit_code, 0);
  const Table reference = read_table(a);
  int reopened = 0;  // resumes that found a file HDF5 could not open or extend
  for (const long long budget : {60000LL, 150000LL, 287000LL, 620000LL}) {
    const std::string b = file(fmt::format("b_{}.h5", budget));
    const Outcome resumed = fail_then_resume(b, "HALITE_FAULT_FILE=" + shell_quoted(b), "eio",
                                             budget, "Input/output error");
    ASSERT_EQ(resumed.exit_code, 0) << budget << ": " << resumed.err;
    expect_same_table(reference, read_table(b), 30, 100 * kRelativeTolerance);
    reopened += resumed.err.find("cannot be") != std::string::npos;
  }
  EXPECT_GE(reopened, 1) << "no budget damaged the file: the test no longer reaches the rebuild";
}

// A file that lost its tail (a copy cut short, a crash of the machine) cannot be opened; its
// rows are in the row journal (OUTPUT.rows), checked against the checkpoint's table hash, and
// --resume writes the file again from them. Without the journal the resume is refused.
TEST_F(WriteFaults, AFileThatLostItsTailIsWrittenAgainFromItsRowJournal) {
  const std::string a = file("a.h5"), b = file("b.h5");
  ASSERT_EQ(halite(base_ + std::vector<std::string>{"-o", a}).exit_code, 0);
  std::vector<std::string> first = base_;
  first[3] = "20";
  ASSERT_EQ(halite(first + std::vector<std::string>{"-o", b}).exit_code, 0);
  std::filesystem::resize_file(b, std::filesystem::file_size(b) / 2);
  const std::string cut = read_text(b);
  std::filesystem::copy_file(row_journal_path(b), b + ".rows.saved");
  std::filesystem::remove(row_journal_path(b));
  const Outcome refused = halite(base_ + std::vector<std::string>{"--resume", b});
  EXPECT_EQ(refused.exit_code, 2) << refused.err;
  EXPECT_NE(refused.err.find("row journal"), std::string::npos) << refused.err;
  EXPECT_EQ(read_text(b), cut);  // a refused resume leaves the file alone
  std::filesystem::rename(b + ".rows.saved", row_journal_path(b));
  std::vector<std::string> resume = base_;
  resume.erase(resume.begin() + 1);
  const Outcome resumed = halite(resume + std::vector<std::string>{"--resume", b});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("writing it again from its row journal"), std::string::npos)
      << resumed.err;
  expect_same_table(read_table(a), read_table(b), 30, 100 * kRelativeTolerance);
}

// Issue 12 item 10: a checkpoint with a valid checksum but values no run writes (a cursor past
// the protocol, a NaN in the state) was applied after the output had been cut back. Now the
// resume is refused (exit 2) and the file is left as it was.
TEST_F(Resume, ACheckpointWithImpossibleValuesIsRefusedAndTheFileLeftAlone) {
  const auto base = std::vector<std::string>{"run", "-q", "--cycles", "6", "--no-skip"} + kFastFade;
  const std::string b = file("b.h5");
  ASSERT_TRUE(
      run_and_kill(base + std::vector<std::string>{"--checkpoint-interval", "0", "-o", b}, b, 2, 0))
      << "the run ended before it could be killed";
  const Checkpoint good = read_checkpoint(checkpoint_path(b));
  const std::string before = read_text(b);
  auto refused = [&](Checkpoint bad, const std::string& what) {
    write_checkpoint(checkpoint_path(b), bad);
    const Outcome r = halite(base + std::vector<std::string>{"--resume", b});
    EXPECT_EQ(r.exit_code, 2) << what << ": " << r.err;
    EXPECT_NE(r.err.find("does not fit"), std::string::npos) << what << ": " << r.err;
    EXPECT_EQ(read_text(b), before) << what << ": the file changed";
  };
  Checkpoint cursor = good;
  cursor.state.cursor.repetition = 5000;  // the block repeats 4001 times
  cursor.state.cursor.cycle = 5000;
  cursor.cycles_written = 5000;
  refused(cursor, "cursor past the protocol");
  Checkpoint nan = good;
  nan.state.y[3] = std::numeric_limits<double>::quiet_NaN();
  refused(nan, "NaN in the state");
  Checkpoint clock = good;
  clock.state.clock[0] = -5.0;
  refused(clock, "negative clock");
  // and the good checkpoint still resumes
  write_checkpoint(checkpoint_path(b), good);
  EXPECT_EQ(halite(base + std::vector<std::string>{"--resume", b}).exit_code, 0);
}

// Issue 12 item 10: flipped bytes in /cycles data were resumed silently (16 of 36 tries). The
// checkpoint keeps a hash of the rows it covers; a resume whose file holds other values is refused
// with the file left alone.
TEST_F(Resume, ChangedTableValuesAreDetectedOnResume) {
  const auto base = std::vector<std::string>{"run", "-q", "--cycles", "6", "--no-skip"} + kFastFade;
  const std::string b = file("b.h5");
  ASSERT_TRUE(
      run_and_kill(base + std::vector<std::string>{"--checkpoint-interval", "0", "-o", b}, b, 2, 0))
      << "the run ended before it could be killed";
  EXPECT_NE(read_checkpoint(checkpoint_path(b)).table_hash, 0u);
  {  // one value of the first cycle changes by one ulp, the file stays valid HDF5
    const hid_t f = H5Fopen(b.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    const hid_t d = H5Dopen2(f, "/cycles/Discharge capacity [mA.h.g-1]", H5P_DEFAULT);
    ASSERT_GE(d, 0);
    const hid_t space = H5Dget_space(d);
    hsize_t dims[2] = {0, 0};
    H5Sget_simple_extent_dims(space, dims, nullptr);
    std::vector<double> v(dims[0] * dims[1]);
    H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
    v[0] = std::nextafter(v[0], 1e9);
    H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v.data());
    H5Sclose(space);
    H5Dclose(d);
    H5Fclose(f);
  }
  const std::string before = read_text(b);
  const Outcome r = halite(base + std::vector<std::string>{"--resume", b});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("differ from those the run wrote"), std::string::npos) << r.err;
  EXPECT_EQ(read_text(b), before);
}

TEST_F(Resume, WithCycleSkippingTheResumedRunSkipsTheSameCycles) {
  // Slower fade: the controller jumps; its memory is in the checkpoint, so the resumed run
  // extrapolates the same cycles as the uninterrupted one. 400 cycles: the run integrates
  // cycles 1-3, 107-108, 219-220 and 400 (third-order jumps), so the kill after the checkpoint
  // of cycle 100 or later lands mid-run, between the second and the third jump (80 cycles were
  // one jump from cycle 3 to the end, and the run could end before the kill).
  const auto base = std::vector<std::string>{"run", "-q",    "--cycles",
                                             "400", "--set", "aging.rsp.rate_constant=1e-6 1/s"};
  const std::string a = file("a.h5"), b = file("b.h5");
  ASSERT_EQ(halite(base + std::vector<std::string>{"-o", a}).exit_code, 0);
  const Table ta = read_table(a);
  int extrapolated = 0;
  for (double s : ta.simulated) extrapolated += s == 0.0;
  ASSERT_GE(extrapolated, 5) << "the test needs a run that skips cycles";

  EXPECT_TRUE(run_and_kill(base + std::vector<std::string>{"--checkpoint-interval", "0", "-o", b},
                           b, 100, 3));
  const Outcome r = halite(base + std::vector<std::string>{"--resume", b});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_same_table(ta, read_table(b), 400, 100 * kRelativeTolerance);
}

TEST_F(Resume, ExtendsAFinishedRunWithMoreCycles) {
  const auto base = std::vector<std::string>{"run", "-q", "--no-skip"} + kFastFade;
  const std::string a = file("a.h5"), b = file("b.h5");
  ASSERT_EQ(halite(base + std::vector<std::string>{"--cycles", "6", "-o", a}).exit_code, 0);
  ASSERT_EQ(halite(base + std::vector<std::string>{"--cycles", "3", "-o", b}).exit_code, 0);
  const Outcome r = halite(base + std::vector<std::string>{"--cycles", "6", "--resume", b});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_same_table(read_table(a), read_table(b), 6, 100 * kRelativeTolerance);
  EXPECT_EQ(read_string_attribute(b, "/", "backend"), "cpu");  // one backend throughout
  // the curves of the uninterrupted 6-cycle run: cycle 3, the old last cycle, is not kept
  // (issue 12 item 10)
  EXPECT_EQ(curve_names(b), curve_names(a));
  EXPECT_EQ(curve_names(b), (std::vector<std::string>{"cycle_1", "cycle_6"}));
}

// The backend attribute lists every backend that integrated a run, in order (here the file
// pretends to come from the cuda backend, which a CPU-only build cannot run).
TEST_F(Resume, ABackendChangeIsRecorded) {
  const auto base = std::vector<std::string>{"run", "-q", "--no-skip"} + kFastFade;
  const std::string b = file("b.h5");
  ASSERT_EQ(halite(base + std::vector<std::string>{"--cycles", "1", "-o", b}).exit_code, 0);
  ResultWriter::open_existing(b).set_attribute("backend", "cuda");
  const Outcome r =
      halite(base + std::vector<std::string>{"--cycles", "2", "--resume", b, "--backend", "cpu"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_string_attribute(b, "/", "backend"), "cuda,cpu");
  EXPECT_EQ(read_table(b).cycles, 2);
}

TEST_F(Resume, RefusesAChangedConfigurationAndLeavesTheFileAlone) {
  const auto base = std::vector<std::string>{"run", "-q", "--no-skip"};
  const std::string a = file("a.h5");
  ASSERT_EQ(halite(base + std::vector<std::string>{"--cycles", "3", "-o", a}).exit_code, 0);
  const std::string checkpoint_before = read_text(checkpoint_path(a));

  const Outcome r = halite(base + std::vector<std::string>{"--cycles", "5", "--set",
                                                           "cell.mechanics.stack_pressure=300 MPa",
                                                           "--resume", a});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("halite: cannot resume " + a +
                       ": the configuration differs from the one that started it"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("cell.mechanics.stack_pressure was 760 MPa, now 300 MPa"), std::string::npos)
      << r.err;
  EXPECT_EQ(read_table(a).cycles, 3);
  EXPECT_EQ(read_table(a).status, "completed");
  EXPECT_EQ(read_text(checkpoint_path(a)), checkpoint_before);
}

TEST_F(Resume, RefusesWithoutACheckpointOrAFile) {
  const auto base = std::vector<std::string>{"run", "-q", "--cycles", "2", "--no-skip"};
  const std::string a = file("a.h5");
  ASSERT_EQ(halite(base + std::vector<std::string>{"-o", a}).exit_code, 0);
  std::filesystem::remove(checkpoint_path(a));
  Outcome r = halite(base + std::vector<std::string>{"--resume", a});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("cannot resume " + a + ": it has no checkpoint"), std::string::npos)
      << r.err;
  EXPECT_EQ(read_table(a).cycles, 2);

  r = halite(base + std::vector<std::string>{"--resume", file("missing.h5")});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no such file"), std::string::npos) << r.err;

  // A corrupt checkpoint is refused too.
  std::ofstream(checkpoint_path(a)) << "HALITECK and then garbage";
  r = halite(base + std::vector<std::string>{"--resume", a});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("corrupt"), std::string::npos) << r.err;

  // --resume with --overwrite, or with another --output, is an argument error.
  EXPECT_EQ(halite(base + std::vector<std::string>{"--resume", a, "--overwrite"}).exit_code, 2);
  EXPECT_EQ(halite(base + std::vector<std::string>{"--resume", a, "-o", file("b.h5")}).exit_code,
            2);
}

TEST_F(Resume, NewRunsNeverOverwriteSilentlyAndOverwriteDropsTheStaleCheckpoint) {
  const auto base = std::vector<std::string>{"run", "-q", "--no-skip"};
  const std::string a = file("a.h5");
  ASSERT_EQ(halite(base + std::vector<std::string>{"--cycles", "2", "-o", a}).exit_code, 0);
  const std::string checkpoint_before = read_text(checkpoint_path(a));
  const Outcome r = halite(base + std::vector<std::string>{"--cycles", "1", "-o", a});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("already exists; use --overwrite"), std::string::npos) << r.err;
  EXPECT_EQ(read_table(a).cycles, 2);
  EXPECT_EQ(read_text(checkpoint_path(a)), checkpoint_before);

  ASSERT_EQ(
      halite(base + std::vector<std::string>{"--cycles", "1", "-o", a, "--overwrite"}).exit_code,
      0);
  EXPECT_EQ(read_table(a).cycles, 1);
  const Checkpoint ck = read_checkpoint(checkpoint_path(a));
  EXPECT_EQ(ck.cycles_written, 1);
  EXPECT_EQ(ck.run_date, read_string_attribute(a, "/", "date"));
}

TEST_F(Resume, AFinalFailureSaysWhichCycleAndKeepsTheTable) {
  // A rest longer than the 500 h a step may last: no solver setting can save it.
  std::ofstream(file("fail.yaml")) << "protocol:\n"
                                      "  blocks:\n"
                                      "    - repeat: 3\n"
                                      "      steps:\n"
                                      "        - \"Charge at 1C until 4.3 V\"\n"
                                      "        - \"Rest for 600 hours\"\n";
  const std::string a = file("a.h5");
  const Outcome r = halite({"run", "-q", file("fail.yaml"), "-o", a});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("cycle 1 failed after 2 retries: step 2 'Rest for 600 hours'"),
            std::string::npos)
      << r.err;
  const Table t = read_table(a);
  ASSERT_EQ(t.cycles, 1);
  EXPECT_EQ(t.failed[0], 1.0);
  EXPECT_EQ(t.status, "failed");
  // The checkpoint still holds the start of the failed cycle.
  EXPECT_EQ(read_checkpoint(checkpoint_path(a)).cycles_written, 0);
}

// ---- the checkpoint file ------------------------------------------------------------------------

TEST(Checkpoint, Fnv1aMatchesTheReferenceValues) {
  EXPECT_EQ(fnv1a64(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(fnv1a64("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(fnv1a64("foobar"), 0x85944171f73967e8ull);
}

TEST(Checkpoint, RoundTripsAndDetectsCorruption) {
  std::string pattern = (std::filesystem::temp_directory_path() / "halite_ck_XXXXXX").string();
  const std::filesystem::path dir = ::mkdtemp(pattern.data());
  const std::string path = (dir / "run.h5.checkpoint").string();

  Checkpoint ck;
  ck.config_hash = 0x0123456789abcdefull;
  ck.run_date = "2025-03-01T12:00:00Z";
  ck.cycles_written = 7;
  CyclerState& s = ck.state;
  s.cursor = {1, 2, 7};
  s.time = 12345.678;
  s.cells = 2;
  s.per_cell = 3;
  s.particles = 1;
  s.clock = {1.5, 2.5};
  s.y = {0.1, -0.2, 1e-300, 4.0, std::nextafter(1.0, 2.0), -0.0};
  s.aging.resize(2);
  s.aging[1].rsp_fraction = 0.25;
  s.aging[1].oxygen_released = 3.0;
  s.failure = {"", "cycle 3 failed after 2 retries: IDASolve"};
  s.loss_reference = {{110.0, 0.9, 1e-3}, {}};
  s.loss_reference_set = {1, 0};
  s.skip_history = {{{1.0, 2.0}, {3.0}}, {}};
  CycleRecord r;
  r.cycle = 7;
  r.discharge_capacity = 101.25;
  r.coulombic_efficiency = std::nan("");
  r.step_end_times = {1.0, 2.0, 3.0};
  r.aging = {0.5};
  r.stats.steps = 580;
  r.failed = true;
  r.failure = "why";
  s.last_records = {r, CycleRecord{}};
  s.integrated_cycles = 5;
  s.skipped_cycles = 2;
  write_checkpoint(path, ck);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));

  const Checkpoint back = read_checkpoint(path);
  EXPECT_EQ(back.config_hash, ck.config_hash);
  EXPECT_EQ(back.run_date, ck.run_date);
  EXPECT_EQ(back.cycles_written, 7);
  EXPECT_EQ(back.state.cursor.block, 1);
  EXPECT_EQ(back.state.cursor.repetition, 2);
  EXPECT_EQ(back.state.cursor.cycle, 7);
  EXPECT_EQ(back.state.time, s.time);
  EXPECT_EQ(back.state.clock, s.clock);
  ASSERT_EQ(back.state.y.size(), s.y.size());
  for (std::size_t i = 0; i < s.y.size(); ++i)
    EXPECT_EQ(std::memcmp(&back.state.y[i], &s.y[i], sizeof(double)), 0) << i;  // bit for bit
  EXPECT_EQ(back.state.aging[1].rsp_fraction, 0.25);
  EXPECT_EQ(back.state.aging[1].oxygen_released, 3.0);
  EXPECT_EQ(back.state.failure, s.failure);
  EXPECT_EQ(back.state.loss_reference[0].discharge_capacity, 110.0);
  EXPECT_EQ(back.state.loss_reference_set, s.loss_reference_set);
  EXPECT_EQ(back.state.skip_history, s.skip_history);
  ASSERT_EQ(back.state.last_records.size(), 2u);
  EXPECT_EQ(back.state.last_records[0].discharge_capacity, 101.25);
  EXPECT_TRUE(std::isnan(back.state.last_records[0].coulombic_efficiency));
  EXPECT_EQ(back.state.last_records[0].step_end_times, r.step_end_times);
  EXPECT_EQ(back.state.last_records[0].stats.steps, 580);
  EXPECT_TRUE(back.state.last_records[0].failed);
  EXPECT_EQ(back.state.last_records[0].failure, "why");
  EXPECT_EQ(back.state.integrated_cycles, 5);
  EXPECT_EQ(back.state.skipped_cycles, 2);

  // One flipped byte anywhere, or a truncated file, is detected.
  std::string bytes = read_text(path);
  for (std::size_t at : {std::size_t{3}, bytes.size() / 2, bytes.size() - 1}) {
    std::string bad = bytes;
    bad[at] ^= 0x40;
    std::ofstream(path, std::ios::binary) << bad;
    EXPECT_THROW(read_checkpoint(path), CheckpointError) << "byte " << at;
  }
  std::ofstream(path, std::ios::binary) << bytes.substr(0, bytes.size() - 9);
  EXPECT_THROW(read_checkpoint(path), CheckpointError);
  EXPECT_THROW(read_checkpoint((dir / "absent").string()), CheckpointError);
  std::filesystem::remove_all(dir);
}

// ---- the engine: save/restore at a boundary, retries ------------------------------------------

struct Engine {
  RunConfig config = load_config("", {"aging.rsp.rate_constant=2e-5 1/s"});
  models::CellLayout layout = config.mesh.layout(config.cell.particle_classes);
  Cycler make(const SolverConfig& solver) const {
    return Cycler({cell_setup_from_config(config)}, layout, solver, config.protocol);
  }
};

TEST(ResumeEngine, RestoredCyclerContinuesLikeTheUninterruptedOne) {
  Engine e;
  std::vector<CycleRecord> full;
  {
    Cycler cycler = e.make(e.config.solver);
    cycler.run(
        6, [&](const std::vector<CycleRecord>& r) { full.push_back(r[0]); }, nullptr, nullptr);
  }
  // Stop after cycle 3 at its boundary, then go on in a fresh Cycler.
  std::vector<CycleRecord> part;
  CyclerState saved;
  {
    Cycler cycler = e.make(e.config.solver);
    RunControl control;
    control.on_boundary = [&](const CycleBoundary& b) {
      if (b.cursor.cycle == 3) saved = cycler.save_state(b.cursor);
    };
    cycler.run(
        3, [&](const std::vector<CycleRecord>& r) { part.push_back(r[0]); }, nullptr, nullptr, {},
        control);
  }
  ASSERT_EQ(saved.cursor.cycle, 3);
  EXPECT_EQ(saved.cursor.repetition, 3);
  Cycler resumed = e.make(e.config.solver);
  resumed.restore_state(saved);
  RunControl control;
  control.start = &saved.cursor;
  resumed.run(
      6, [&](const std::vector<CycleRecord>& r) { part.push_back(r[0]); }, nullptr, nullptr, {},
      control);
  ASSERT_EQ(part.size(), full.size());
  for (std::size_t k = 0; k < full.size(); ++k) {
    EXPECT_EQ(part[k].cycle, full[k].cycle);
    EXPECT_NEAR(part[k].discharge_capacity, full[k].discharge_capacity,
                100 * kRelativeTolerance * full[k].discharge_capacity);
  }
  EXPECT_EQ(resumed.integrated_cycles(), 6);
}

// Checkpoints of formats 2 and 3 hold the skipping controller's anchor as (drift, baseline); the
// third-order controller's anchor adds the curvature of the last jump and its baseline. An old
// anchor is read as one with no curvature to difference (the next jump is second order), so a
// state saved with the old layout continues exactly like the same state with that curvature
// dropped.
TEST(ResumeEngine, ACheckpointAnchorOfTheOlderLayoutContinuesAsASecondOrderJump) {
  Engine e;
  std::vector<CyclerState> saved;
  {
    Cycler cycler = e.make(e.config.solver);
    RunControl control;
    control.on_boundary = [&](const CycleBoundary& b) {
      saved.push_back(cycler.save_state(b.cursor));
    };
    cycler.run(
        60, [](const std::vector<CycleRecord>&) {}, nullptr, nullptr, CycleSkipping{true}, control);
  }
  // the last boundary whose controller memory holds an anchor with a measured curvature
  const CyclerState* with_anchor = nullptr;
  for (const auto& s : saved) {
    const auto& h = s.skip_history.at(0);
    if (h.size() > 1 && h.front().size() == 2 * h.back().size() + 2 &&
        h.front()[2 * h.back().size()] > 0.0)
      with_anchor = &s;
  }
  ASSERT_NE(with_anchor, nullptr);
  const std::size_t n = with_anchor->skip_history[0].back().size();
  CyclerState old_layout = *with_anchor, dropped = *with_anchor;
  auto& old_anchor = old_layout.skip_history[0].front();
  const double baseline = old_anchor.back();
  old_anchor.resize(n);
  old_anchor.push_back(baseline);
  auto& dropped_anchor = dropped.skip_history[0].front();
  std::fill(dropped_anchor.begin() + n, dropped_anchor.end() - 1, 0.0);
  auto continue_from = [&](const CyclerState& state) {
    Cycler cycler = e.make(e.config.solver);
    cycler.restore_state(state);
    RunControl control;
    control.start = &state.cursor;
    std::vector<CycleRecord> rows;
    cycler.run(
        200, [&](const std::vector<CycleRecord>& r) { rows.push_back(r[0]); }, nullptr, nullptr,
        CycleSkipping{true}, control);
    return rows;
  };
  const auto a = continue_from(old_layout), b = continue_from(dropped);
  ASSERT_EQ(a.size(), b.size());
  ASSERT_FALSE(a.empty());
  for (std::size_t k = 0; k < a.size(); ++k) {
    EXPECT_EQ(a[k].cycle, b[k].cycle);
    EXPECT_FALSE(a[k].failed) << a[k].failure;
    EXPECT_EQ(a[k].discharge_capacity, b[k].discharge_capacity) << "cycle " << a[k].cycle;
  }
}

TEST(ResumeEngine, AFailingCycleIsRetriedThenReportedWithItsNumber) {
  // A step budget far too small for a 1C charge at any tolerance: every attempt fails.
  Engine e;
  SolverConfig solver = e.config.solver;
  solver.max_steps_per_step = 5;
  Cycler cycler = e.make(solver);
  RunControl control;
  control.retries = 2;
  std::vector<CycleRecord> last;
  cycler.run(
      3, [&](const std::vector<CycleRecord>& r) { last = r; }, nullptr, nullptr, {}, control);
  ASSERT_EQ(last.size(), 1u);
  EXPECT_TRUE(last[0].failed);
  EXPECT_EQ(last[0].cycle, 1);
  EXPECT_EQ(cycler.retried_cycles(), 2);
  EXPECT_EQ(last[0].failure.rfind("cycle 1 failed after 2 retries: ", 0), 0u) << last[0].failure;
  EXPECT_NE(last[0].failure.find("IDA_TOO_MUCH_WORK"), std::string::npos) << last[0].failure;
}

TEST(ResumeEngine, ARetryWithTighterSettingsRescuesACycle) {
  // A step budget just too small at the configured settings: the first attempt fails, the
  // retry (4x the budget, tighter tolerance) succeeds and agrees with an unconstrained run.
  Engine e;
  std::vector<CycleRecord> free_run;
  {
    Cycler cycler = e.make(e.config.solver);
    cycler.run(
        1, [&](const std::vector<CycleRecord>& r) { free_run = r; }, nullptr, nullptr);
  }
  ASSERT_FALSE(free_run[0].failed);
  SolverConfig solver = e.config.solver;
  solver.max_steps_per_step = free_run[0].stats.steps / 6;  // below the longest step's need
  {
    Cycler plain = e.make(solver);
    std::vector<CycleRecord> r0;
    plain.run(
        1, [&](const std::vector<CycleRecord>& r) { r0 = r; }, nullptr, nullptr);
    ASSERT_TRUE(r0[0].failed) << "the budget must be too small without a retry";
  }
  Cycler cycler = e.make(solver);
  RunControl control;
  control.retries = 2;
  std::vector<CycleRecord> rescued;
  cycler.run(
      2, [&](const std::vector<CycleRecord>& r) { rescued.push_back(r[0]); }, nullptr, nullptr, {},
      control);
  ASSERT_EQ(rescued.size(), 2u);
  EXPECT_FALSE(rescued[0].failed) << rescued[0].failure;
  EXPECT_FALSE(rescued[1].failed) << rescued[1].failure;
  EXPECT_GE(cycler.retried_cycles(), 1);
  EXPECT_NEAR(rescued[0].discharge_capacity, free_run[0].discharge_capacity,
              1e-3 * free_run[0].discharge_capacity);
}

}  // namespace
}  // namespace halite

// ResultWriter: file layout, values, overwrite protection, crash safety, extra columns,
// provenance, and that h5py and validation/plot_run.py can read what it writes.
#include <gtest/gtest.h>
#include <hdf5.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "host/app/result_writer.hpp"

namespace fs = std::filesystem;
using halite::ColumnSpec;
using halite::Curve;
using halite::CycleRecord;
using halite::OutputExistsError;
using halite::Provenance;
using halite::ResultWriter;

namespace {

// The per-cycle datasets of shape (cells, cycles) as docs/output.md names them.
const std::vector<std::string> kDocumentedColumns = {
    "Cycle number",
    "Charge capacity [mA.h.g-1]",
    "Discharge capacity [mA.h.g-1]",
    "Coulombic efficiency",
    "Charge energy [mW.h.g-1]",
    "Discharge energy [mW.h.g-1]",
    "Lithium inventory [mol.m-2]",
    "Duration [s]",
    "Simulated",
    "Failed",
    "IDA steps",
    "Residual evaluations",
    "Jacobian evaluations",
    "Nonlinear iterations",
    "Error test failures",
    "Nonlinear convergence failures",
};

CycleRecord make_record(int cell, int cycle) {
  CycleRecord r;
  r.cycle = cycle;
  r.charge_capacity = 150.0 - 0.5 * cycle + 0.1 * cell;
  r.discharge_capacity = 116.0 - 0.25 * cycle - 0.3 * cell;
  r.coulombic_efficiency = r.discharge_capacity / r.charge_capacity;
  r.charge_energy = 3.8 * r.charge_capacity;
  r.discharge_energy = 3.6 * r.discharge_capacity;
  r.lithium_inventory = 0.42 - 1e-3 * cycle - 1e-4 * cell;
  r.duration = 7200.0 + 10.0 * cycle + cell;
  r.step_end_times = {3000.0 + cycle, 3900.0 + cycle, 7200.0 + cycle};
  if (cell == 1) r.step_end_times.push_back(7300.0);  // ragged: padded with NaN
  r.stats.steps = 1000 + 10 * cycle + cell;
  r.stats.residual_evals = 2000 + 10 * cycle + cell;
  r.stats.jacobian_evals = 100 + cycle + cell;
  r.stats.nonlinear_iters = 1500 + cycle + cell;
  r.stats.error_test_fails = cycle + cell;
  r.stats.nonlinear_conv_fails = cell;
  r.simulated = (cycle % 2) == 1;
  r.failed = false;
  return r;
}

std::vector<CycleRecord> make_cycle(int cells, int cycle) {
  std::vector<CycleRecord> out;
  for (int k = 0; k < cells; ++k) out.push_back(make_record(k, cycle));
  return out;
}

Provenance make_provenance(int cells) {
  Provenance p;
  p.version = "9.8.7";
  p.git_commit = "0123456789ab";
  p.config_name = "reference NMC721 | LSPSCl | Li-In";
  p.config_source = "<embedded reference>";
  p.resolved_config_yaml = "name: test\ncell:\n  thickness: 120 um\n";
  p.voltage_reference = "Li+/Li";
  p.active_mass_per_area = 0.252;
  p.is_reference_cell = true;
  for (int k = 0; k < cells; ++k) p.cell_names.push_back("variant " + std::to_string(k));
  return p;
}

// A synthetic CCCV charge / CC discharge curve; time continues from `t0`.
Curve make_curve(int cycle, double t0) {
  Curve c;
  c.cycle = cycle;
  const double i = 37.8;  // A/m^2
  for (int n = 0; n <= 60; ++n) {
    c.points.push_back({t0 + 60.0 * n, 3.6 + 0.7 * n / 60.0, -i, 0});
  }
  for (int n = 1; n <= 60; ++n) {
    c.points.push_back({t0 + 3600.0 + 60.0 * n, 4.3 - 1.6 * n / 60.0, i, 2});
  }
  return c;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool python_can_import(const std::string& modules) {
  const std::string cmd = "python3 -c 'import " + modules + "' >/dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

int run_shell(const std::string& cmd) {
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// "YYYY-MM-DDTHH:MM:SSZ"
bool is_iso8601_utc(const std::string& s) {
  const std::string pattern = "dddd-dd-ddTdd:dd:ddZ";
  if (s.size() != pattern.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const bool ok = pattern[i] == 'd' ? (s[i] >= '0' && s[i] <= '9') : s[i] == pattern[i];
    if (!ok) return false;
  }
  return true;
}

std::string quoted(const std::string& s) {
  return "'" + s + "'";
}

class ResultWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("halite_result_writer_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!HasFailure()) fs::remove_all(dir_);  // kept for inspection when a test fails
  }
  std::string file(const std::string& name) const { return (dir_ / name).string(); }

  // 2 cells, 3 cycles, closed.
  std::string write_three_cycles(const std::string& name) {
    const std::string path = file(name);
    ResultWriter w(path, false, 2, make_provenance(2));
    for (int c = 1; c <= 3; ++c) w.append_cycle(make_cycle(2, c));
    w.close();
    return path;
  }

  fs::path dir_;
};

TEST_F(ResultWriterTest, LayoutMatchesDocumentedNamesAndShapes) {
  const std::string path = write_three_cycles("layout.h5");
  ASSERT_EQ(ResultWriter::builtin_columns().size(), kDocumentedColumns.size());
  for (std::size_t i = 0; i < kDocumentedColumns.size(); ++i) {
    EXPECT_EQ(ResultWriter::builtin_columns()[i].name, kDocumentedColumns[i]);
  }
  for (const auto& name : kDocumentedColumns) {
    SCOPED_TRACE(name);
    const auto data = halite::read_array(path, "/cycles/" + name);
    EXPECT_EQ(data.dims, (std::vector<std::size_t>{2, 3}));
    EXPECT_FALSE(halite::read_string_attribute(path, "/cycles/" + name, "units").empty());
    EXPECT_FALSE(halite::read_string_attribute(path, "/cycles/" + name, "description").empty());
  }
  const auto steps = halite::read_array(path, "/cycles/Step end times [s]");
  EXPECT_EQ(steps.dims, (std::vector<std::size_t>{2, 3, 8}));
  EXPECT_EQ(halite::read_string_attribute(path, "/cycles/Step end times [s]", "units"), "s");
  EXPECT_EQ(halite::read_numeric_attribute(path, "/cycles", "cycles_written"), 3.0);
  EXPECT_EQ(halite::read_string_dataset(path, "/cells/name"),
            (std::vector<std::string>{"variant 0", "variant 1"}));
  EXPECT_EQ(halite::read_string_dataset(path, "/cells/status"),
            (std::vector<std::string>{"running", "running"}));
  EXPECT_EQ(halite::read_string_dataset(path, "/cells/failure reason").size(), 2u);

  // Stored types: doubles, int64 counts, int8 flags.
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  auto type_of = [&](const std::string& name) {
    hid_t d = H5Dopen2(f, ("/cycles/" + name).c_str(), H5P_DEFAULT);
    hid_t t = H5Dget_type(d);
    const H5T_class_t cls = H5Tget_class(t);
    const std::size_t size = H5Tget_size(t);
    H5Tclose(t);
    H5Dclose(d);
    return std::make_pair(cls, size);
  };
  EXPECT_EQ(type_of("Discharge capacity [mA.h.g-1]"), std::make_pair(H5T_FLOAT, std::size_t{8}));
  EXPECT_EQ(type_of("IDA steps"), std::make_pair(H5T_INTEGER, std::size_t{8}));
  EXPECT_EQ(type_of("Simulated"), std::make_pair(H5T_INTEGER, std::size_t{1}));
  EXPECT_EQ(type_of("Failed"), std::make_pair(H5T_INTEGER, std::size_t{1}));
  // Chunked with an unlimited cycle dimension.
  hid_t d = H5Dopen2(f, "/cycles/Duration [s]", H5P_DEFAULT);
  hid_t s = H5Dget_space(d);
  hsize_t dims[2], maxdims[2];
  H5Sget_simple_extent_dims(s, dims, maxdims);
  EXPECT_EQ(maxdims[0], 2u);
  EXPECT_EQ(maxdims[1], H5S_UNLIMITED);
  hid_t dcpl = H5Dget_create_plist(d);
  EXPECT_EQ(H5Pget_layout(dcpl), H5D_CHUNKED);
  H5Pclose(dcpl);
  H5Sclose(s);
  H5Dclose(d);
  H5Fclose(f);
}

TEST_F(ResultWriterTest, ValuesReadBackEqualWhatWasWritten) {
  const std::string path = write_three_cycles("values.h5");
  auto col = [&](const std::string& name) { return halite::read_cycle_column(path, name); };
  const auto cycle = col("Cycle number");
  const auto charge = col("Charge capacity [mA.h.g-1]");
  const auto discharge = col("Discharge capacity [mA.h.g-1]");
  const auto ce = col("Coulombic efficiency");
  const auto e_charge = col("Charge energy [mW.h.g-1]");
  const auto e_discharge = col("Discharge energy [mW.h.g-1]");
  const auto inventory = col("Lithium inventory [mol.m-2]");
  const auto duration = col("Duration [s]");
  const auto simulated = col("Simulated");
  const auto failed = col("Failed");
  const auto steps = col("IDA steps");
  const auto res = col("Residual evaluations");
  const auto jac = col("Jacobian evaluations");
  const auto nli = col("Nonlinear iterations");
  const auto etf = col("Error test failures");
  const auto ncf = col("Nonlinear convergence failures");
  const auto step_times = halite::read_array(path, "/cycles/Step end times [s]");
  ASSERT_EQ(cycle.size(), 2u);
  for (int k = 0; k < 2; ++k) {
    ASSERT_EQ(cycle[k].size(), 3u);
    for (int c = 1; c <= 3; ++c) {
      SCOPED_TRACE("cell " + std::to_string(k) + " cycle " + std::to_string(c));
      const CycleRecord r = make_record(k, c);
      const std::size_t j = static_cast<std::size_t>(c - 1);
      EXPECT_EQ(cycle[k][j], r.cycle);
      EXPECT_EQ(charge[k][j], r.charge_capacity);
      EXPECT_EQ(discharge[k][j], r.discharge_capacity);
      EXPECT_EQ(ce[k][j], r.coulombic_efficiency);
      EXPECT_EQ(e_charge[k][j], r.charge_energy);
      EXPECT_EQ(e_discharge[k][j], r.discharge_energy);
      EXPECT_EQ(inventory[k][j], r.lithium_inventory);
      EXPECT_EQ(duration[k][j], r.duration);
      EXPECT_EQ(simulated[k][j], r.simulated ? 1.0 : 0.0);
      EXPECT_EQ(failed[k][j], 0.0);
      EXPECT_EQ(steps[k][j], r.stats.steps);
      EXPECT_EQ(res[k][j], r.stats.residual_evals);
      EXPECT_EQ(jac[k][j], r.stats.jacobian_evals);
      EXPECT_EQ(nli[k][j], r.stats.nonlinear_iters);
      EXPECT_EQ(etf[k][j], r.stats.error_test_fails);
      EXPECT_EQ(ncf[k][j], r.stats.nonlinear_conv_fails);
      for (std::size_t s = 0; s < 8; ++s) {
        const double v = step_times.values[(static_cast<std::size_t>(k) * 3 + j) * 8 + s];
        if (s < r.step_end_times.size()) {
          EXPECT_EQ(v, r.step_end_times[s]);
        } else {
          EXPECT_TRUE(std::isnan(v)) << "step " << s << " should be NaN padding";
        }
      }
    }
  }
}

TEST_F(ResultWriterTest, ExistingFileWithoutOverwriteThrowsAndIsUntouched) {
  const std::string path = write_three_cycles("exists.h5");
  const std::string bytes = read_bytes(path);
  const auto mtime = fs::last_write_time(path);
  try {
    ResultWriter w(path, false, 1, make_provenance(1));
    FAIL() << "expected OutputExistsError";
  } catch (const OutputExistsError& e) {
    EXPECT_NE(std::string(e.what()).find("--overwrite"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_EQ(e.path(), path);
  }
  EXPECT_EQ(read_bytes(path), bytes);
  EXPECT_EQ(fs::last_write_time(path), mtime);
  EXPECT_EQ(halite::read_cycle_column(path, "Duration [s]")[0].size(), 3u);

  // Any existing file, not only HDF5 ones.
  const std::string text = file("notes.txt");
  std::ofstream(text) << "keep me\n";
  EXPECT_THROW(ResultWriter(text, false, 1, make_provenance(1)), OutputExistsError);
  EXPECT_EQ(read_bytes(text), "keep me\n");
}

TEST_F(ResultWriterTest, OverwriteReplacesTheFile) {
  const std::string path = write_three_cycles("replace.h5");
  {
    Provenance p = make_provenance(1);
    p.config_name = "replacement";
    ResultWriter w(path, true, 1, p);
    w.append_cycle(make_cycle(1, 1));
  }
  EXPECT_EQ(halite::read_string_attribute(path, "/", "config_name"), "replacement");
  const auto d = halite::read_cycle_column(path, "Discharge capacity [mA.h.g-1]");
  ASSERT_EQ(d.size(), 1u);
  ASSERT_EQ(d[0].size(), 1u);
  EXPECT_EQ(d[0][0], make_record(0, 1).discharge_capacity);
}

// Issue 12: the output is made under PATH.creating and renamed into place, so the old file stands
// until the new one is complete (with --overwrite it used to be truncated first); a temporary
// left by a killed writer is taken over, and none is left behind.
TEST_F(ResultWriterTest, TheFileIsCreatedUnderATemporaryNameAndRenamedIntoPlace) {
  const std::string path = (dir_ / "atomic.h5").string();
  std::ofstream(path + ".creating") << "left by a killed run";
  {
    ResultWriter w(path, false, 1, make_provenance(1));
    EXPECT_FALSE(std::filesystem::exists(path + ".creating"));
    EXPECT_TRUE(std::filesystem::exists(path));
    w.append_cycle(make_cycle(1, 1));
  }
  EXPECT_GT(std::filesystem::file_size(path), 0u);
  {  // replaced whole: the new file, not the old one truncated
    Provenance p = make_provenance(1);
    p.config_name = "second";
    ResultWriter w(path, true, 1, p);
  }
  EXPECT_EQ(halite::read_string_attribute(path, "/", "config_name"), "second");
  EXPECT_FALSE(std::filesystem::exists(path + ".creating"));
  // without overwrite an existing file is never replaced, and the temporary does not stay
  EXPECT_THROW(ResultWriter(path, false, 1, make_provenance(1)), OutputExistsError);
  EXPECT_FALSE(std::filesystem::exists(path + ".creating"));
}

// A run killed after two flushed cycles: the cycles are readable while the writer is still open
// in another process, and after that process dies without closing anything (SIGKILL).
TEST_F(ResultWriterTest, FlushedCyclesSurviveAKilledWriter) {
  const std::string path = file("killed.h5");
  int ready[2];
  ASSERT_EQ(::pipe(ready), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(ready[0]);
    int code = 0;
    try {
      ResultWriter w(path, false, 2, make_provenance(2));
      w.append_cycle(make_cycle(2, 1));
      w.append_cycle(make_cycle(2, 2));
      const char c = 'r';
      if (::write(ready[1], &c, 1) != 1) code = 4;
      for (;;) ::pause();  // "still running" until killed; the writer is never destroyed
    } catch (...) {
      code = 3;
    }
    ::_exit(code);
  }
  ::close(ready[1]);
  struct Reaper {
    pid_t pid;
    bool done = false;
    void kill_and_wait() {
      if (done) return;
      ::kill(pid, SIGKILL);
      int status = 0;
      ::waitpid(pid, &status, 0);
      done = true;
    }
    ~Reaper() { kill_and_wait(); }
  } reaper{pid};
  char c = 0;
  ASSERT_EQ(::read(ready[0], &c, 1), 1) << "child writer failed";
  ::close(ready[0]);

  // Writer alive in the child.
  auto live = halite::read_cycle_column(path, "Discharge capacity [mA.h.g-1]");
  ASSERT_EQ(live.size(), 2u);
  ASSERT_EQ(live[0].size(), 2u);
  EXPECT_EQ(live[1][1], make_record(1, 2).discharge_capacity);
  if (python_can_import("h5py")) {
    const std::string script =
        "import h5py,sys\n"
        "f=h5py.File(sys.argv[1],'r')\n"
        "assert f['cycles/Duration [s]'].shape==(2,2), f['cycles/Duration [s]'].shape\n";
    std::ofstream(file("live.py")) << script;
    EXPECT_EQ(run_shell("python3 " + quoted(file("live.py")) + " " + quoted(path)), 0)
        << "h5py could not read the file while the writer was open";
  }

  reaper.kill_and_wait();
  const auto after = halite::read_cycle_column(path, "Discharge capacity [mA.h.g-1]");
  ASSERT_EQ(after.size(), 2u);
  ASSERT_EQ(after[0].size(), 2u);
  for (int k = 0; k < 2; ++k) {
    for (int cyc = 1; cyc <= 2; ++cyc) {
      EXPECT_EQ(after[k][cyc - 1], make_record(k, cyc).discharge_capacity);
    }
  }
  EXPECT_EQ(halite::read_numeric_attribute(path, "/cycles", "cycles_written"), 2.0);
  EXPECT_EQ(halite::read_string_attribute(path, "/", "generator"), "halite");
  EXPECT_EQ(halite::read_string_dataset(path, "/cells/status"),
            (std::vector<std::string>{"running", "running"}));
}

TEST_F(ResultWriterTest, ExtraColumnsAreDeclaredOnceAndAppendedWithEachCycle) {
  const std::string path = file("extra.h5");
  const std::vector<ColumnSpec> extra = {
      {"RSP fraction", "-", "mean volume fraction of rock-salt phase in the cathode particles"},
      {"Max hoop stress [Pa]", "Pa", "largest tangential stress at the particle surface"}};
  {
    ResultWriter w(path, false, 2, make_provenance(2), 8, extra);
    EXPECT_EQ(w.extra_columns().size(), 2u);
    w.append_cycle(make_cycle(2, 1), {{0.01, 0.02}, {1e8, 2e8}});
    w.append_cycle(make_cycle(2, 2));  // no extras given: NaN
    // Bad sizes are rejected before anything is written.
    EXPECT_THROW(w.append_cycle(make_cycle(2, 3), {{0.03, 0.04}}), std::invalid_argument);
    EXPECT_THROW(w.append_cycle(make_cycle(2, 3), {{0.03}, {3e8, 4e8}}), std::invalid_argument);
    EXPECT_THROW(w.append_cycle(make_cycle(1, 3)), std::invalid_argument);
    auto too_many_steps = make_cycle(2, 3);
    too_many_steps[1].step_end_times.assign(9, 1.0);
    EXPECT_THROW(w.append_cycle(too_many_steps), std::invalid_argument);
    EXPECT_EQ(w.cycles(), 2);
    w.append_cycle(make_cycle(2, 3), {{0.03, 0.04}, {3e8, 4e8}});
  }
  const auto rsp = halite::read_cycle_column(path, "RSP fraction");
  const auto stress = halite::read_cycle_column(path, "Max hoop stress [Pa]");
  ASSERT_EQ(rsp.size(), 2u);
  ASSERT_EQ(rsp[0].size(), 3u);
  EXPECT_EQ(rsp[0][0], 0.01);
  EXPECT_EQ(rsp[1][0], 0.02);
  EXPECT_TRUE(std::isnan(rsp[0][1]));
  EXPECT_TRUE(std::isnan(stress[1][1]));
  EXPECT_EQ(rsp[1][2], 0.04);
  EXPECT_EQ(stress[1][2], 4e8);
  EXPECT_EQ(halite::read_cycle_column(path, "Cycle number")[0], (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(halite::read_string_attribute(path, "/cycles/Max hoop stress [Pa]", "units"), "Pa");
  EXPECT_EQ(halite::read_string_attribute(path, "/cycles/RSP fraction", "description"),
            extra[0].description);

  // Invalid declarations.
  EXPECT_THROW(ResultWriter(file("bad1.h5"), false, 1, {}, 8, {{"a/b", "", ""}}),
               std::invalid_argument);
  EXPECT_THROW(ResultWriter(file("bad2.h5"), false, 1, {}, 8, {{"Duration [s]", "s", ""}}),
               std::invalid_argument);
  EXPECT_FALSE(fs::exists(file("bad1.h5")));
}

TEST_F(ResultWriterTest, ProvenanceAttributesArePresent) {
  const std::string path = file("provenance.h5");
  Provenance p = make_provenance(2);
  p.date.clear();  // filled by the writer
  p.version.clear();
  std::string big_yaml;
  while (big_yaml.size() < 200000) big_yaml += "key_" + std::to_string(big_yaml.size()) + ": 1\n";
  p.resolved_config_yaml = big_yaml;  // larger than an HDF5 compact attribute (64 KiB)
  { ResultWriter w(path, false, 2, p); }
  auto attr = [&](const std::string& name) {
    return halite::read_string_attribute(path, "/", name);
  };
  EXPECT_EQ(attr("generator"), "halite");
  EXPECT_FALSE(attr("version").empty());
  EXPECT_EQ(attr("git_commit"), "0123456789ab");
  EXPECT_TRUE(is_iso8601_utc(attr("date"))) << attr("date");
  EXPECT_EQ(attr("config_name"), p.config_name);
  EXPECT_EQ(attr("config_source"), "<embedded reference>");
  EXPECT_EQ(attr("resolved_config_yaml"), big_yaml);
  EXPECT_EQ(attr("voltage_reference"), "Li+/Li");
  EXPECT_EQ(attr("current_sign_convention"), "positive current = discharge");
  EXPECT_EQ(attr("format"), "halite-result");
  EXPECT_EQ(halite::read_numeric_attribute(path, "/", "reference_cell"), 1.0);
  EXPECT_EQ(halite::read_numeric_attribute(path, "/", "active_mass_per_area [kg.m-2]"), 0.252);
  EXPECT_EQ(halite::read_numeric_attribute(path, "/", "cells"), 2.0);
  EXPECT_EQ(halite::read_numeric_attribute(path, "/", "max_steps"), 8.0);
  EXPECT_EQ(attr("backend"), "cpu");
  // Replaced in place (a run resumed on another backend); old files without it read as cpu.
  {
    auto w = ResultWriter::open_existing(path);
    EXPECT_EQ(w.provenance().backend, "cpu");
    w.set_attribute("backend", "cpu,cuda");
    EXPECT_EQ(w.provenance().backend, "cpu,cuda");
  }
  EXPECT_EQ(attr("backend"), "cpu,cuda");
}

// A fixed table (halite sweep): full width from the start, rows written in any order and any
// block of cycles, the rest NaN / 0 and "not run"; append_cycle refused; a bad block rejected
// before anything is written.
TEST_F(ResultWriterTest, FixedTableIsFilledRowByRow) {
  const std::string path = file("fixed.h5");
  halite::TableLayout layout;
  layout.fixed_cycles = 3;
  layout.rows_per_write = 2;
  ResultWriter w(path, false, 5, make_provenance(5), 8,
                 {{"RSP fraction", "-", "mean rock-salt phase fraction"}}, layout);
  EXPECT_TRUE(w.fixed_table());
  EXPECT_EQ(w.cycles(), 3);
  EXPECT_THROW(w.append_cycle(make_cycle(5, 1)), std::logic_error);
  EXPECT_EQ(halite::read_string_dataset(path, "/cells/status"),
            std::vector<std::string>(5, "not run"));

  // Rows 1 and 3 (not contiguous), cycles 2..3, then cycle 1; row 4 fails in cycle 2.
  auto rows = [](const std::vector<int>& cells, int first, int count) {
    halite::RowBlock block;
    block.cells = cells;
    block.first_cycle = first;
    for (int c = first; c < first + count; ++c) {
      std::vector<CycleRecord> records;
      for (int cell : cells) records.push_back(make_record(cell, c + 1));
      block.records.push_back(records);
    }
    block.extra.assign(1, {});
    for (int c = 0; c < count; ++c)
      for (int cell : cells) block.extra[0].push_back(0.01 * cell + 0.001 * (first + c));
    return block;
  };
  halite::RowBlock later = rows({1, 3}, 1, 2);
  later.status = {"running", "running"};
  later.reason = {"", ""};
  w.write_rows(later);
  halite::RowBlock first = rows({1, 3}, 0, 1);
  first.status = {"completed", "completed"};
  first.reason = {"", ""};
  w.write_rows(first);
  halite::RowBlock failing = rows({4}, 0, 2);
  failing.records[1][0].failed = true;
  failing.records[1][0].failure = "cycle 2 failed";
  w.write_rows(failing);
  // Rejected: rows out of order, beyond the table, records of the wrong size.
  EXPECT_THROW(w.write_rows(rows({3, 1}, 0, 1)), std::invalid_argument);
  EXPECT_THROW(w.write_rows(rows({0}, 2, 2)), std::invalid_argument);
  halite::RowBlock ragged = rows({0, 2}, 0, 1);
  ragged.records[0].pop_back();
  EXPECT_THROW(w.write_rows(ragged), std::invalid_argument);
  w.close();

  EXPECT_EQ(halite::read_numeric_attribute(path, "/cycles", "cycles_written"), 3.0);
  const auto discharge = halite::read_cycle_column(path, "Discharge capacity [mA.h.g-1]");
  const auto number = halite::read_cycle_column(path, "Cycle number");
  const auto rsp = halite::read_cycle_column(path, "RSP fraction");
  ASSERT_EQ(discharge.size(), 5u);
  for (int cell : {1, 3}) {
    for (int c = 0; c < 3; ++c) {
      EXPECT_EQ(discharge[cell][c], make_record(cell, c + 1).discharge_capacity);
      EXPECT_EQ(number[cell][c], c + 1);
      EXPECT_DOUBLE_EQ(rsp[cell][c], 0.01 * cell + 0.001 * c);
    }
  }
  for (int cell : {0, 2}) {
    for (int c = 0; c < 3; ++c) {
      EXPECT_TRUE(std::isnan(discharge[cell][c]));
      EXPECT_EQ(number[cell][c], 0.0);
      EXPECT_TRUE(std::isnan(rsp[cell][c]));
    }
  }
  EXPECT_EQ(number[4], (std::vector<double>{1, 2, 0}));
  const auto steps = halite::read_array(path, "/cycles/Step end times [s]");
  ASSERT_EQ(steps.dims, (std::vector<std::size_t>{5, 3, 8}));
  EXPECT_EQ(steps.values[(1 * 3 + 2) * 8 + 3], 7300.0);  // row 1 (ragged), cycle 3, step 4
  EXPECT_TRUE(std::isnan(steps.values[(3 * 3 + 2) * 8 + 3]));
  EXPECT_EQ(halite::read_string_dataset(path, "/cells/status"),
            (std::vector<std::string>{"not run", "completed", "not run", "completed", "failed"}));
  EXPECT_EQ(halite::read_string_dataset(path, "/cells/failure reason")[4], "cycle 2 failed");
}

// Extra datasets, links and attributes beside the table (the /cases group of a sweep).
TEST_F(ResultWriterTest, StringsIntegersLinksAndAttributes) {
  const std::string path = file("extras.h5");
  {
    ResultWriter w(path, false, 2, make_provenance(2));
    w.write_strings("/cases/pressure", {"50 MPa", "760 MPa"}, "as written");
    w.write_int_array("/cases/index", {0, 1}, {}, "-", "case index");
    w.add_link("/cells/status", "/cases/status");
    w.set_attribute("sweep_design", "list");
    w.set_attribute("sweep_seed", std::int64_t{42});
    w.set_attribute("sweep_design", "sobol");  // replaced
    EXPECT_THROW(w.write_strings("/cases/pressure", {"x", "y"}), std::runtime_error);
    EXPECT_THROW(w.add_link("/cells/nothing", "/cases/nothing"), std::runtime_error);
    w.set_cell_status(1, "failed", "why");
  }
  EXPECT_EQ(halite::read_string_dataset(path, "/cases/pressure"),
            (std::vector<std::string>{"50 MPa", "760 MPa"}));
  EXPECT_EQ(halite::read_array(path, "/cases/index").values, (std::vector<double>{0, 1}));
  EXPECT_EQ(halite::read_string_dataset(path, "/cases/status"),
            (std::vector<std::string>{"running", "failed"}));  // the same dataset as /cells/status
  EXPECT_EQ(halite::read_string_attribute(path, "/", "sweep_design"), "sobol");
  EXPECT_EQ(halite::read_numeric_attribute(path, "/", "sweep_seed"), 42.0);
  EXPECT_EQ(halite::read_string_attribute(path, "/cases/pressure", "description"), "as written");
}

TEST_F(ResultWriterTest, CurvesStatusAndArrays) {
  const std::string path = file("curves.h5");
  {
    Provenance p = make_provenance(2);
    p.voltage_reference = "Li-In";
    ResultWriter w(path, false, 2, p);
    w.write_curve(1, make_curve(3, 1000.0));
    w.write_curve(0, Curve{7, {}});  // empty curve is allowed
    EXPECT_THROW(w.write_curve(1, make_curve(3, 0.0)), std::runtime_error);  // never replaced
    EXPECT_THROW(w.write_curve(2, make_curve(1, 0.0)), std::invalid_argument);
    auto records = make_cycle(2, 1);
    records[0].failed = true;
    records[0].failure = "IDASolve: IDA_CONV_FAIL at t = 1234 s";
    w.append_cycle(records);
    w.set_cell_status(1, "completed");
    w.write_array("cathode/Particle concentration [mol.m-3]", {1, 2, 3, 4, 5, 6}, {2, 3}, "mol.m-3",
                  "c_s at the end of the run");
    w.write_array("/extra/flat", {1.5, 2.5}, {}, "-");
    EXPECT_THROW(w.write_array("cathode/Particle concentration [mol.m-3]", {1}, {1}, "-"),
                 std::runtime_error);
    EXPECT_THROW(w.write_array("bad", {1, 2, 3}, {2, 2}, "-"), std::invalid_argument);
  }
  const std::string g = "/curves/cell_1/cycle_3";
  const auto t = halite::read_array(path, g + "/Time [s]");
  const auto v = halite::read_array(path, g + "/Voltage [V]");
  const auto i = halite::read_array(path, g + "/Current density [A.m-2]");
  const auto s = halite::read_array(path, g + "/Step index");
  const Curve expected = make_curve(3, 1000.0);
  ASSERT_EQ(t.values.size(), expected.points.size());
  for (std::size_t n = 0; n < expected.points.size(); ++n) {
    EXPECT_EQ(t.values[n], expected.points[n].time);
    EXPECT_EQ(v.values[n], expected.points[n].voltage);
    EXPECT_EQ(i.values[n], expected.points[n].current_density);
    EXPECT_EQ(s.values[n], expected.points[n].step);
  }
  EXPECT_EQ(halite::read_numeric_attribute(path, g, "cycle"), 3.0);
  EXPECT_EQ(halite::read_string_attribute(path, g, "voltage_reference"), "Li-In");
  EXPECT_EQ(halite::read_string_attribute(path, g + "/Voltage [V]", "units"), "V");
  EXPECT_EQ(halite::read_array(path, "/curves/cell_0/cycle_7/Time [s]").dims,
            (std::vector<std::size_t>{0}));

  EXPECT_EQ(halite::read_string_dataset(path, "/cells/status"),
            (std::vector<std::string>{"failed", "completed"}));
  EXPECT_EQ(halite::read_string_dataset(path, "/cells/failure reason"),
            (std::vector<std::string>{"IDASolve: IDA_CONV_FAIL at t = 1234 s", ""}));
  EXPECT_EQ(halite::read_cycle_column(path, "Failed")[0][0], 1.0);

  const auto cs = halite::read_array(path, "/final_state/cathode/Particle concentration [mol.m-3]");
  EXPECT_EQ(cs.dims, (std::vector<std::size_t>{2, 3}));
  EXPECT_EQ(cs.values, (std::vector<double>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(halite::read_string_attribute(
                path, "/final_state/cathode/Particle concentration [mol.m-3]", "units"),
            "mol.m-3");
  EXPECT_EQ(halite::read_array(path, "/extra/flat").values, (std::vector<double>{1.5, 2.5}));
}

TEST_F(ResultWriterTest, HdfErrorsNameTheCallAndThePath) {
  const std::string path = file("no/such/dir/run.h5");
  try {
    ResultWriter w(path, true, 1, {});
    FAIL() << "expected std::runtime_error";
  } catch (const OutputExistsError&) {
    FAIL() << "wrong exception type";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("H5Fcreate"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  try {
    halite::read_cycle_column(write_three_cycles("ok.h5"), "No such column");
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("H5Dopen2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("/cycles/No such column"), std::string::npos) << e.what();
  }
  EXPECT_THROW(ResultWriter(file("zero.h5"), false, 0, {}), std::invalid_argument);
}

TEST_F(ResultWriterTest, MovedWriterKeepsWriting) {
  const std::string path = file("moved.h5");
  ResultWriter a(path, false, 1, make_provenance(1));
  a.append_cycle(make_cycle(1, 1));
  ResultWriter b = std::move(a);
  b.append_cycle(make_cycle(1, 2));
  b.close();
  EXPECT_THROW(b.append_cycle(make_cycle(1, 3)), std::logic_error);
  EXPECT_EQ(halite::read_cycle_column(path, "Cycle number")[0], (std::vector<double>{1, 2}));
}

TEST_F(ResultWriterTest, H5pyReadsTheFile) {
  if (!python_can_import("h5py")) GTEST_SKIP() << "python3 with h5py not available";
  const std::string path = write_three_cycles("h5py.h5");
  const std::string script = R"py(
import sys, h5py
f = h5py.File(sys.argv[1], "r")
for key in ("generator", "version", "git_commit", "date", "config_source",
            "resolved_config_yaml", "voltage_reference", "current_sign_convention"):
    assert isinstance(f.attrs[key], str), (key, type(f.attrs[key]))
assert f.attrs["generator"] == "halite"
assert f.attrs["voltage_reference"] == "Li+/Li"
assert int(f.attrs["reference_cell"]) == 1
c = f["cycles"]
assert c["Discharge capacity [mA.h.g-1]"].shape == (2, 3)
assert c["Step end times [s]"].shape == (2, 3, 8)
assert c["Simulated"].dtype.itemsize == 1
assert isinstance(c["Duration [s]"].attrs["units"], str)
assert list(c["Cycle number"][0]) == [1, 2, 3]
assert list(f["cells/name"].asstr()[:]) == ["variant 0", "variant 1"]
assert list(f["cells/status"].asstr()[:]) == ["running", "running"]
print("h5py ok")
)py";
  std::ofstream(file("check.py")) << script;
  EXPECT_EQ(run_shell("python3 " + quoted(file("check.py")) + " " + quoted(path)), 0);
}

TEST_F(ResultWriterTest, PlotRunWritesPngs) {
  if (!python_can_import("h5py, numpy, matplotlib")) {
    GTEST_SKIP() << "python3 with h5py, numpy and matplotlib not available";
  }
  const std::string path = file("plot.h5");
  {
    ResultWriter w(path, false, 2, make_provenance(2));
    for (int c = 1; c <= 5; ++c) {
      w.append_cycle(make_cycle(2, c));
      if (c == 1 || c == 5) {
        for (int k = 0; k < 2; ++k) w.write_curve(k, make_curve(c, 8000.0 * (c - 1)));
      }
    }
  }
  const std::string outdir = file("plots");
  const std::string script = std::string(HALITE_SOURCE_DIR) + "/validation/plot_run.py";
  const std::string cmd = "MPLBACKEND=Agg python3 " + quoted(script) + " " + quoted(path) +
                          " --outdir " + quoted(outdir) + " > " + quoted(file("plot.log")) +
                          " 2>&1";
  const int rc = run_shell(cmd);
  EXPECT_EQ(rc, 0) << read_bytes(file("plot.log"));
  for (const char* png :
       {"capacity.png", "retention.png", "voltage_cell_0.png", "voltage_cell_1.png"}) {
    EXPECT_TRUE(fs::exists(fs::path(outdir) / png)) << png << "\n" << read_bytes(file("plot.log"));
    if (fs::exists(fs::path(outdir) / png)) {
      EXPECT_GT(fs::file_size(fs::path(outdir) / png), 1000u);
    }
  }
  // A file without curves or active mass still plots (optional pieces missing).
  const std::string bare = file("bare.h5");
  {
    ResultWriter w(bare, false, 1, {});
    w.append_cycle(make_cycle(1, 1));
  }
  EXPECT_EQ(
      run_shell("MPLBACKEND=Agg python3 " + quoted(script) + " " + quoted(bare) + " --outdir " +
                quoted(file("bare_plots")) + " > " + quoted(file("bare.log")) + " 2>&1"),
      0)
      << read_bytes(file("bare.log"));
  EXPECT_TRUE(fs::exists(fs::path(file("bare_plots")) / "capacity.png"));
}

}  // namespace

// `halite validate`: exit 0 when every measured value is inside its band, 4 when one is not, 2
// for every malformed DATA.yaml or CSV with the file, line and column, 3 when a run fails; the
// HDF5 holds measured vs simulated per point; the reference cell's own data reproduces the table
// of docs/validation.md. The small cases use a test mesh and a three-cycle protocol.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "host/app/result_writer.hpp"
#include "tests/halite_binary.hpp"

namespace halite {
namespace {

using halite::testing::Outcome;
using halite::testing::run_halite;

const std::vector<std::string> kTestMesh = {"--set", "mesh.radial_shells=8", "--set",
                                            "mesh.cathode_nodes=4"};
// Three cycles of the reference protocol's first block, as a dataset's protocol context.
constexpr const char* kShortProtocol = R"(    protocol:
      blocks:
        - repeat: 3
          steps:
            - Charge at 1C until 4.3 V
            - Hold at 4.3 V for 15 minutes
            - Discharge at 1C until 2.7 V
)";

class Validate : public ::testing::Test {
 protected:
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  std::string write(const std::string& name, const std::string& text) const {
    std::ofstream(dir_ / name) << text;
    return path(name);
  }
  Outcome validate(const std::vector<std::string>& args) const {
    std::vector<std::string> all = {"validate", "-q", "--overwrite", "-o", path("v.h5")};
    all.insert(all.end(), args.begin(), args.end());
    all.insert(all.end(), kTestMesh.begin(), kTestMesh.end());
    return run_halite(dir_, all);
  }
  // The discharge capacities of three cycles of the test cell (halite run).
  std::vector<double> simulated_capacities() const {
    std::vector<std::string> args = {"run", "-q", "--no-skip", "--cycles", "3", "-o", path("r.h5")};
    args.insert(args.end(), kTestMesh.begin(), kTestMesh.end());
    EXPECT_EQ(run_halite(dir_, args).exit_code, 0);
    return read_cycle_column(path("r.h5"), "Discharge capacity [mA.h.g-1]").at(0);
  }
  // A fade dataset of three cycles with `capacities` (mAh/g) and a band of `band`.
  std::string fade_data(const std::vector<double>& capacities, const std::string& band) const {
    std::string csv = "# three cycles of the test cell\ncycle,capacity,note\n";
    for (std::size_t k = 0; k < capacities.size(); ++k)
      csv += fmt::format("{},{:.17g},row {}\n", k + 1, capacities[k], k + 1);
    write("fade.csv", csv);
    return write("data.yaml",
                 "name: test cell\ndatasets:\n  - name: fade\n    file: fade.csv\n"
                 "    type: cycles\n    columns:\n      capacity: {quantity: "
                 "discharge_capacity, unit: mAh/g, band: " +
                     band + "}\n" + kShortProtocol);
  }
  // Expects exit 2 and an error that starts with FILE:LINE:COLUMN: and contains `fragment`.
  void expect_located(const Outcome& out, const std::string& file, int line, int column,
                      const std::string& fragment) const {
    EXPECT_EQ(out.exit_code, 2) << out.err;
    const std::string prefix = fmt::format("{}:{}:{}: ", file, line, column);
    EXPECT_EQ(out.err.rfind(prefix, 0), 0u) << "expected " << prefix << " in:\n" << out.err;
    EXPECT_NE(out.err.find(fragment), std::string::npos) << out.err;
  }
  halite::testing::ScratchDirectory scratch_{"halite_validate"};
  const std::filesystem::path& dir_ = scratch_.path();
};

TEST_F(Validate, ValuesInsideTheirBandsExitZeroAndAreWrittenPerPoint) {
  const auto q = simulated_capacities();
  const Outcome out = validate({fade_data(q, "0.5 mAh/g")});
  ASSERT_EQ(out.exit_code, 0) << out.err << out.out;
  EXPECT_NE(out.out.find("3 of 3 inside their bands"), std::string::npos) << out.out;
  const std::string v = path("v.h5");
  const auto measured = read_array(v, "/validation/measured").values;
  const auto simulated = read_array(v, "/validation/simulated").values;
  const auto pass = read_array(v, "/validation/pass").values;
  ASSERT_EQ(simulated.size(), 3u);
  for (std::size_t k = 0; k < 3; ++k) {
    EXPECT_NEAR(simulated[k], q[k], 1e-6 * q[k]);  // the same cell, the same cycles
    EXPECT_DOUBLE_EQ(measured[k], q[k]);
    EXPECT_EQ(pass[k], 1.0);
  }
  EXPECT_EQ(read_string_dataset(v, "/validation/source").at(2), path("fade.csv") + ":5");
  // the run's own table is in the file in the standard layout
  EXPECT_NEAR(read_cycle_column(v, "Discharge capacity [mA.h.g-1]").at(0).at(2), q[2], 1e-6 * q[2]);
}

TEST_F(Validate, AValueOutsideItsBandExitsFour) {
  auto q = simulated_capacities();
  q[1] += 2.0;  // 2 mAh/g off, band 0.5
  const Outcome out = validate({fade_data(q, "0.5 mAh/g")});
  EXPECT_EQ(out.exit_code, 4) << out.err;
  EXPECT_NE(out.out.find("| fade | discharge_capacity | 2 |"), std::string::npos) << out.out;
  EXPECT_NE(out.out.find("FAIL"), std::string::npos) << out.out;
  EXPECT_NE(out.out.find("2 of 3 inside their bands"), std::string::npos) << out.out;
  const auto pass = read_array(path("v.h5"), "/validation/pass").values;
  EXPECT_EQ(pass, (std::vector<double>{1, 0, 1}));
}

// A voltage curve: the simulated discharge of cycle 1 itself (capacity from the integral of
// the current, scaled to the cycle's discharge capacity) matches within 1 mV RMS; shifted by
// 20 mV it is 20 mV off and fails a 5 mV band.
TEST_F(Validate, AVoltageCurveIsComparedAtTheMeasuredCapacities) {
  const auto q = simulated_capacities();
  const std::string run = path("r.h5");
  const auto t = read_array(run, "/curves/cell_0/cycle_1/Time [s]").values;
  const auto v = read_array(run, "/curves/cell_0/cycle_1/Voltage [V]").values;
  const auto i = read_array(run, "/curves/cell_0/cycle_1/Current density [A.m-2]").values;
  std::vector<double> charge(t.size(), 0.0);  // C/m^2 moved on discharge so far
  for (std::size_t k = 1; k < t.size(); ++k)
    charge[k] = charge[k - 1] +
                (i[k] > 0 && i[k - 1] > 0 ? 0.5 * (i[k] + i[k - 1]) * (t[k] - t[k - 1]) : 0);
  auto curve = [&](double shift) {
    std::string csv = "capacity,voltage\n";
    double last = -1;
    for (std::size_t k = 0; k < t.size(); k += 7) {
      if (i[k] <= 0) continue;
      const double capacity = charge[k] / charge.back() * q[0];
      if (capacity <= last || capacity > 0.98 * q[0]) continue;
      last = capacity;
      csv += fmt::format("{:.12g},{:.12g}\n", capacity, v[k] + shift);
    }
    write("curve.csv", csv);
    return write("curve.yaml",
                 "datasets:\n  - name: curve\n    file: curve.csv\n    type: curve\n"
                 "    cycle: 1\n    band: 5 mV\n" +
                     std::string(kShortProtocol));
  };
  const Outcome same = validate({curve(0.0)});
  ASSERT_EQ(same.exit_code, 0) << same.err << same.out;
  const double rms = read_array(path("v.h5"), "/validation/simulated").values.at(0);
  EXPECT_LT(rms, 1.0) << "mV";
  const Outcome shifted = validate({curve(0.020)});
  EXPECT_EQ(shifted.exit_code, 4) << shifted.err << shifted.out;
  EXPECT_NEAR(read_array(path("v.h5"), "/validation/simulated").values.at(0), 20.0, 1.0);
}

TEST_F(Validate, MalformedDataIsLocated) {
  const std::string fade = write("fade.csv", "cycle,capacity\n1,110\n3,100\n2,105\n");
  const std::string yaml_head = "datasets:\n  - name: fade\n    file: fade.csv\n    type: cycles\n";
  // cycles that do not increase: the CSV's line and column
  const std::string data =
      write("a.yaml", yaml_head +
                          "    columns:\n      capacity: {quantity: discharge_capacity, unit: "
                          "mAh/g, band: 3 mAh/g}\n" +
                          kShortProtocol);
  expect_located(validate({data}), fade, 4, 1, "the cycles must increase");
  // an unknown column: DATA.yaml's line and column of the key
  const std::string unknown =
      write("b.yaml", yaml_head +
                          "    columns:\n      capacty: {quantity: discharge_capacity, band: 3 "
                          "mAh/g}\n" +
                          kShortProtocol);
  expect_located(validate({unknown}), unknown, 6, 7, "has no column 'capacty'");
  // a unit of the wrong dimension, in the CSV's value column
  write("ok.csv", "cycle,capacity\n1,110\n2,105\n");
  const std::string bad_unit =
      write("c.yaml",
            "datasets:\n  - name: fade\n    file: ok.csv\n    type: cycles\n    columns:\n"
            "      capacity: {quantity: discharge_capacity, unit: MPa, band: 3 mAh/g}\n" +
                std::string(kShortProtocol));
  expect_located(validate({bad_unit}), path("ok.csv"), 2, 3, "unit 'MPa'");
  // not a number
  write("nan.csv", "cycle,capacity\n1,11o\n");
  const std::string not_number =
      write("d.yaml",
            "datasets:\n  - name: fade\n    file: nan.csv\n    type: cycles\n    columns:\n"
            "      capacity: {quantity: discharge_capacity, unit: mAh/g, band: 3 mAh/g}\n" +
                std::string(kShortProtocol));
  expect_located(validate({not_number}), path("nan.csv"), 2, 3, "'11o' is not a number");
  // an unknown key in DATA.yaml, with the allowed ones
  const std::string key =
      write("e.yaml", "datasets:\n  - name: fade\n    file: ok.csv\n    typ: cycles\n");
  expect_located(validate({key}), key, 4, 5, "unknown key 'typ'");
  // a cycle beyond the dataset's protocol (3 cycles)
  write("late.csv", "cycle,capacity\n1,110\n7,100\n");
  const std::string late =
      write("f.yaml",
            "datasets:\n  - name: fade\n    file: late.csv\n    type: cycles\n    columns:\n"
            "      capacity: {quantity: discharge_capacity, unit: mAh/g, band: 3 mAh/g}\n" +
                std::string(kShortProtocol));
  expect_located(validate({late}), path("late.csv"), 3, 1, "beyond the 3 cycle(s)");
  // a point without a band, and an unknown quantity
  write("points.csv", "quantity,cycle,value,unit,lower,upper\nmean_rsp_fraction,2,0.1,,,\n");
  const std::string points =
      write("g.yaml", "datasets:\n  - name: p\n    file: points.csv\n    type: points\n" +
                          std::string(kShortProtocol));
  expect_located(validate({points}), path("points.csv"), 2, 26, "no band");
  write("q.csv", "quantity,cycle,value,unit,lower,upper\nrsp_fraktion,2,0.1,,0,1\n");
  const std::string quantity =
      write("h.yaml", "datasets:\n  - name: p\n    file: q.csv\n    type: points\n" +
                          std::string(kShortProtocol));
  expect_located(validate({quantity}), path("q.csv"), 2, 1, "unknown quantity 'rsp_fraktion'");
  // a missing CSV file: where DATA.yaml names it
  const std::string missing =
      write("i.yaml", "datasets:\n  - name: fade\n    file: nowhere.csv\n    type: points\n");
  expect_located(validate({missing}), missing, 3, 11, "no such file");
  // a bad override in the dataset's protocol is blamed on the dataset
  const std::string bad_protocol =
      write("j.yaml",
            "datasets:\n  - name: p\n    file: points.csv\n    type: points\n    protocol:\n"
            "      blocks: [{repeat: 1, steps: [Charge at 1C until 9 V]}]\n");
  const Outcome out = validate({bad_protocol});
  EXPECT_EQ(out.exit_code, 2) << out.err;
  EXPECT_EQ(out.err.rfind(bad_protocol + ":2:5: ", 0), 0u) << out.err;
}

TEST_F(Validate, AFailedRunExitsThreeAndItsPointsFail) {
  // a rest longer than the 500 h a step may last: no solver setting can save it
  write("p.csv", "quantity,cycle,value,unit,lower,upper\ndischarge_capacity,2,100,mAh/g,90,110\n");
  const std::string data =
      write("data.yaml",
            "datasets:\n  - name: p\n    file: p.csv\n    type: points\n    protocol:\n"
            "      blocks: [{repeat: 3, steps: [Charge at 1C until 4.3 V, Rest for 600 "
            "hours]}]\n");
  const Outcome out = validate({data});
  EXPECT_EQ(out.exit_code, 3) << out.err << out.out;
  EXPECT_NE(out.out.find("FAIL (the run stopped at cycle 1: "), std::string::npos) << out.out;
}

// `halite validate` with no arguments: the reference cell's data (compiled in) over the full
// protocol reproduces the calibration table of docs/validation.md (model column, as printed
// there; the same numbers as validation/targets.py).
TEST_F(Validate, TheReferenceCellReproducesTheTableOfTheDocs) {
  const Outcome out =
      run_halite(dir_, {"validate", "-q", "--overwrite", "-o", path("reference.h5")});
  ASSERT_EQ(out.exit_code, 0) << out.err << out.out;
  EXPECT_NE(out.out.find("10 of 10 inside their bands"), std::string::npos) << out.out;
  const auto simulated = read_array(path("reference.h5"), "/validation/simulated").values;
  const auto quantity = read_string_dataset(path("reference.h5"), "/validation/quantity");
  const auto cycle = read_array(path("reference.h5"), "/validation/cycle").values;
  struct Row {
    const char* quantity;
    int cycle;
    double value, rounding;  // as printed in docs/validation.md: +- half its last digit
  };
  const Row rows[] = {{"discharge_capacity", 1, 115.1, 0.05},
                      {"coulombic_efficiency", 1, 76.54, 0.005},
                      {"retention", 2000, 82.75, 0.005},
                      {"retention", 4000, 76.50, 0.005},
                      {"discharge_capacity", 4001, 88.05, 0.005},
                      {"discharge_capacity", 2, 151.3, 0.05},
                      {"mean_rsp_fraction", 4000, 0.949, 0.0005},
                      {"transition_layer_thickness", 4000, 1.053, 0.0005},
                      {"max_crack_length", 4000, 0.044, 0.0005}};
  for (const Row& row : rows) {
    bool found = false;
    for (std::size_t i = 0; i < quantity.size(); ++i) {
      if (quantity[i] != row.quantity || static_cast<int>(cycle[i]) != row.cycle) continue;
      found = true;
      EXPECT_NEAR(simulated[i], row.value, row.rounding + 1e-9)
          << row.quantity << " at " << row.cycle;
    }
    EXPECT_TRUE(found) << row.quantity << " at " << row.cycle;
  }
}

}  // namespace
}  // namespace halite

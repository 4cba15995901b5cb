// halite from C++: the reference cell at a lower stack pressure, 5 cycles in memory with a
// progress observer, then the same written to HDF5 and read back.
#include <cstdio>
#include <halite/halite.hpp>
#include <string>

namespace {

class PrintProgress : public halite::api::Observer {
 public:
  void on_progress(const halite::api::Progress& p) override {
    std::printf("cycle %d/%d: %.2f mAh/g\n", p.cycle, p.total_cycles, p.discharge_capacity);
  }
};

}  // namespace

int main(int argc, char** argv) {
  namespace api = halite::api;
  const std::string output = argc > 1 ? argv[1] : "example_run.h5";
  try {
    const api::Config config =
        api::Config::load("", {"cell.mechanics.stack_pressure=300 MPa"});  // "" = reference cell
    api::RunSettings settings;
    settings.max_cycles = 5;
    PrintProgress progress;
    const api::Result result = api::run(config, settings, &progress);
    const auto& cell = result.cells.front();
    const auto& discharge = cell.cycles.column("Discharge capacity [mA.h.g-1]");
    std::printf("halite %s, API %d.%d: %s, %s, %d cycles, last %.3f mAh/g\n",
                api::version().c_str(), api::kApiVersionMajor, api::kApiVersionMinor,
                cell.name.c_str(), cell.status.c_str(), cell.cycles.cycles(), discharge.back());

    if (api::run_to_file(config, output, settings, /*overwrite=*/true) != 0) return 1;
    const api::Result file = api::read_result(output);
    const double from_file =
        file.cells.front().cycles.column("Discharge capacity [mA.h.g-1]").back();
    std::printf("from %s: %.3f mAh/g (%s)\n", output.c_str(), from_file,
                from_file == discharge.back() ? "identical" : "DIFFERENT");
    return from_file == discharge.back() ? 0 : 1;
  } catch (const api::ConfigError& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  } catch (const api::Error& e) {
    std::fprintf(stderr, "halite: %s\n", e.what());
    return 1;
  }
}

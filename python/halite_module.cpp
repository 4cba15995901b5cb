// halite._halite: the public C++ API (include/halite/halite.hpp) for Python. Results come back
// as dicts of NumPy arrays that python/halite/__init__.py turns into pandas DataFrames. The GIL
// is released while the engine integrates; the observer takes it back for the progress callback
// and to see Ctrl-C (KeyboardInterrupt stops the run at the next cycle boundary, keeping every
// finished cycle).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <halite/halite.hpp>
#include <string>
#include <vector>

namespace py = pybind11;
namespace api = halite::api;

namespace {

py::array_t<double> array_of(const std::vector<double>& values) {
  return py::array_t<double>(static_cast<py::ssize_t>(values.size()), values.data());
}

const char* kind_name(api::ColumnKind kind) {
  switch (kind) {
    case api::ColumnKind::kFloat:
      return "float";
    case api::ColumnKind::kInt:
      return "int";
    case api::ColumnKind::kFlag:
      return "flag";
  }
  return "float";
}

py::dict cell_dict(const api::CellResult& cell) {
  py::dict d;
  d["name"] = cell.name;
  d["status"] = cell.status;
  d["reason"] = cell.reason;
  py::list names, units, descriptions, kinds, values;
  for (std::size_t k = 0; k < cell.cycles.columns.size(); ++k) {
    const auto& c = cell.cycles.columns[k];
    names.append(c.name);
    units.append(c.units);
    descriptions.append(c.description);
    kinds.append(kind_name(c.kind));
    values.append(array_of(cell.cycles.values[k]));
  }
  d["columns"] = names;
  d["units"] = units;
  d["descriptions"] = descriptions;
  d["kinds"] = kinds;
  d["values"] = values;
  const auto& steps = cell.cycles.step_end_times;
  const py::ssize_t width = steps.empty() ? 0 : static_cast<py::ssize_t>(steps.front().size());
  py::array_t<double> step_array({static_cast<py::ssize_t>(steps.size()), width});
  auto view = step_array.mutable_unchecked<2>();
  for (py::ssize_t i = 0; i < view.shape(0); ++i)
    for (py::ssize_t j = 0; j < width; ++j) view(i, j) = steps[i][j];
  d["step_end_times"] = step_array;
  py::list curves;
  for (const auto& c : cell.curves) {
    py::dict curve;
    curve["cycle"] = c.cycle;
    curve["time"] = array_of(c.time);
    curve["voltage"] = array_of(c.voltage);
    curve["current_density"] = array_of(c.current_density);
    curve["step"] = py::array_t<int>(static_cast<py::ssize_t>(c.step.size()), c.step.data());
    curves.append(curve);
  }
  d["curves"] = curves;
  return d;
}

py::dict result_dict(const api::Result& result) {
  py::dict d;
  d["provenance"] = result.provenance;
  py::list cells;
  for (const auto& cell : result.cells) cells.append(cell_dict(cell));
  d["cells"] = cells;
  return d;
}

// Progress to a Python callable; Ctrl-C (a pending KeyboardInterrupt) asks the run to stop.
class PythonObserver : public api::Observer {
 public:
  explicit PythonObserver(py::object progress) : progress_(std::move(progress)) {}
  void on_progress(const api::Progress& p) override {
    py::gil_scoped_acquire gil;
    if (!progress_.is_none()) {
      try {
        progress_(p.cycle, p.total_cycles, p.discharge_capacity, p.retention, p.elapsed_s);
      } catch (py::error_already_set& e) {
        if (e.matches(PyExc_KeyboardInterrupt)) {
          interrupted_ = true;
          return;
        }
        throw;
      }
    }
    check_signals();
  }
  bool stop_requested() override {
    py::gil_scoped_acquire gil;
    check_signals();
    return interrupted_;
  }
  bool interrupted() const { return interrupted_; }

 private:
  void check_signals() {
    if (PyErr_CheckSignals() != 0) {
      if (PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
        PyErr_Clear();
        interrupted_ = true;
      } else {
        throw py::error_already_set();
      }
    }
  }
  py::object progress_;
  bool interrupted_ = false;
};

api::RunSettings run_settings(int max_cycles, bool skipping, double skip_tolerance, int retries,
                              const std::string& backend) {
  api::RunSettings s;
  s.max_cycles = max_cycles;
  s.skipping = skipping;
  s.skip_tolerance = skip_tolerance;
  s.retries = retries;
  s.backend = backend;
  return s;
}

}  // namespace

PYBIND11_MODULE(_halite, m) {
  m.doc() = "halite's C++ engine (use the halite package, not this module)";
  m.attr("api_version") = py::make_tuple(api::kApiVersionMajor, api::kApiVersionMinor);
  m.def("version", &api::version);
  m.def("git_commit", &api::git_commit);

  static py::exception<api::Error> error(m, "HaliteError", PyExc_RuntimeError);
  static py::exception<api::ConfigError> config_error(m, "ConfigError", PyExc_ValueError);
  static py::exception<api::OutputError> output_error(m, "OutputError", PyExc_OSError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const api::ConfigError& e) {
      py::object instance = py::handle(config_error.ptr())(e.what());
      instance.attr("file") = e.file;
      instance.attr("line") = e.line;
      instance.attr("column") = e.column;
      instance.attr("key") = e.key;
      PyErr_SetObject(config_error.ptr(), instance.ptr());
    } catch (const api::OutputError& e) {
      PyErr_SetString(output_error.ptr(), e.what());
    } catch (const api::Error& e) {
      PyErr_SetString(error.ptr(), e.what());
    }
  });

  py::class_<api::Config>(m, "Config")
      .def_property_readonly("name", &api::Config::name)
      .def_property_readonly("source", &api::Config::source)
      .def_property_readonly("resolved_yaml", &api::Config::resolved_yaml)
      .def_property_readonly("total_cycles", &api::Config::total_cycles)
      .def_property_readonly("voltage_reference", &api::Config::voltage_reference)
      .def_property_readonly("active_mass_per_area", &api::Config::active_mass_per_area)
      .def_property_readonly("one_c_current_density", &api::Config::one_c_current_density);

  m.def("load_config", &api::Config::load, py::arg("path"), py::arg("overrides"));
  m.def("parse_config", &api::Config::parse, py::arg("yaml"), py::arg("overrides"),
        py::arg("name"));
  m.def("cycle_columns", [] {
    py::list out;
    for (const auto& c : api::cycle_columns())
      out.append(py::make_tuple(c.name, c.units, c.description, kind_name(c.kind)));
    return out;
  });

  m.def(
      "run",
      [](const std::vector<api::Config>& configs, int max_cycles, bool skipping,
         double skip_tolerance, int retries, const std::string& backend, py::object progress) {
        PythonObserver observer(std::move(progress));
        api::Result result;
        {
          py::gil_scoped_release release;
          result = api::run(configs,
                            run_settings(max_cycles, skipping, skip_tolerance, retries, backend),
                            &observer);
        }
        py::dict d = result_dict(result);
        d["interrupted"] = observer.interrupted();
        return d;
      },
      py::arg("configs"), py::arg("max_cycles"), py::arg("skipping"), py::arg("skip_tolerance"),
      py::arg("retries"), py::arg("backend"), py::arg("progress"));

  m.def(
      "run_to_file",
      [](const api::Config& config, const std::string& output, int max_cycles, bool skipping,
         double skip_tolerance, int retries, const std::string& backend, bool overwrite) {
        py::gil_scoped_release release;
        return api::run_to_file(
            config, output, run_settings(max_cycles, skipping, skip_tolerance, retries, backend),
            overwrite);
      },
      py::arg("config"), py::arg("output"), py::arg("max_cycles"), py::arg("skipping"),
      py::arg("skip_tolerance"), py::arg("retries"), py::arg("backend"), py::arg("overwrite"));

  m.def(
      "sweep",
      [](const std::string& sweep_file, const std::string& output, int max_cycles, int threads,
         bool skipping, int retries, const std::string& backend, bool overwrite, bool quiet) {
        api::SweepSettings s;
        s.max_cycles = max_cycles;
        s.threads = threads;
        s.skipping = skipping;
        s.retries = retries;
        s.backend = backend;
        s.quiet = quiet;
        py::gil_scoped_release release;
        return api::sweep(sweep_file, output, s, overwrite);
      },
      py::arg("sweep_file"), py::arg("output"), py::arg("max_cycles"), py::arg("threads"),
      py::arg("skipping"), py::arg("retries"), py::arg("backend"), py::arg("overwrite"),
      py::arg("quiet"));

  m.def("read_result", [](const std::string& path) {
    api::Result result;
    {
      py::gil_scoped_release release;
      result = api::read_result(path);
    }
    return result_dict(result);
  });
}

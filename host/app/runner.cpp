// `halite run`: the protocol over the configured cell, per-cycle results appended to HDF5 and
// flushed after every integrated cycle, progress on stderr.
#include "host/app/runner.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <limits>
#include <optional>
#include <set>
#include <sstream>
#include <system_error>

#include "halite/build_info.hpp"
#include "host/app/checkpoint.hpp"
#include "host/app/result_writer.hpp"
#include "host/app/row_journal.hpp"
#include "host/app/run_guards.hpp"
#include "host/engine/aging_report.hpp"
#include "host/engine/cycler.hpp"
#include "host/engine/simulation.hpp"

namespace halite {

namespace {

class Progress {
 public:
  explicit Progress(bool quiet) : quiet_(quiet), tty_(isatty(2)) {
    last_ = std::chrono::steady_clock::now();
  }
  void update(const ProgressReport& p) {
    if (quiet_) return;
    const auto now = std::chrono::steady_clock::now();
    const double since_last = std::chrono::duration<double>(now - last_).count();
    const bool final = p.cycle == p.total_cycles;
    // On a terminal: redraw at most 10 times a second. Otherwise: a line every 5 s and the last.
    if (!final && since_last < (tty_ ? 0.1 : 5.0) && p.cycle != p.first_cycle) return;
    last_ = now;
    const std::string line = fmt::format(
        "cycle {:>5}/{}  discharge {:7.2f} mAh/g  retention {:6.2f} %  CE {:7.4f}  "
        "elapsed {:6.1f} s  ETA {:6.1f} s",
        p.cycle, p.total_cycles, p.discharge_capacity, 100.0 * p.retention, p.coulombic_efficiency,
        p.elapsed_s, p.eta_s);
    if (tty_)
      std::fprintf(stderr, "\r%s%s", line.c_str(), final ? "\n" : "");
    else
      std::fprintf(stderr, "%s\n", line.c_str());
    std::fflush(stderr);
  }
  void finish() {
    if (!quiet_ && tty_) std::fprintf(stderr, "\n");
  }

 private:
  bool quiet_, tty_;
  std::chrono::steady_clock::time_point last_;
};

// The resolved YAML without its full-line comments (what config_hash hashes), as lines.
std::vector<std::string> config_lines(const std::string& yaml) {
  std::vector<std::string> lines;
  std::istringstream in(yaml);
  std::string line;
  while (std::getline(in, line)) {
    const auto first = line.find_first_not_of(" \t");
    if (first != std::string::npos && line[first] == '#') continue;
    lines.push_back(line);
  }
  return lines;
}

bool file_exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::exists(std::filesystem::symlink_status(path, ec));
}

}  // namespace

std::uint64_t config_hash(const std::string& resolved_yaml) {
  std::string text;
  for (const auto& line : config_lines(resolved_yaml)) text += line + "\n";
  return fnv1a64(text);
}

Provenance run_provenance(const RunConfig& config, Backend backend) {
  Provenance provenance;
  provenance.version = build_info::kVersion;
  provenance.git_commit = build_info::kGitCommit;
  provenance.config_name = config.name;
  provenance.config_source = config.source;
  provenance.resolved_config_yaml = config.resolved_yaml;
  provenance.voltage_reference = to_string(config.protocol.reference);
  provenance.active_mass_per_area = config.loading.active_areal_mass;
  provenance.is_reference_cell = config.source == "<embedded reference>";
  provenance.cell_names = {config.name};
  provenance.backend = backend_name(backend);
  provenance.date = iso8601_utc_now();
  return provenance;
}

namespace {

// The values of one /cycles row as the writer stores them (cell 0): built-in columns, aging
// columns (0 where a record has none), step end times (NaN past the cycle's last step). What the
// checkpoint's table hash covers (Checkpoint::table_hash) and what the row journal keeps.
std::vector<double> row_values(const CycleRecord& r, std::size_t aging_columns, int max_steps) {
  std::vector<double> values;
  values.reserve(cycle_columns().size() + aging_columns + static_cast<std::size_t>(max_steps));
  for (std::size_t k = 0; k < cycle_columns().size(); ++k)
    values.push_back(cycle_column_value(r, k));
  for (std::size_t k = 0; k < aging_columns; ++k)
    values.push_back(k < r.aging.size() ? r.aging[k] : 0.0);
  for (int j = 0; j < max_steps; ++j)
    values.push_back(static_cast<std::size_t>(j) < r.step_end_times.size()
                         ? r.step_end_times[static_cast<std::size_t>(j)]
                         : std::numeric_limits<double>::quiet_NaN());
  return values;
}

// Cell 0's rows of a result file as stored: the built-in columns, then the aging columns, each
// [cycle], and the step end times, `per` values a cycle (the resume check and the rebuild), read
// from the file or from its row journal.
struct StoredRows {
  std::vector<std::vector<double>> columns;
  std::vector<double> steps;
  std::size_t width = 0, per = 0;  // cycles and steps of the step-end-time dataset

  StoredRows(const std::string& path, const std::vector<ColumnSpec>& aging) {
    for (const auto& c : cycle_columns()) columns.push_back(read_cycle_column(path, c.name).at(0));
    for (const auto& c : aging) columns.push_back(read_cycle_column(path, c.name).at(0));
    ArrayData data = read_array(path, "/cycles/Step end times [s]");
    width = data.dims.at(1);
    per = data.dims.at(2);
    steps = std::move(data.values);
  }
  // Rows as row_values gives them (the journal): `column_count` columns, then `per` step times.
  StoredRows(const std::vector<std::vector<double>>& rows, std::size_t column_count, int per_row)
      : columns(column_count), width(rows.size()), per(static_cast<std::size_t>(per_row)) {
    for (const auto& row : rows) {
      for (std::size_t c = 0; c < column_count; ++c) columns[c].push_back(row.at(c));
      for (std::size_t j = 0; j < per; ++j) steps.push_back(row.at(column_count + j));
    }
  }
  // Row k as row_values gives it.
  std::vector<double> row(int k) const {
    std::vector<double> values;
    for (const auto& column : columns) values.push_back(column.at(static_cast<std::size_t>(k)));
    for (std::size_t j = 0; j < per; ++j) values.push_back(steps.at(k * per + j));
    return values;
  }
  // The hash of the first `cycles` rows (Checkpoint::table_hash).
  std::uint64_t hash(int cycles) const {
    Fnv1a h;
    for (int k = 0; k < cycles; ++k)
      for (double v : row(k)) h.add(v);
    return h.value;
  }
};

// Index of the discharge capacity among the built-in columns.
std::size_t discharge_column() {
  const auto columns = cycle_columns();
  for (std::size_t c = 0; c < columns.size(); ++c)
    if (columns[c].name == std::string_view("Discharge capacity [mA.h.g-1]")) return c;
  throw std::logic_error("no discharge capacity column");
}

// One `halite run`, as named steps: open the output (a new file, or the file of a resumed run
// with its checkpoint), run the simulation with the writer, progress line and checkpoints as its
// observer, and report how it ended (status in the file, message, exit code).
class Job {
 public:
  Job(const RunConfig& config, const RunOptions& options, std::string output)
      : config_(config),
        options_(options),
        output_(std::move(output)),
        checkpoint_file_(checkpoint_path(output_)),
        hash_(config_hash(config.resolved_yaml)),
        simulation_(config, options.backend),
        progress_(options.quiet),
        disk_(output_) {
    for (const auto& block : config.protocol.blocks)
      max_steps_ = std::max<int>(max_steps_, static_cast<int>(block.steps.size()));
    for (const auto& c : aging_column_specs()) columns_.push_back({c.name, c.units, c.description});
  }

  // Values per row: built-in columns, aging columns, step end times (row_values).
  std::size_t row_width() const {
    return cycle_columns().size() + columns_.size() + static_cast<std::size_t>(max_steps_);
  }

  int run() {
    const int opened = options_.resume.empty() ? create_output() : open_resumed();
    if (opened != kExitOk) return opened;
    const StopSignals stop_signals;  // from here a signal ends the run at a cycle boundary
    const SimulationOutcome outcome = simulate();
    const int exit_code = finish(outcome);
    writer_->close();
    if (exit_code == kExitOk && !options_.quiet)
      std::fprintf(stderr, "halite: %d cycle(s) written to %s (voltages vs %s)\n",
                   writer_->cycles(), output_.c_str(), to_string(config_.protocol.reference));
    return exit_code;
  }

 private:
  using Clock = std::chrono::steady_clock;

  // Checkpoints: at cycle boundaries, at most every checkpoint_interval_s of wall time, always
  // at the end of a block and of the run. A failed write is reported and the run goes on.
  void save_checkpoint(const CycleCursor& cursor, const std::string& run_date, int cycles_written) {
    Checkpoint ck;
    ck.config_hash = hash_;
    ck.run_date = run_date;
    ck.cycles_written = cycles_written;
    ck.table_hash = table_hash_.value;
    ck.state = simulation_.cycler().save_state(cursor);
    try {
      if (journal_) journal_->sync();  // the rows the checkpoint covers are on disk first
      write_checkpoint(checkpoint_file_, ck);
      unsaved_.reset();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "halite: warning: checkpoint not written: %s\n", e.what());
    }
    last_checkpoint_ = Clock::now();
  }

  // --resume: everything is checked before the file is opened for writing, so a refused resume
  // leaves the file and its checkpoint as they were.
  int open_resumed() {
    auto refuse = [&](const std::string& why) {
      std::fprintf(stderr, "halite: cannot resume %s: %s\n", output_.c_str(), why.c_str());
      return kExitBadInput;
    };
    if (!file_exists(output_))
      return refuse("no such file (a run that never created it starts without --resume)");
    if (!file_exists(checkpoint_file_))
      return refuse(fmt::format(
          "it has no checkpoint ({} is missing; the run stopped before its first checkpoint, or "
          "was not started by this version of halite): run it again with --overwrite",
          checkpoint_file_));
    try {
      resume_from_ = read_checkpoint(checkpoint_file_);
    } catch (const CheckpointError& e) {
      return refuse(e.what());
    }
    if (resume_from_->config_hash != hash_) {
      std::string detail = "the configuration hash differs";
      try {
        detail = yaml_difference(read_string_attribute(output_, "/", "resolved_config_yaml"),
                                 config_.resolved_yaml);
      } catch (const std::exception&) {
      }
      return refuse("the configuration differs from the one that started it (" + detail +
                    "); give the same CONFIG and --set options as the interrupted run");
    }
    const int cycles = resume_from_->cycles_written;
    if (cycles != resume_from_->state.cursor.cycle)
      return refuse(fmt::format("the checkpoint is inconsistent ({} cycles written, cursor at {})",
                                cycles, resume_from_->state.cursor.cycle));
    try {
      simulation_.cycler().restore_state(resume_from_->state);
    } catch (const std::invalid_argument& e) {
      return refuse(fmt::format("the checkpoint does not fit this configuration: {}", e.what()));
    }
    // The rows the checkpoint covers must be the ones the run wrote (issue 12: flipped bytes in
    // /cycles were resumed silently). When the file's rows cannot be read (a write failed in the
    // middle of an HDF5 flush), the row journal's are taken if they are the ones the checkpoint
    // covers.
    std::optional<StoredRows> rows;  // the rows the checkpoint covers, checked
    std::string rows_from;           // "its rows" or "its row journal ..."
    if (cycles > 0) {
      try {
        StoredRows stored(output_, columns_);
        const std::uint64_t now = stored.hash(cycles);
        if (resume_from_->table_hash != 0 && now != resume_from_->table_hash)
          return refuse(fmt::format(
              "the values of its first {} cycle(s) differ from those the run wrote (the file "
              "was changed or damaged on disk): run it again with --overwrite",
              cycles));
        table_hash_.value = now;
        rows.emplace(std::move(stored));
        rows_from = "its readable rows";
      } catch (const std::exception&) {
        // unreadable: the journal's rows, if they are the ones the checkpoint covers
        const auto journal = RowJournal::read(row_journal_path(output_), row_width(),
                                              static_cast<std::size_t>(cycles));
        if (!journal.empty() && resume_from_->table_hash != 0) {
          StoredRows stored(journal, cycle_columns().size() + columns_.size(), max_steps_);
          if (stored.hash(cycles) == resume_from_->table_hash) {
            table_hash_.value = resume_from_->table_hash;
            rows.emplace(std::move(stored));
            rows_from = "its row journal " + row_journal_path(output_);
          }
        }
      }
    }
    try {
      if (cycles > 0)
        first_discharge_ = read_cycle_column(output_, "Discharge capacity [mA.h.g-1]").at(0).at(0);
      writer_ = std::make_unique<ResultWriter>(ResultWriter::open_existing(output_, columns_));
    } catch (const std::exception& e) {
      if (cycles > 0 && rows) {
        // The file is damaged beyond what the writer can open, but the rows are there: write it
        // again from them.
        if (!options_.quiet)
          std::fprintf(stderr,
                       "halite: %s cannot be opened (%s): writing it again from %s (%d finished "
                       "cycle(s))\n",
                       output_.c_str(), e.what(), rows_from.c_str(), cycles);
        Provenance provenance = run_provenance(config_, options_.backend);
        provenance.date = resume_from_->run_date;
        try {
          table_hash_.value = rebuild_output(cycles, *rows, provenance);
        } catch (const std::exception& again) {
          return refuse(fmt::format("it cannot be opened ({}) nor written again from {} ({})",
                                    e.what(), rows_from, again.what()));
        }
        first_discharge_ = rows->columns.at(discharge_column()).at(0);
        return finish_resume(cycles, 0);
      }
      if (cycles > 0)
        return refuse(
            fmt::format("{}; nor does its row journal {} hold the {} cycle(s) the "
                        "checkpoint covers",
                        e.what(), row_journal_path(output_), cycles));
      // Killed while the file was being created: the checkpoint is the start of the run, so
      // nothing is lost by writing the file again.
      if (!options_.quiet)
        std::fprintf(stderr,
                     "halite: %s cannot be opened (%s); the run had not finished a cycle: "
                     "writing it again\n",
                     output_.c_str(), e.what());
      Provenance provenance = run_provenance(config_, options_.backend);
      provenance.date = resume_from_->run_date;
      writer_ = std::make_unique<ResultWriter>(output_, true, 1, provenance, max_steps_, columns_);
    }
    if (writer_->provenance().date != resume_from_->run_date)
      return refuse(
          fmt::format("the checkpoint {} belongs to another run (started {}, the file's "
                      "run started {})",
                      checkpoint_file_, resume_from_->run_date, writer_->provenance().date));
    if (cycles > writer_->cycles())
      return refuse(fmt::format("the checkpoint covers {} cycles but the file holds only {}",
                                cycles, writer_->cycles()));
    if (writer_->provenance().git_commit != build_info::kGitCommit && !options_.quiet)
      std::fprintf(stderr,
                   "halite: warning: %s was started by halite %s (git %s); continuing with %s "
                   "(git %s)\n",
                   output_.c_str(), writer_->provenance().version.c_str(),
                   writer_->provenance().git_commit.c_str(), build_info::kVersion,
                   build_info::kGitCommit);
    // Cycles written after the checkpoint are computed again.
    const int dropped = writer_->cycles() - cycles;
    try {
      writer_->truncate_cycles(cycles);
      writer_->set_cell_status(0, "running");
    } catch (const std::exception& e) {
      // A file HDF5 can read but no longer extend (the disk filled in the middle of a write).
      if (!options_.quiet)
        std::fprintf(stderr,
                     "halite: %s cannot be extended (%s): copying its %d finished cycle(s) "
                     "into a fresh file\n",
                     output_.c_str(), e.what(), cycles);
      try {
        const Provenance provenance = writer_->provenance();
        writer_.reset();
        // (no finished cycle: nothing to copy; the file's rows may not even be readable)
        table_hash_.value = rebuild_output(
            cycles,
            rows ? *rows : StoredRows({}, cycle_columns().size() + columns_.size(), max_steps_),
            provenance);
      } catch (const std::exception& again) {
        return refuse(
            fmt::format("it cannot be extended ({}) nor copied ({})", e.what(), again.what()));
      }
    }
    return finish_resume(cycles, dropped);
  }

  // The rest of a resume, once the output holds exactly the `cycles` rows its checkpoint covers:
  // curves, backend attribute, the row journal written again from the file, the message.
  int finish_resume(int cycles, int dropped) {
    // A finished run extended (a larger --cycles) keeps only the curves an uninterrupted run of
    // the new length stores: its old last cycle's curve goes.
    const auto wanted = simulation_.curve_cycles(simulation_.total_cycles(options_.max_cycles));
    writer_->drop_curves(0, [&](int n) { return n <= cycles && wanted.count(n) == 0; });
    // The backend attribute lists every backend that integrated the run, in order.
    const std::string before = writer_->provenance().backend;
    const std::string now = backend_name(options_.backend);
    if (before.substr(before.rfind(',') + 1) != now) {
      writer_->set_attribute("backend", before.empty() ? now : before + "," + now);
      if (!options_.quiet)
        std::fprintf(stderr,
                     "halite: %s was integrated on the %s backend so far; continuing on %s\n",
                     output_.c_str(), before.c_str(), now.c_str());
    }
    // The journal again, from the file's rows (an earlier run's journal may be short or missing).
    journal_ = std::make_unique<RowJournal>(row_journal_path(output_), row_width());
    if (cycles > 0) {
      const StoredRows stored(output_, columns_);
      for (int k = 0; k < cycles; ++k) journal_->append(stored.row(k));
    }
    if (!options_.quiet)
      std::fprintf(
          stderr, "halite: resuming %s after cycle %d%s\n", output_.c_str(), cycles,
          dropped > 0
              ? fmt::format(" ({} later cycle(s) dropped, to be recomputed)", dropped).c_str()
              : "");
    return kExitOk;
  }

  // Writes the first `cycles` rows of `stored` (read from the output, or from its row journal),
  // the output's curves of those cycles as far as they can be read, and `provenance` into a
  // fresh file that then replaces the output (rename in the same directory), and reopens it.
  // Returns the hash of the rows written (Checkpoint::table_hash).
  std::uint64_t rebuild_output(int cycles, const StoredRows& stored, const Provenance& provenance) {
    writer_.reset();
    const auto builtin = cycle_columns();
    const auto& values = stored.columns;  // [column][cycle], built-in then aging
    const std::size_t width = stored.width, per = stored.per;
    std::vector<Curve> curves;
    try {
      for (auto& curve : read_curves(output_, 0))
        if (curve.cycle <= cycles) curves.push_back(std::move(curve));
    } catch (const std::exception& e) {
      // the rows are what the journal keeps; curves of a damaged file may be lost
      std::fprintf(stderr,
                   "halite: warning: the voltage curves of %s cannot be read (%s): the rebuilt "
                   "file has none of its first %d cycle(s)\n",
                   output_.c_str(), e.what(), cycles);
    }

    const std::string fresh_path = output_ + ".rebuilt";
    {
      ResultWriter fresh(fresh_path, true, 1, provenance, static_cast<int>(per), columns_);
      for (int k = 0; k < cycles; ++k) {
        CycleRecord r;
        for (std::size_t c = 0; c < builtin.size(); ++c)
          set_cycle_column_value(r, c, values[c].at(k));
        std::vector<std::vector<double>> extra;
        for (std::size_t c = 0; c < columns_.size(); ++c)
          extra.push_back({values[builtin.size() + c].at(k)});
        const auto row = stored.steps.begin() + static_cast<std::ptrdiff_t>(k * per);
        if (static_cast<std::size_t>(k) < width) r.step_end_times.assign(row, row + per);
        fresh.append_cycle({r}, extra);
      }
      for (const auto& curve : curves) fresh.write_curve(0, curve);
      fresh.set_cell_status(0, "running");
      fresh.close();
    }
    std::filesystem::rename(fresh_path, output_);
    writer_ = std::make_unique<ResultWriter>(ResultWriter::open_existing(output_, columns_));
    return stored.hash(cycles);
  }

  int create_output() {
    const Provenance provenance = run_provenance(config_, options_.backend);
    if (!options_.overwrite && file_exists(output_)) {
      std::fprintf(stderr, "halite: %s\n", OutputExistsError(output_).what());
      return kExitBadInput;
    }
    // A new run: a checkpoint left by an earlier run of this path is stale. The first
    // checkpoint (the initial state) is written before the output file, so a run killed at any
    // moment after the file exists can be resumed.
    std::error_code ec;
    std::filesystem::remove(checkpoint_file_, ec);
    std::filesystem::remove(checkpoint_file_ + ".tmp", ec);
    save_checkpoint({}, provenance.date, 0);
    try {
      journal_ = std::make_unique<RowJournal>(row_journal_path(output_), row_width());
      writer_ = std::make_unique<ResultWriter>(output_, options_.overwrite, 1, provenance,
                                               max_steps_, columns_);
    } catch (const OutputExistsError& e) {  // created by someone else meanwhile
      std::filesystem::remove(checkpoint_file_, ec);
      std::fprintf(stderr, "halite: %s\n", e.what());
      return kExitBadInput;
    } catch (...) {
      std::filesystem::remove(checkpoint_file_, ec);
      throw;
    }
    return kExitOk;
  }

  // The HDF5 writer, the progress line and the checkpoints as one observer of the simulation.
  struct FileObserver : Observer {
    explicit FileObserver(Job& job) : job(job) {}
    Job& job;
    void on_cycle(const std::vector<CycleRecord>& records) override {
      std::vector<std::vector<double>> extra(aging_column_specs().size(),
                                             std::vector<double>(records.size()));
      for (std::size_t c = 0; c < records.size(); ++c)
        for (std::size_t k = 0; k < records[c].aging.size(); ++k) extra[k][c] = records[c].aging[k];
      // the journal first: a checkpoint may cover only rows that are in both
      const std::vector<double> row = row_values(records[0], extra.size(), job.max_steps_);
      job.journal_->append(row);
      // flushed with the integrated cycles: the extrapolated rows of a jump come just before
      // the integrated cycle that lands it (4004 fsyncs cost the reference run 0.3 s)
      const bool integrated = std::any_of(records.begin(), records.end(), [](const CycleRecord& r) {
        return r.simulated || r.failed;
      });
      job.writer_->append_cycle(records, extra, integrated);
      for (double v : row) job.table_hash_.add(v);
      if (std::isnan(job.first_discharge_)) job.first_discharge_ = records[0].discharge_capacity;
      job.failed_row_written_ = job.failed_row_written_ || records[0].failed;
    }
    void on_curve(int cell, const Curve& curve) override { job.writer_->write_curve(cell, curve); }
    void on_progress(const ProgressReport& report) override {
      // a resumed run measures retention from the file's first cycle, not this session's
      ProgressReport p = report;
      p.retention = job.first_discharge_ > 0 ? p.discharge_capacity / job.first_discharge_ : NAN;
      job.progress_.update(p);
    }
    void on_boundary(const CycleBoundary& boundary) override {
      job.unsaved_ = boundary.cursor;
      // nearly full: stop here, while there is room for the checkpoint and the final status
      if (!boundary.end_of_run && job.disk_.low()) job.disk_stop_ = true;
      const double since =
          std::chrono::duration<double>(Clock::now() - job.last_checkpoint_).count();
      if (stop_signal() != 0 || job.disk_stop_ || job.options_.checkpoint_interval_s <= 0.0 ||
          since >= job.options_.checkpoint_interval_s || boundary.end_of_block ||
          boundary.end_of_run)
        job.save_checkpoint(boundary.cursor, job.writer_->provenance().date, job.writer_->cycles());
    }
    bool stop_requested() override { return stop_signal() != 0 || job.disk_stop_; }
  };

  SimulationOutcome simulate() {
    FileObserver observer(*this);
    SimulationOptions run_options;
    run_options.max_cycles = options_.max_cycles;
    run_options.skipping = !options_.no_skip;
    run_options.skip_tolerance = options_.skip_tolerance;
    run_options.retries = options_.retries;
    run_options.backend = options_.backend;
    return simulation_.run(observer, run_options,
                           resume_from_ ? &resume_from_->state.cursor : nullptr);
  }

  // The cell's status in the file, the messages and the exit code.
  int finish(const SimulationOutcome& outcome) {
    const CellOutcome& cell = outcome.cells.front();
    if (outcome.interrupted && disk_stop_) {
      progress_.finish();
      const std::string why = fmt::format(
          "the disk is nearly full: {} bytes free on {} (halite stops below {} bytes, "
          "HALITE_MIN_FREE_BYTES)",
          disk_.free_at_stop(), disk_.directory(), disk_.margin());
      writer_->set_cell_status(0, "interrupted",
                               fmt::format("{} after {} cycle(s)", why, writer_->cycles()));
      std::fprintf(stderr,
                   "halite: stopped: %s; every finished cycle (%d) is in %s and the checkpoint is "
                   "saved: free some space and continue with `halite run` and the same CONFIG "
                   "and --set options plus --resume %s\n",
                   why.c_str(), writer_->cycles(), output_.c_str(), output_.c_str());
      return kExitOther;
    }
    if (outcome.interrupted) {
      progress_.finish();
      const int stop = stop_signal();
      writer_->set_cell_status(
          0, "interrupted",
          fmt::format("{} after {} cycle(s)", signal_name(stop), writer_->cycles()));
      std::fprintf(stderr,
                   "halite: interrupted by %s; every finished cycle (%d) is in %s and the "
                   "checkpoint is saved: continue with `halite run` and the same CONFIG and "
                   "--set options plus --resume %s\n",
                   signal_name(stop), writer_->cycles(), output_.c_str(), output_.c_str());
      return 128 + stop;
    }
    if (cell.status == "failed") {
      progress_.finish();
      writer_->set_cell_status(0, "failed", cell.reason);
      std::fprintf(stderr, "halite: solver failed after %d finished cycle(s): %s\n",
                   writer_->cycles() - (failed_row_written_ ? 1 : 0), cell.reason.c_str());
      std::fprintf(stderr, "halite: every finished cycle is in %s%s\n", output_.c_str(),
                   failed_row_written_ ? " (and the failed one, with Failed = 1)" : "");
      return kExitSolverFailed;
    }
    if (unsaved_) save_checkpoint(*unsaved_, writer_->provenance().date, writer_->cycles());
    if (!options_.quiet) {
      std::fprintf(stderr, "halite: %d cycle(s) integrated, %d extrapolated",
                   outcome.integrated_cycles, outcome.extrapolated_cycles);
      if (outcome.retried_cycles > 0)
        std::fprintf(stderr, ", %d retry(ies) of a failed cycle", outcome.retried_cycles);
      std::fprintf(stderr, "%s\n", resume_from_ ? " in this session" : "");
    }
    if (cell.status == "completed_with_warnings") {
      progress_.finish();
      std::fprintf(stderr, "halite: warning: %s\n", cell.reason.c_str());
    }
    writer_->set_cell_status(0, cell.status, cell.reason);
    return kExitOk;
  }

  const RunConfig& config_;
  const RunOptions& options_;
  const std::string output_;
  const std::string checkpoint_file_;
  const std::uint64_t hash_;
  int max_steps_ = 1;
  std::vector<ColumnSpec> columns_;
  Simulation simulation_;
  Progress progress_;
  DiskGuard disk_;
  bool disk_stop_ = false;  // stopped at a boundary because the disk is nearly full
  std::unique_ptr<ResultWriter> writer_;
  std::unique_ptr<RowJournal> journal_;  // OUTPUT.rows: the rows again, append-only
  std::optional<Checkpoint> resume_from_;
  double first_discharge_ = NAN;
  Clock::time_point last_checkpoint_ = Clock::now();
  std::optional<CycleCursor> unsaved_;  // last boundary not yet in a checkpoint
  bool failed_row_written_ = false;     // the failed cycle is in the table (Failed = 1)
  Fnv1a table_hash_;                    // of the rows written (Checkpoint::table_hash)
};

}  // namespace

std::string coarse_mesh_warning(const MeshConfig& mesh) {
  const MeshConfig converged;
  if (mesh.cathode_nodes >= converged.cathode_nodes &&
      mesh.radial_shells >= converged.radial_shells)
    return "";
  return fmt::format(
      "the mesh ({} cathode nodes x {} radial shells) is coarser than the default {} x {}, the "
      "coarsest shown converged (docs/validation.md): capacities and fade can be off by percents",
      mesh.cathode_nodes, mesh.radial_shells, converged.cathode_nodes, converged.radial_shells);
}

int run_job(const RunConfig& config, const RunOptions& options) {
  if (const std::string why = backend_unavailable_reason(options.backend); !why.empty()) {
    std::fprintf(stderr, "halite run: --backend %s: %s\n", backend_name(options.backend),
                 why.c_str());
    return kExitBadInput;
  }
  const std::string output = options.resume.empty() ? options.output : options.resume;
  const OutputLock lock(output);  // held for the whole run
  if (!lock.error().empty()) {
    std::fprintf(stderr, "halite: %s\n", lock.error().c_str());
    return kExitBadInput;
  }
  if (const std::string warning = coarse_mesh_warning(config.mesh); !warning.empty())
    std::fprintf(stderr, "halite: warning: %s\n", warning.c_str());
  // One cell: auto is the CPU (Backend::kAuto); the file records the backend that ran.
  RunOptions resolved = options;
  resolved.backend = resolve_backend(options.backend, 1);
  Job job(config, resolved, output);
  return job.run();
}

std::string yaml_difference(const std::string& before, const std::string& now) {
  const auto a = config_lines(before), b = config_lines(now);
  std::size_t i = 0;
  while (i < a.size() && i < b.size() && a[i] == b[i]) ++i;
  if (i == a.size() && i == b.size()) return "they differ only in comments or line endings";
  // The key path of line i of b (or a): keys of the enclosing, less indented lines.
  const auto& lines = i < b.size() ? b : a;
  std::vector<std::pair<std::size_t, std::string>> stack;  // (indent, key)
  std::string value_a = i < a.size() ? a[i] : "(nothing)",
              value_b = i < b.size() ? b[i] : "(nothing)";
  for (std::size_t k = 0; k <= i && k < lines.size(); ++k) {
    const std::string& line = lines[k];
    std::size_t indent = line.find_first_not_of(' ');
    if (indent == std::string::npos) continue;
    std::size_t key_start = indent;
    if (line.compare(indent, 2, "- ") == 0) key_start = indent + 2;
    const std::size_t colon = line.find(':', key_start);
    if (colon == std::string::npos) continue;
    const std::string key = line.substr(key_start, colon - key_start);
    if (key.empty() || key.find_first_of(" \"") != std::string::npos) continue;
    while (!stack.empty() && stack.back().first >= key_start) stack.pop_back();
    stack.emplace_back(key_start, key);
  }
  auto value_of = [](const std::string& line) {
    const std::size_t colon = line.find(':');
    std::string v = colon == std::string::npos ? line : line.substr(colon + 1);
    const auto hash = v.find("  #");
    if (hash != std::string::npos) v.resize(hash);
    const auto first = v.find_first_not_of(' ');
    return first == std::string::npos ? std::string() : v.substr(first);
  };
  std::string path;
  for (const auto& entry : stack) path += (path.empty() ? "" : ".") + entry.second;
  if (path.empty() || i >= a.size() || i >= b.size())
    return fmt::format("first difference at line {}: '{}' then, '{}' now", i + 1, value_a, value_b);
  return fmt::format("{} was {}, now {}", path, value_of(value_a), value_of(value_b));
}

}  // namespace halite

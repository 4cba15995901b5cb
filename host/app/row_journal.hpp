// The row journal of a run: a second, append-only copy of the /cycles rows `halite run` writes,
// next to the output as OUTPUT.h5.rows (docs/output.md, "Checkpoints and resume").
//
// Why: HDF5 updates a file in place and has no journal of its own. A write that fails in the
// middle of a flush (a disk that fills, an I/O error) can leave the file's metadata half old,
// half new, and then even the cycles flushed long before cannot be read back. The checkpoint
// holds the state to continue from but not the results; the journal holds the results. A
// --resume that cannot read the rows its checkpoint covers from the file takes them from here
// (checked against the checkpoint's table hash) and writes the file again.
//
// Format: an 8-byte magic "HLROWS01", the row width (uint64, values per row), then fixed-size
// records: `width` doubles and the 64-bit FNV-1a of their bytes. Little-endian, as written by
// the machine (not meant for other tools). A record cut short by a failed write is detected by
// its size or checksum and ignored, with everything after it.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace halite {

// OUTPUT + ".rows".
std::string row_journal_path(const std::string& output);

class RowJournal {
 public:
  // Creates the journal at `path` (replacing one that is there) for rows of `width` values.
  // Throws std::system_error naming the path and the errno.
  RowJournal(std::string path, std::size_t width);
  ~RowJournal();
  RowJournal(const RowJournal&) = delete;
  RowJournal& operator=(const RowJournal&) = delete;

  // Appends one row (exactly `width` values). Throws std::system_error (path, errno): the run
  // then stops as on any failed write of its output.
  void append(const std::vector<double>& row);
  // fsync: the rows appended so far survive a crash of the machine. Called before every
  // checkpoint, which may only cover rows that are on disk.
  void sync();
  const std::string& path() const { return path_; }

  // The first `rows` rows of the journal at `path`, or an empty vector when it does not exist,
  // was written for another width, or holds fewer than `rows` intact rows.
  static std::vector<std::vector<double>> read(const std::string& path, std::size_t width,
                                               std::size_t rows);

 private:
  std::string path_;
  std::size_t width_;
  int fd_ = -1;
};

}  // namespace halite

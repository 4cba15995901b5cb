#include "host/app/row_journal.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <system_error>

#include "host/app/checkpoint.hpp"

namespace halite {
namespace {

constexpr char kMagic[8] = {'H', 'L', 'R', 'O', 'W', 'S', '0', '1'};
constexpr std::size_t kHeaderBytes = sizeof kMagic + sizeof(std::uint64_t);

std::size_t record_bytes(std::size_t width) {
  return width * sizeof(double) + sizeof(std::uint64_t);
}

}  // namespace

std::string row_journal_path(const std::string& output) {
  return output + ".rows";
}

RowJournal::RowJournal(std::string path, std::size_t width)
    : path_(std::move(path)), width_(width) {
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw std::system_error(errno, std::generic_category(), "cannot create '" + path_ + "'");
  char header[kHeaderBytes];
  std::memcpy(header, kMagic, sizeof kMagic);
  const std::uint64_t w = width_;
  std::memcpy(header + sizeof kMagic, &w, sizeof w);
  try {
    write_all(fd_, std::string_view(header, sizeof header), path_);
  } catch (...) {
    ::close(fd_);
    throw;
  }
}

RowJournal::~RowJournal() {
  if (fd_ >= 0) ::close(fd_);
}

void RowJournal::append(const std::vector<double>& row) {
  if (row.size() != width_)
    throw std::invalid_argument("RowJournal::append: a row of " + std::to_string(row.size()) +
                                " values, the journal's width is " + std::to_string(width_));
  std::vector<char> record(record_bytes(width_));
  std::memcpy(record.data(), row.data(), width_ * sizeof(double));
  const std::uint64_t sum = fnv1a64(std::string_view(record.data(), width_ * sizeof(double)));
  std::memcpy(record.data() + width_ * sizeof(double), &sum, sizeof sum);
  write_all(fd_, std::string_view(record.data(), record.size()), path_);
}

void RowJournal::sync() {
  if (::fsync(fd_) != 0)
    throw std::system_error(errno, std::generic_category(), "fsync of '" + path_ + "'");
}

std::vector<std::vector<double>> RowJournal::read(const std::string& path, std::size_t width,
                                                  std::size_t rows) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  char header[kHeaderBytes];
  if (!in.read(header, sizeof header) || std::memcmp(header, kMagic, sizeof kMagic) != 0) return {};
  std::uint64_t w = 0;
  std::memcpy(&w, header + sizeof kMagic, sizeof w);
  if (w != width) return {};
  std::vector<std::vector<double>> out;
  std::vector<char> record(record_bytes(width));
  while (out.size() < rows && in.read(record.data(), static_cast<std::streamsize>(record.size()))) {
    std::uint64_t sum = 0;
    std::memcpy(&sum, record.data() + width * sizeof(double), sizeof sum);
    if (sum != fnv1a64(std::string_view(record.data(), width * sizeof(double)))) break;
    std::vector<double> row(width);
    std::memcpy(row.data(), record.data(), width * sizeof(double));
    out.push_back(std::move(row));
  }
  if (out.size() < rows) return {};
  return out;
}

}  // namespace halite

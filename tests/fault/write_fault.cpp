// A write fault injector for tests (LD_PRELOAD): a full disk, or a failing one, for the files of
// one directory, on machines where a small tmpfs cannot be mounted (not root).
//
//   HALITE_FAULT_DIRECTORY   writes to files under this directory are faulted, or
//   HALITE_FAULT_FILE        writes to this one file only (a failing region of a disk)
//   HALITE_FAULT_FREE_BYTES  the space left: writes and posix_fallocate that would grow the
//                            directory's files by more than this in all fail with ENOSPC, while
//                            writes over bytes that exist succeed (as on a full file system)
//   HALITE_FAULT_MODE=eio    instead, every write after HALITE_FAULT_FREE_BYTES bytes written
//                            fails with EIO (a failing device: no write succeeds any more)
//
// Covers write, pwrite, pwrite64, writev, pwritev and posix_fallocate (HDF5's sec2 driver writes
// with pwrite; the output's reserve is made with posix_fallocate). A write that would cross the
// limit fails whole.
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

long long spent = 0;         // bytes the faulted files grew by (eio: bytes written)
bool device_failed = false;  // eio: the limit was reached

// True when fd is a file under HALITE_FAULT_DIRECTORY or is HALITE_FAULT_FILE (absolute
// paths; fd's path from /proc/self/fd).
bool faulted(int fd) {
  const char* directory = std::getenv("HALITE_FAULT_DIRECTORY");
  const char* file = std::getenv("HALITE_FAULT_FILE");
  if ((directory == nullptr || *directory == '\0') && (file == nullptr || *file == '\0'))
    return false;
  char link[64], path[4096];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, path, sizeof path - 1);
  if (n <= 0) return false;
  path[n] = '\0';
  if (file != nullptr && *file != '\0') return std::strcmp(path, file) == 0;
  const std::size_t length = std::strlen(directory);
  return std::strncmp(path, directory, length) == 0 && path[length] == '/';
}

long long limit() {
  const char* free_bytes = std::getenv("HALITE_FAULT_FREE_BYTES");
  return free_bytes ? std::atoll(free_bytes) : 0;
}

bool eio_mode() {
  const char* mode = std::getenv("HALITE_FAULT_MODE");
  return mode != nullptr && std::strcmp(mode, "eio") == 0;
}

// 0 when `bytes` may be written to fd at `offset` (-1: the file position), else the errno the
// write fails with (ENOSPC, or EIO in eio mode).
int charge(int fd, std::size_t bytes, off_t offset) {
  if (!faulted(fd)) return 0;
  if (eio_mode()) {
    if (device_failed || spent + static_cast<long long>(bytes) > limit()) {
      device_failed = true;
      return EIO;
    }
    spent += static_cast<long long>(bytes);
    return 0;
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0) return 0;
  if (offset < 0)
    offset = (::fcntl(fd, F_GETFL) & O_APPEND) ? st.st_size : ::lseek(fd, 0, SEEK_CUR);
  const long long end = static_cast<long long>(offset) + static_cast<long long>(bytes);
  const long long growth = end > st.st_size ? end - st.st_size : 0;
  if (spent + growth > limit()) return ENOSPC;
  spent += growth;
  return 0;
}

template <class Function>
Function* next(const char* name) {
  return reinterpret_cast<Function*>(::dlsym(RTLD_NEXT, name));
}

std::size_t total(const struct iovec* iov, int n) {
  std::size_t bytes = 0;
  for (int i = 0; i < n; ++i) bytes += iov[i].iov_len;
  return bytes;
}

}  // namespace

extern "C" {

ssize_t write(int fd, const void* buffer, size_t count) {
  if (const int error = charge(fd, count, -1)) {
    errno = error;
    return -1;
  }
  return next<decltype(::write)>("write")(fd, buffer, count);
}
ssize_t pwrite(int fd, const void* buffer, size_t count, off_t offset) {
  if (const int error = charge(fd, count, offset)) {
    errno = error;
    return -1;
  }
  return next<decltype(::pwrite)>("pwrite")(fd, buffer, count, offset);
}
ssize_t pwrite64(int fd, const void* buffer, size_t count, off_t offset) {
  if (const int error = charge(fd, count, offset)) {
    errno = error;
    return -1;
  }
  return next<decltype(::pwrite64)>("pwrite64")(fd, buffer, count, offset);
}
ssize_t writev(int fd, const struct iovec* iov, int n) {
  if (const int error = charge(fd, total(iov, n), -1)) {
    errno = error;
    return -1;
  }
  return next<decltype(::writev)>("writev")(fd, iov, n);
}
ssize_t pwritev(int fd, const struct iovec* iov, int n, off_t offset) {
  if (const int error = charge(fd, total(iov, n), offset)) {
    errno = error;
    return -1;
  }
  return next<decltype(::pwritev)>("pwritev")(fd, iov, n, offset);
}
// posix_fallocate returns the error instead of setting errno.
int posix_fallocate(int fd, off_t offset, off_t length) {
  if (const int error = charge(fd, static_cast<std::size_t>(length), offset)) return error;
  return next<decltype(::posix_fallocate)>("posix_fallocate")(fd, offset, length);
}
int posix_fallocate64(int fd, off_t offset, off_t length) {
  if (const int error = charge(fd, static_cast<std::size_t>(length), offset)) return error;
  return next<decltype(::posix_fallocate64)>("posix_fallocate64")(fd, offset, length);
}

}  // extern "C"

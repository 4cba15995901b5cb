// Thin RAII layer over the HDF5 C API: one move-only owner per kind of id (file, group, dataset,
// dataspace, datatype, attribute, property list), closed in its destructor, and a checker that
// turns a failed call into std::runtime_error naming the call, the HDF5 object path and HDF5's
// own explanation. Nothing here knows about halite's file layout (see result_writer.hpp).
//
// One thread for all HDF5 work: the library's thread-safety lock is a build option (Debian 12's
// 1.10.8 has it, other builds may not), and the writer is not meant to be shared anyway.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace halite::h5 {

// Temporarily switches off HDF5's automatic printing of its error stack to stderr; failures are
// reported through exceptions instead. Restores the previous handler on destruction.
class QuietErrors {
 public:
  QuietErrors() {
    H5Eget_auto2(H5E_DEFAULT, &func_, &data_);
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  }
  ~QuietErrors() { H5Eset_auto2(H5E_DEFAULT, func_, data_); }
  QuietErrors(const QuietErrors&) = delete;
  QuietErrors& operator=(const QuietErrors&) = delete;

 private:
  H5E_auto2_t func_ = nullptr;
  void* data_ = nullptr;
};

namespace detail {
inline herr_t collect_error(unsigned n, const H5E_error2_t* err, void* out) {
  auto& messages = *static_cast<std::vector<std::string>*>(out);
  (void)n;
  if (err != nullptr && err->desc != nullptr && err->desc[0] != '\0') {
    messages.emplace_back(err->desc);
  }
  return 0;
}
}  // namespace detail

// Throws std::runtime_error: "HDF5 <call> failed for '<path>': <outermost>; <innermost>". Must be
// called right after the failing call, before any other HDF5 call resets the error stack.
[[noreturn]] inline void throw_error(std::string_view call, std::string_view path) {
  std::vector<std::string> messages;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, &detail::collect_error, &messages);
  H5Eclear2(H5E_DEFAULT);
  std::string what = "HDF5 ";
  what.append(call).append(" failed for '").append(path).append("'");
  if (!messages.empty()) {
    what += ": " + messages.front();
    if (messages.size() > 1 && messages.back() != messages.front()) what += "; " + messages.back();
  }
  throw std::runtime_error(what);
}

// Checks an id- or status-returning call: negative is failure.
inline hid_t check_id(hid_t id, std::string_view call, std::string_view path) {
  if (id < 0) throw_error(call, path);
  return id;
}
inline void check(herr_t status, std::string_view call, std::string_view path) {
  if (status < 0) throw_error(call, path);
}
// Checks an htri_t (true / false / negative on failure) call.
inline bool check_tri(htri_t result, std::string_view call, std::string_view path) {
  if (result < 0) throw_error(call, path);
  return result > 0;
}

// Owner of one HDF5 id. `Close` is the matching H5?close function. The path is kept for error
// messages only.
template <herr_t (*Close)(hid_t)>
class Handle {
 public:
  Handle() = default;
  Handle(hid_t id, std::string path) : id_(id), path_(std::move(path)) {}
  ~Handle() { reset(); }
  Handle(Handle&& other) noexcept
      : id_(std::exchange(other.id_, H5I_INVALID_HID)), path_(std::move(other.path_)) {}
  Handle& operator=(Handle&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, H5I_INVALID_HID);
      path_ = std::move(other.path_);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  hid_t id() const { return id_; }
  const std::string& path() const { return path_; }
  bool valid() const { return id_ >= 0; }
  explicit operator bool() const { return valid(); }

  // Closes now and reports failure (the destructor closes silently).
  void close(std::string_view call) {
    if (id_ < 0) return;
    const hid_t id = std::exchange(id_, H5I_INVALID_HID);
    check(Close(id), call, path_);
  }

 private:
  void reset() noexcept {
    if (id_ >= 0) {
      QuietErrors quiet;
      Close(id_);
      id_ = H5I_INVALID_HID;
    }
  }
  hid_t id_ = H5I_INVALID_HID;
  std::string path_;
};

using File = Handle<H5Fclose>;
using Group = Handle<H5Gclose>;
using Dataset = Handle<H5Dclose>;
using Dataspace = Handle<H5Sclose>;
using Datatype = Handle<H5Tclose>;
using Attribute = Handle<H5Aclose>;
using PropertyList = Handle<H5Pclose>;
using Object = Handle<H5Oclose>;  // any group, dataset or named datatype opened by path

// ---- creation helpers (each checks its call) ----------------------------------------------------

inline PropertyList create_plist(hid_t cls, std::string_view what) {
  return {check_id(H5Pcreate(cls), "H5Pcreate", what), std::string(what)};
}

inline Dataspace create_scalar_space(std::string_view what) {
  return {check_id(H5Screate(H5S_SCALAR), "H5Screate", what), std::string(what)};
}

inline Dataspace create_simple_space(const std::vector<hsize_t>& dims,
                                     const std::vector<hsize_t>& maxdims, std::string_view what) {
  const hsize_t* max = maxdims.empty() ? nullptr : maxdims.data();
  return {check_id(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), max),
                   "H5Screate_simple", what),
          std::string(what)};
}

// Variable-length UTF-8 string type (h5py reads it as str).
inline Datatype utf8_string_type(std::string_view what) {
  Datatype t{check_id(H5Tcopy(H5T_C_S1), "H5Tcopy", what), std::string(what)};
  check(H5Tset_size(t.id(), H5T_VARIABLE), "H5Tset_size", what);
  check(H5Tset_cset(t.id(), H5T_CSET_UTF8), "H5Tset_cset", what);
  return t;
}

inline Group create_group(hid_t loc, const std::string& name, const std::string& path) {
  return {check_id(H5Gcreate2(loc, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                   "H5Gcreate2", path),
          path};
}

inline Group open_group(hid_t loc, const std::string& name, const std::string& path) {
  return {check_id(H5Gopen2(loc, name.c_str(), H5P_DEFAULT), "H5Gopen2", path), path};
}

inline Dataset open_dataset(hid_t loc, const std::string& name, const std::string& path) {
  return {check_id(H5Dopen2(loc, name.c_str(), H5P_DEFAULT), "H5Dopen2", path), path};
}

inline Object open_object(hid_t loc, const std::string& name, const std::string& path) {
  return {check_id(H5Oopen(loc, name.c_str(), H5P_DEFAULT), "H5Oopen", path), path};
}

inline Dataspace dataset_space(const Dataset& ds) {
  return {check_id(H5Dget_space(ds.id()), "H5Dget_space", ds.path()), ds.path()};
}

inline std::vector<hsize_t> extent(const Dataspace& space) {
  const int rank =
      check_id(H5Sget_simple_extent_ndims(space.id()), "H5Sget_simple_extent_ndims", space.path());
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  check_id(H5Sget_simple_extent_dims(space.id(), dims.data(), nullptr), "H5Sget_simple_extent_dims",
           space.path());
  return dims;
}

// True if `name` (a path relative to loc, one level) exists as a link.
inline bool link_exists(hid_t loc, const std::string& name, const std::string& path) {
  return check_tri(H5Lexists(loc, name.c_str(), H5P_DEFAULT), "H5Lexists", path);
}

// Size in bytes of a datatype (H5Tget_size returns 0 on failure).
inline std::size_t type_size(const Datatype& type) {
  const std::size_t size = H5Tget_size(type.id());
  if (size == 0) throw_error("H5Tget_size", type.path());
  return size;
}

// ---- attributes ---------------------------------------------------------------------------------

inline void write_attribute(hid_t obj, const std::string& obj_path, const std::string& name,
                            std::string_view value) {
  const std::string where = obj_path + "@" + name;
  Datatype type = utf8_string_type(where);
  Dataspace space = create_scalar_space(where);
  Attribute attr{
      check_id(H5Acreate2(obj, name.c_str(), type.id(), space.id(), H5P_DEFAULT, H5P_DEFAULT),
               "H5Acreate2", where),
      where};
  const std::string copy(value);
  const char* ptr = copy.c_str();
  check(H5Awrite(attr.id(), type.id(), &ptr), "H5Awrite", where);
  attr.close("H5Aclose");
}

namespace detail {
template <class T>
hid_t native_type();
template <>
inline hid_t native_type<double>() {
  return H5T_NATIVE_DOUBLE;
}
template <>
inline hid_t native_type<std::int64_t>() {
  return H5T_NATIVE_INT64;
}
template <>
inline hid_t native_type<std::int32_t>() {
  return H5T_NATIVE_INT32;
}
template <>
inline hid_t native_type<std::int8_t>() {
  return H5T_NATIVE_INT8;
}
}  // namespace detail

// Numeric scalar attribute (stored little-endian in the file, same width as T).
template <class T>
requires std::is_arithmetic_v<T>
void write_attribute(hid_t obj, const std::string& obj_path, const std::string& name, T value) {
  const std::string where = obj_path + "@" + name;
  Dataspace space = create_scalar_space(where);
  Attribute attr{check_id(H5Acreate2(obj, name.c_str(), detail::native_type<T>(), space.id(),
                                     H5P_DEFAULT, H5P_DEFAULT),
                          "H5Acreate2", where),
                 where};
  check(H5Awrite(attr.id(), detail::native_type<T>(), &value), "H5Awrite", where);
  attr.close("H5Aclose");
}

// Replaces (or creates) a numeric scalar attribute in place.
template <class T>
requires std::is_arithmetic_v<T>
void update_attribute(hid_t obj, const std::string& obj_path, const std::string& name, T value) {
  const std::string where = obj_path + "@" + name;
  if (!check_tri(H5Aexists(obj, name.c_str()), "H5Aexists", where)) {
    write_attribute(obj, obj_path, name, value);
    return;
  }
  Attribute attr{check_id(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "H5Aopen", where), where};
  check(H5Awrite(attr.id(), detail::native_type<T>(), &value), "H5Awrite", where);
  attr.close("H5Aclose");
}

// Reads a scalar string attribute, variable- or fixed-length.
inline std::string read_string_attribute(hid_t obj, const std::string& obj_path,
                                         const std::string& name) {
  const std::string where = obj_path + "@" + name;
  Attribute attr{check_id(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "H5Aopen", where), where};
  Datatype file_type{check_id(H5Aget_type(attr.id()), "H5Aget_type", where), where};
  const H5T_class_t cls = H5Tget_class(file_type.id());
  if (cls == H5T_NO_CLASS) throw_error("H5Tget_class", where);
  if (cls != H5T_STRING) {
    throw std::runtime_error("HDF5 attribute '" + where + "' is not a string");
  }
  if (check_tri(H5Tis_variable_str(file_type.id()), "H5Tis_variable_str", where)) {
    Datatype mem = utf8_string_type(where);
    char* ptr = nullptr;
    check(H5Aread(attr.id(), mem.id(), &ptr), "H5Aread", where);
    std::string out = ptr != nullptr ? std::string(ptr) : std::string();
    if (ptr != nullptr) check(H5free_memory(ptr), "H5free_memory", where);
    return out;
  }
  const std::size_t size = type_size(file_type);
  std::string buffer(size, '\0');
  check(H5Aread(attr.id(), file_type.id(), buffer.data()), "H5Aread", where);
  const auto end = buffer.find('\0');
  if (end != std::string::npos) buffer.resize(end);
  while (!buffer.empty() && buffer.back() == ' ') buffer.pop_back();  // space-padded strings
  return buffer;
}

// Reads a numeric scalar attribute converted to double.
inline double read_numeric_attribute(hid_t obj, const std::string& obj_path,
                                     const std::string& name) {
  const std::string where = obj_path + "@" + name;
  Attribute attr{check_id(H5Aopen(obj, name.c_str(), H5P_DEFAULT), "H5Aopen", where), where};
  double value = 0;
  check(H5Aread(attr.id(), H5T_NATIVE_DOUBLE, &value), "H5Aread", where);
  return value;
}

}  // namespace halite::h5

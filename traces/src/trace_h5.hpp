// Private helpers over the HDF5 C API for the trace reader and writer: an
// owning handle, error conversion (every failing HDF5 call becomes a
// TraceError, never a printed stack or an abort), attributes, extendable
// chunked datasets and whole-dataset reads.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "foresight/trace/reader.hpp"

namespace foresight::trace::h5 {

// Turns off HDF5's automatic error-stack printing for this thread. Called by
// every public entry point before it touches HDF5.
void silence_errors();

// Throws TraceError "<where>: <what>: <innermost HDF5 message>".
[[noreturn]] void fail(const std::string& where, const std::string& what);

// Checks an HDF5 return value (negative = failure).
inline hid_t check(hid_t id, const std::string& where, const std::string& what) {
  if (id < 0) fail(where, what);
  return id;
}
inline herr_t check_status(herr_t st, const std::string& where, const std::string& what) {
  if (st < 0) fail(where, what);
  return st;
}

// Owns one hid_t and closes it with the matching H5?close.
class Handle {
 public:
  Handle() = default;
  explicit Handle(hid_t id) : id_(id) {}
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : id_(std::exchange(o.id_, H5I_INVALID_HID)) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      id_ = std::exchange(o.id_, H5I_INVALID_HID);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t get() const { return id_; }
  operator hid_t() const { return id_; }  // NOLINT: passes straight to H5 calls
  void reset();

 private:
  hid_t id_ = H5I_INVALID_HID;
};

// Checked constructor: Handle owning `id`, or TraceError if `id` < 0.
inline Handle owned(hid_t id, const std::string& where, const std::string& what) {
  return Handle(check(id, where, what));
}

// ---- attributes (scalar; strings are variable-length UTF-8) ----
void write_attr_string(hid_t obj, const char* name, const std::string& value,
                       const std::string& where);
void write_attr_int(hid_t obj, const char* name, std::int64_t value, const std::string& where);
bool has_attr(hid_t obj, const char* name);
std::string read_attr_string(hid_t obj, const char* name, const std::string& where);
std::int64_t read_attr_int(hid_t obj, const char* name, const std::string& where);

// ---- types ----
// Fixed-length, NUL-padded ASCII string of `len` bytes.
Handle fixed_string_type(std::size_t len, const std::string& where);

// ---- groups and datasets (no modification times: files are reproducible) ----
Handle create_group(hid_t parent, const char* name, const std::string& where);
// Dataset creation property list with time tracking off; chunking is added by
// create_extendable.
Handle dataset_plist(const std::string& where);

struct DatasetSpec {
  hid_t file_type;    // type stored in the file
  int rank = 1;       // 1: [n]; 2: [n, width]
  hsize_t width = 0;  // second dimension when rank == 2
  hsize_t chunk_rows = 1024;
  int deflate_level = 4;  // 0: no compression filters
};

// Creates an empty dataset extendable along dimension 0.
Handle create_extendable(hid_t parent, const char* name, const DatasetSpec& spec,
                         const std::string& where);

// Appends `rows` rows from `data` (in `mem_type`, row-major) to dimension 0.
void append_rows(hid_t dset, hid_t mem_type, const void* data, hsize_t rows,
                 const std::string& where);

// Number of rows (dimension 0) and, for rank 2, the width.
struct Shape {
  int rank = 0;
  hsize_t rows = 0;
  hsize_t width = 0;
};
Shape shape_of(hid_t dset, const std::string& where);

// The shape of dataset `name` of a file being read, which must be a simple
// dataspace of rank `rank`: TraceError "<where>: <name> has rank R, expected
// <rank>" otherwise (a scalar or null dataspace has rank 0). For rank 2, rows
// * width must fit in memory sizes (else "too large to load"), and the extent
// must be one the bytes the file stores for the dataset can hold (else
// "claims N elements ... (damaged extent?)"), checked before anything is
// allocated for it.
Shape shape_with_rank(hid_t dset, int rank, const std::string& where, const std::string& name);

// Reads every element into `out`, which the caller sized to `count` elements
// of `mem_type`; TraceError unless the dataset holds exactly `count` elements
// (a buffer is never overrun, whatever the file's shape).
void read_all(hid_t dset, hid_t mem_type, void* out, std::uint64_t count, const std::string& where);

// A file type as numpy would name it, for messages: "int64", "uint16",
// "float64", "S48", "variable-length string", "compound", ...
std::string type_name(hid_t type);

bool link_exists(hid_t parent, const char* path);

}  // namespace foresight::trace::h5

// HDF5 C API helpers for the trace library (see trace_h5.hpp).
#include "trace_h5.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <limits>
#include <vector>

namespace foresight::trace::h5 {

void silence_errors() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

namespace {
herr_t collect_error(unsigned /*n*/, const H5E_error2_t* e, void* data) {
  auto* msgs = static_cast<std::vector<std::string>*>(data);
  if (e->desc && *e->desc) msgs->emplace_back(e->desc);
  return 0;
}
}  // namespace

void fail(const std::string& where, const std::string& what) {
  std::vector<std::string> msgs;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_error, &msgs);
  H5Eclear2(H5E_DEFAULT);
  std::string detail;
  if (!msgs.empty()) {
    detail = msgs.front();
    if (msgs.size() > 1 && msgs.back() != msgs.front()) detail += " (" + msgs.back() + ")";
  }
  if (detail.empty()) throw TraceError(fmt::format("{}: {}", where, what));
  throw TraceError(fmt::format("{}: {}: {}", where, what, detail));
}

void Handle::reset() {
  if (id_ < 0) return;
  switch (H5Iget_type(id_)) {
    case H5I_FILE:
      H5Fclose(id_);
      break;
    case H5I_GROUP:
      H5Gclose(id_);
      break;
    case H5I_DATASET:
      H5Dclose(id_);
      break;
    case H5I_DATASPACE:
      H5Sclose(id_);
      break;
    case H5I_DATATYPE:
      H5Tclose(id_);
      break;
    case H5I_ATTR:
      H5Aclose(id_);
      break;
    case H5I_GENPROP_LST:
      H5Pclose(id_);
      break;
    default:
      break;
  }
  id_ = H5I_INVALID_HID;
}

namespace {
Handle vlen_string_type(const std::string& where) {
  Handle t = owned(H5Tcopy(H5T_C_S1), where, "string type");
  check_status(H5Tset_size(t, H5T_VARIABLE), where, "string type");
  check_status(H5Tset_cset(t, H5T_CSET_UTF8), where, "string type");
  return t;
}

Handle replace_attr(hid_t obj, const char* name, hid_t type, const std::string& where) {
  if (H5Aexists(obj, name) > 0) check_status(H5Adelete(obj, name), where, name);
  Handle space = owned(H5Screate(H5S_SCALAR), where, name);
  return owned(H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT), where,
               std::string("create attribute ") + name);
}
}  // namespace

void write_attr_string(hid_t obj, const char* name, const std::string& value,
                       const std::string& where) {
  // Fixed-length UTF-8, sized to the value: variable-length strings live in
  // HDF5's global heap, which has no checksum and which HDF5 1.10 reads
  // unchecked (a damaged heap crashes the reader).
  Handle type = owned(H5Tcopy(H5T_C_S1), where, "string type");
  check_status(H5Tset_size(type, std::max<std::size_t>(1, value.size())), where, "string type");
  check_status(H5Tset_strpad(type, H5T_STR_NULLPAD), where, "string type");
  check_status(H5Tset_cset(type, H5T_CSET_UTF8), where, "string type");
  Handle attr = replace_attr(obj, name, type, where);
  std::string padded = value;
  padded.resize(std::max<std::size_t>(1, value.size()), '\0');
  check_status(H5Awrite(attr, type, padded.data()), where, std::string("write attribute ") + name);
}

void write_attr_int(hid_t obj, const char* name, std::int64_t value, const std::string& where) {
  Handle attr = replace_attr(obj, name, H5T_STD_I64LE, where);
  check_status(H5Awrite(attr, H5T_NATIVE_INT64, &value), where,
               std::string("write attribute ") + name);
}

bool has_attr(hid_t obj, const char* name) { return H5Aexists(obj, name) > 0; }

std::string read_attr_string(hid_t obj, const char* name, const std::string& where) {
  const std::string what = std::string("attribute ") + name;
  if (!has_attr(obj, name)) throw TraceError(fmt::format("{}: missing {}", where, what));
  Handle attr = owned(H5Aopen(obj, name, H5P_DEFAULT), where, what);
  Handle ftype = owned(H5Aget_type(attr), where, what);
  if (H5Tget_class(ftype) != H5T_STRING)
    throw TraceError(fmt::format("{}: {} is not a string", where, what));
  Handle space = owned(H5Aget_space(attr), where, what);
  if (H5Sget_simple_extent_npoints(space) != 1)
    throw TraceError(fmt::format("{}: {} is not a scalar", where, what));
  if (H5Tis_variable_str(ftype) > 0) {
    Handle mtype = vlen_string_type(where);
    char* p = nullptr;
    check_status(H5Aread(attr, mtype, &p), where, what);
    std::string s = p ? p : "";
    H5free_memory(p);
    return s;
  }
  const std::size_t n = H5Tget_size(ftype);
  if (n == 0 || n > (std::size_t{64} << 20))
    throw TraceError(fmt::format("{}: {} has an implausible size {}", where, what, n));
  Handle mtype = owned(H5Tcopy(ftype), where, what);
  std::string s(n, '\0');
  check_status(H5Aread(attr, mtype, s.data()), where, what);
  s.resize(s.find('\0') == std::string::npos ? n : s.find('\0'));
  return s;
}

std::int64_t read_attr_int(hid_t obj, const char* name, const std::string& where) {
  const std::string what = std::string("attribute ") + name;
  if (!has_attr(obj, name)) throw TraceError(fmt::format("{}: missing {}", where, what));
  Handle attr = owned(H5Aopen(obj, name, H5P_DEFAULT), where, what);
  Handle ftype = owned(H5Aget_type(attr), where, what);
  if (H5Tget_class(ftype) != H5T_INTEGER)
    throw TraceError(fmt::format("{}: {} is not an integer", where, what));
  Handle space = owned(H5Aget_space(attr), where, what);
  if (H5Sget_simple_extent_npoints(space) != 1)
    throw TraceError(fmt::format("{}: {} is not a scalar", where, what));
  std::int64_t v = 0;
  check_status(H5Aread(attr, H5T_NATIVE_INT64, &v), where, what);
  return v;
}

Handle fixed_string_type(std::size_t len, const std::string& where) {
  Handle t = owned(H5Tcopy(H5T_C_S1), where, "string type");
  check_status(H5Tset_size(t, len), where, "string type");
  check_status(H5Tset_strpad(t, H5T_STR_NULLPAD), where, "string type");
  return t;
}

Handle create_group(hid_t parent, const char* name, const std::string& where) {
  const std::string what = std::string("create group ") + name;
  Handle gcpl = owned(H5Pcreate(H5P_GROUP_CREATE), where, what);
  check_status(H5Pset_obj_track_times(gcpl, false), where, what);
  return owned(H5Gcreate2(parent, name, H5P_DEFAULT, gcpl, H5P_DEFAULT), where, what);
}

Handle dataset_plist(const std::string& where) {
  Handle dcpl = owned(H5Pcreate(H5P_DATASET_CREATE), where, "dataset properties");
  check_status(H5Pset_obj_track_times(dcpl, false), where, "dataset properties");
  return dcpl;
}

Handle create_extendable(hid_t parent, const char* name, const DatasetSpec& spec,
                         const std::string& where) {
  const std::string what = std::string("create dataset ") + name;
  hsize_t dims[2] = {0, spec.width};
  hsize_t maxdims[2] = {H5S_UNLIMITED, spec.width};
  hsize_t chunk[2] = {spec.chunk_rows, spec.width};
  Handle space = owned(H5Screate_simple(spec.rank, dims, maxdims), where, what);
  Handle dcpl = dataset_plist(where);
  check_status(H5Pset_chunk(dcpl, spec.rank, chunk), where, what);
  if (spec.deflate_level > 0) {
    check_status(H5Pset_shuffle(dcpl), where, what);
    check_status(H5Pset_deflate(dcpl, static_cast<unsigned>(spec.deflate_level)), where, what);
  }
  check_status(H5Pset_fletcher32(dcpl), where, what);  // a damaged chunk fails to read
  return owned(H5Dcreate2(parent, name, spec.file_type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT),
               where, what);
}

Shape shape_of(hid_t dset, const std::string& where) {
  Handle space = owned(H5Dget_space(dset), where, "dataspace");
  Shape s;
  s.rank = H5Sget_simple_extent_ndims(space);
  if (s.rank < 1 || s.rank > 2)
    throw TraceError(fmt::format("{}: rank {} (expected 1 or 2)", where, s.rank));
  hsize_t dims[2] = {0, 0};
  check_status(H5Sget_simple_extent_dims(space, dims, nullptr), where, "dataspace");
  s.rows = dims[0];
  s.width = s.rank == 2 ? dims[1] : 0;
  return s;
}

void append_rows(hid_t dset, hid_t mem_type, const void* data, hsize_t rows,
                 const std::string& where) {
  if (rows == 0) return;
  const Shape s = shape_of(dset, where);
  hsize_t new_dims[2] = {s.rows + rows, s.width};
  check_status(H5Dset_extent(dset, new_dims), where, "extend");
  Handle fspace = owned(H5Dget_space(dset), where, "extend");
  hsize_t start[2] = {s.rows, 0};
  hsize_t count[2] = {rows, s.width};
  check_status(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, nullptr, count, nullptr), where,
               "select");
  Handle mspace = owned(H5Screate_simple(s.rank, count, nullptr), where, "select");
  check_status(H5Dwrite(dset, mem_type, mspace, fspace, H5P_DEFAULT, data), where, "write");
}

Shape shape_with_rank(hid_t dset, int rank, const std::string& where, const std::string& name) {
  Handle space = owned(H5Dget_space(dset), where, name + ": dataspace");
  const H5S_class_t cls = H5Sget_simple_extent_type(space);
  const int r = cls == H5S_SIMPLE ? H5Sget_simple_extent_ndims(space) : 0;
  if (r < 0) fail(where, name + ": dataspace");
  if (r != rank)
    throw TraceError(fmt::format("{}: {} has rank {}, expected {}", where, name, r, rank));
  hsize_t dims[H5S_MAX_RANK] = {};
  check_status(H5Sget_simple_extent_dims(space, dims, nullptr), where, name + ": dataspace");
  Shape s;
  s.rank = r;
  s.rows = dims[0];
  s.width = r == 2 ? dims[1] : 0;
  if (s.width != 0 && s.rows > std::numeric_limits<std::size_t>::max() / 4 / s.width)
    throw TraceError(fmt::format("{}: {} of {} x {} elements is too large to load", where, name,
                                 s.rows, s.width));
  // A chunked dataset can claim far more rows than it stores (chunks never
  // written read as the fill value, after the reader allocated for all of
  // them). Refuse an extent the stored bytes cannot hold even compressed:
  // deflate packs at most 1032:1.
  Handle ftype = owned(H5Dget_type(dset), where, name);
  const long double elements =
      static_cast<long double>(s.rows) * static_cast<long double>(r == 2 ? s.width : 1);
  const long double claimed = elements * static_cast<long double>(H5Tget_size(ftype));
  const hsize_t stored = H5Dget_storage_size(dset);
  if (claimed > 1100.0L * static_cast<long double>(stored) + static_cast<long double>(1 << 20))
    throw TraceError(fmt::format(
        "{}: {} claims {} elements ({:.0f} bytes) but the file stores {} "
        "bytes for it (damaged extent?)",
        where, name, static_cast<double>(elements), static_cast<double>(claimed), stored));
  return s;
}

void read_all(hid_t dset, hid_t mem_type, void* out, std::uint64_t count,
              const std::string& where) {
  Handle space = owned(H5Dget_space(dset), where, "dataspace");
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  if (n < 0) fail(where, "dataspace");
  if (static_cast<std::uint64_t>(n) != count)
    throw TraceError(fmt::format("{}: holds {} elements, expected {}", where, n, count));
  if (count == 0) return;
  check_status(H5Dread(dset, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out), where, "read");
}

std::string type_name(hid_t type) {
  const std::size_t bits = 8 * H5Tget_size(type);
  switch (H5Tget_class(type)) {
    case H5T_INTEGER:
      return fmt::format("{}int{}", H5Tget_sign(type) == H5T_SGN_NONE ? "u" : "", bits);
    case H5T_FLOAT:
      return fmt::format("float{}", bits);
    case H5T_STRING:
      return H5Tis_variable_str(type) > 0 ? "variable-length string" : fmt::format("S{}", bits / 8);
    case H5T_COMPOUND:
      return "compound";
    case H5T_ENUM:
      return "enum";
    case H5T_ARRAY:
      return "array";
    case H5T_VLEN:
      return "variable-length sequence";
    case H5T_BITFIELD:
      return "bitfield";
    case H5T_OPAQUE:
      return "opaque";
    case H5T_REFERENCE:
      return "reference";
    case H5T_TIME:
      return "time";
    default:
      return "an unknown type";
  }
}

bool link_exists(hid_t parent, const char* path) {
  return H5Lexists(parent, path, H5P_DEFAULT) > 0;
}

}  // namespace foresight::trace::h5

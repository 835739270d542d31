// HDF5 compound types of the schema v1 tables (see trace_types.hpp).
#include "trace_types.hpp"

#include <fmt/core.h>

#include <cstddef>
#include <cstring>

namespace foresight::trace::h5 {
namespace {

const std::string kWhere = "hdf5 types";

struct Field {
  const char* name;
  std::size_t mem_offset;
  hid_t mem_type;   // native
  hid_t file_type;  // little-endian standard (or a string type)
};

CompoundTypes make(std::size_t mem_size, std::initializer_list<Field> fields) {
  CompoundTypes t;
  std::size_t file_size = 0;
  for (const Field& f : fields) file_size += H5Tget_size(f.file_type);
  t.mem = owned(H5Tcreate(H5T_COMPOUND, mem_size), kWhere, "compound");
  t.file = owned(H5Tcreate(H5T_COMPOUND, file_size), kWhere, "compound");
  std::size_t off = 0;
  for (const Field& f : fields) {
    check_status(H5Tinsert(t.mem, f.name, f.mem_offset, f.mem_type), kWhere, f.name);
    check_status(H5Tinsert(t.file, f.name, off, f.file_type), kWhere, f.name);
    off += H5Tget_size(f.file_type);
    t.fields.emplace_back(f.name);
  }
  return t;
}

}  // namespace

CompoundTypes op_types() {
  return make(sizeof(Op),
              {
                  {"id", offsetof(Op, id), H5T_NATIVE_UINT64, H5T_STD_U64LE},
                  {"kind", offsetof(Op, kind), H5T_NATIVE_UINT8, H5T_STD_U8LE},
                  {"engine", offsetof(Op, engine), H5T_NATIVE_UINT8, H5T_STD_U8LE},
                  {"phase", offsetof(Op, phase), H5T_NATIVE_UINT8, H5T_STD_U8LE},
                  {"stage", offsetof(Op, stage), H5T_NATIVE_UINT16, H5T_STD_U16LE},
                  {"stream", offsetof(Op, stream), H5T_NATIVE_UINT8, H5T_STD_U8LE},
                  {"step", offsetof(Op, step), H5T_NATIVE_INT32, H5T_STD_I32LE},
                  {"layer", offsetof(Op, layer), H5T_NATIVE_INT16, H5T_STD_I16LE},
                  {"seq", offsetof(Op, seq), H5T_NATIVE_INT32, H5T_STD_I32LE},
                  {"start_ns", offsetof(Op, start_ns), H5T_NATIVE_INT64, H5T_STD_I64LE},
                  {"end_ns", offsetof(Op, end_ns), H5T_NATIVE_INT64, H5T_STD_I64LE},
                  {"bytes", offsetof(Op, bytes), H5T_NATIVE_UINT64, H5T_STD_U64LE},
                  {"flops", offsetof(Op, flops), H5T_NATIVE_UINT64, H5T_STD_U64LE},
                  {"chunks", offsetof(Op, chunks), H5T_NATIVE_UINT32, H5T_STD_U32LE},
                  {"ctas", offsetof(Op, ctas), H5T_NATIVE_UINT16, H5T_STD_U16LE},
                  {"dep_offset", offsetof(Op, dep_offset), H5T_NATIVE_UINT64, H5T_STD_U64LE},
                  {"dep_count", offsetof(Op, dep_count), H5T_NATIVE_UINT32, H5T_STD_U32LE},
              });
}

CompoundTypes step_types() {
  return make(sizeof(StepSpan),
              {
                  {"phase", offsetof(StepSpan, phase), H5T_NATIVE_UINT8, H5T_STD_U8LE},
                  {"step", offsetof(StepSpan, step), H5T_NATIVE_INT32, H5T_STD_I32LE},
                  {"start_ns", offsetof(StepSpan, start_ns), H5T_NATIVE_INT64, H5T_STD_I64LE},
                  {"end_ns", offsetof(StepSpan, end_ns), H5T_NATIVE_INT64, H5T_STD_I64LE},
              });
}

CompoundTypes key_types() {
  return make(sizeof(SelectionKey),
              {
                  {"step", offsetof(SelectionKey, step), H5T_NATIVE_INT32, H5T_STD_I32LE},
                  {"layer", offsetof(SelectionKey, layer), H5T_NATIVE_INT16, H5T_STD_I16LE},
                  {"seq", offsetof(SelectionKey, seq), H5T_NATIVE_INT32, H5T_STD_I32LE},
                  {"kv_head", offsetof(SelectionKey, kv_head), H5T_NATIVE_UINT16, H5T_STD_U16LE},
                  {"count", offsetof(SelectionKey, count), H5T_NATIVE_UINT16, H5T_STD_U16LE},
              });
}

CompoundTypes cache_types() {
  return make(
      sizeof(CacheOutcome),
      {
          {"step", offsetof(CacheOutcome, step), H5T_NATIVE_INT32, H5T_STD_I32LE},
          {"layer", offsetof(CacheOutcome, layer), H5T_NATIVE_INT16, H5T_STD_I16LE},
          {"selected", offsetof(CacheOutcome, selected), H5T_NATIVE_UINT64, H5T_STD_U64LE},
          {"hits", offsetof(CacheOutcome, hits), H5T_NATIVE_UINT64, H5T_STD_U64LE},
          {"misses", offsetof(CacheOutcome, misses), H5T_NATIVE_UINT64, H5T_STD_U64LE},
          {"loaded_bytes", offsetof(CacheOutcome, loaded_bytes), H5T_NATIVE_UINT64, H5T_STD_U64LE},
      });
}

CompoundTypes prefill_pattern_types() {
  using P = PrefillPattern;
  return make(sizeof(P),
              {
                  {"seq", offsetof(P, seq), H5T_NATIVE_INT32, H5T_STD_I32LE},
                  {"layer", offsetof(P, layer), H5T_NATIVE_INT16, H5T_STD_I16LE},
                  {"head", offsetof(P, head), H5T_NATIVE_UINT16, H5T_STD_U16LE},
                  {"kind", offsetof(P, kind), H5T_NATIVE_UINT8, H5T_STD_U8LE},
                  {"full", offsetof(P, full), H5T_NATIVE_UINT8, H5T_STD_U8LE},
                  {"tokens", offsetof(P, tokens), H5T_NATIVE_INT64, H5T_STD_I64LE},
                  {"param_a", offsetof(P, param_a), H5T_NATIVE_INT64, H5T_STD_I64LE},
                  {"param_b", offsetof(P, param_b), H5T_NATIVE_INT64, H5T_STD_I64LE},
                  {"tiles", offsetof(P, tiles), H5T_NATIVE_UINT64, H5T_STD_U64LE},
                  {"dense_tiles", offsetof(P, dense_tiles), H5T_NATIVE_UINT64, H5T_STD_U64LE},
                  {"recall", offsetof(P, recall), H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE},
              });
}

CompoundTypes stream_types() {
  Handle name = fixed_string_type(kNameLen, kWhere);
  return make(sizeof(StreamRow),
              {
                  {"name", offsetof(StreamRow, name), name, name},
                  {"kind", offsetof(StreamRow, kind), H5T_NATIVE_UINT8, H5T_STD_U8LE},
              });
}

CompoundTypes memory_types() {
  Handle name = fixed_string_type(kNameLen, kWhere);
  return make(sizeof(MemoryRow),
              {
                  {"location", offsetof(MemoryRow, location), H5T_NATIVE_UINT8, H5T_STD_U8LE},
                  {"category", offsetof(MemoryRow, category), name, name},
                  {"bytes", offsetof(MemoryRow, bytes), H5T_NATIVE_UINT64, H5T_STD_U64LE},
              });
}

bool reads_exactly(hid_t file_type, hid_t mem_type) {
  const H5T_class_t fc = H5Tget_class(file_type), mc = H5Tget_class(mem_type);
  const std::size_t fs = H5Tget_size(file_type), ms = H5Tget_size(mem_type);
  if (mc == H5T_INTEGER) {
    if (fc != H5T_INTEGER) return false;
    const bool fsigned = H5Tget_sign(file_type) != H5T_SGN_NONE;
    if (H5Tget_sign(mem_type) == H5T_SGN_NONE) return !fsigned && fs <= ms;
    return fsigned ? fs <= ms : fs < ms;
  }
  if (mc == H5T_STRING) return fc == H5T_STRING && H5Tis_variable_str(file_type) <= 0 && fs <= ms;
  if (mc == H5T_FLOAT) return fc == H5T_FLOAT && fs <= ms;  // float32 widens to float64 exactly
  return false;
}

void require_fields(hid_t dset, const CompoundTypes& t, const std::string& where,
                    const std::string& dataset) {
  Handle ftype = owned(H5Dget_type(dset), where, dataset);
  if (H5Tget_class(ftype) != H5T_COMPOUND)
    throw TraceError(fmt::format("{}: {} is not a table (compound dataset)", where, dataset));
  // HDF5 1.10 does not check this itself; a damaged type would make it read
  // out of bounds.
  const std::size_t size = H5Tget_size(ftype);
  const int n = H5Tget_nmembers(ftype);
  if (size == 0 || n <= 0)
    throw TraceError(fmt::format("{}: {}: damaged compound type", where, dataset));
  for (int i = 0; i < n; ++i) {
    Handle mt = owned(H5Tget_member_type(ftype, static_cast<unsigned>(i)), where, dataset);
    const std::size_t off = H5Tget_member_offset(ftype, static_cast<unsigned>(i));
    if (off > size || H5Tget_size(mt) > size - off)
      throw TraceError(fmt::format("{}: {}: damaged compound type (member {} outside the row)",
                                   where, dataset, i));
  }
  for (const std::string& f : t.fields) {
    const int fi = H5Tget_member_index(ftype, f.c_str());
    if (fi < 0) throw TraceError(fmt::format("{}: {}: missing field '{}'", where, dataset, f));
    Handle ft = owned(H5Tget_member_type(ftype, static_cast<unsigned>(fi)), where, dataset);
    Handle mt = owned(
        H5Tget_member_type(t.mem, static_cast<unsigned>(H5Tget_member_index(t.mem, f.c_str()))),
        where, dataset);
    if (!reads_exactly(ft, mt))
      throw TraceError(fmt::format("{}: {}: field '{}' is {}, expected {}", where, dataset, f,
                                   type_name(ft), type_name(mt)));
  }
}

void put_name(char (&dst)[kNameLen], const std::string& s, const std::string& what) {
  if (s.size() > kNameLen)
    throw TraceError(fmt::format("{}: name '{}' is longer than {} bytes", what, s, kNameLen));
  std::memset(dst, 0, kNameLen);
  std::memcpy(dst, s.data(), s.size());
}

std::string get_name(const char (&src)[kNameLen]) {
  std::size_t n = 0;
  while (n < kNameLen && src[n] != '\0') ++n;
  return std::string(src, n);
}

}  // namespace foresight::trace::h5

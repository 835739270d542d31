// Trace test helpers (see trace_test_util.hpp).
#include "trace_test_util.hpp"

#include <hdf5.h>

#include <unistd.h>

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "foresight/config/load.hpp"

namespace foresight::testing {

std::filesystem::path samples_dir() { return FORESIGHT_TRACE_SAMPLES; }

std::filesystem::path scratch_dir(const std::string& test_name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("foresight-test-traces-" + std::to_string(::getpid())) / test_name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

namespace {

void require_same_keys(const std::vector<trace::SelectionKey>& a, const std::vector<trace::SelectionKey>& b,
                       const char* what) {
  REQUIRE(a.size() == b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    INFO(what << " " << i);
    CHECK(a[i].step == b[i].step);
    CHECK(a[i].layer == b[i].layer);
    CHECK(a[i].seq == b[i].seq);
    CHECK(a[i].kv_head == b[i].kv_head);
    CHECK(a[i].count == b[i].count);
  }
}

}  // namespace

void require_same_trace(const trace::Trace& a, const trace::Trace& b, bool compare_tool_version) {
  using config::to_json;
  const auto& ha = a.header;
  const auto& hb = b.header;
  CHECK(ha.schema_version == hb.schema_version);
  if (compare_tool_version) CHECK(ha.tool_version == hb.tool_version);
  CHECK(ha.created_utc == hb.created_utc);
  CHECK(ha.clock == hb.clock);
  CHECK(ha.status == hb.status);
  CHECK(ha.status_reason == hb.status_reason);
  CHECK(to_json(ha.model) == to_json(hb.model));
  CHECK(to_json(ha.hardware) == to_json(hb.hardware));
  CHECK(to_json(ha.run) == to_json(hb.run));
  REQUIRE(a.stages == b.stages);
  REQUIRE(a.streams.size() == b.streams.size());
  for (std::size_t i = 0; i < a.streams.size(); ++i) {
    CHECK(a.streams[i].name == b.streams[i].name);
    CHECK(a.streams[i].kind == b.streams[i].kind);
  }
  REQUIRE(a.ops.size() == b.ops.size());
  for (std::size_t i = 0; i < a.ops.size(); ++i) {
    INFO("op index " << i);
    const auto& x = a.ops[i];
    const auto& y = b.ops[i];
    CHECK(x.id == y.id);
    CHECK(x.kind == y.kind);
    CHECK(x.engine == y.engine);
    CHECK(x.phase == y.phase);
    CHECK(x.stage == y.stage);
    CHECK(x.stream == y.stream);
    CHECK(x.step == y.step);
    CHECK(x.layer == y.layer);
    CHECK(x.seq == y.seq);
    CHECK(x.start_ns == y.start_ns);
    CHECK(x.end_ns == y.end_ns);
    CHECK(x.bytes == y.bytes);
    CHECK(x.flops == y.flops);
    CHECK(x.chunks == y.chunks);
    CHECK(x.ctas == y.ctas);
    CHECK(x.dep_offset == y.dep_offset);
    CHECK(x.dep_count == y.dep_count);
  }
  CHECK(a.deps == b.deps);
  REQUIRE(a.steps.size() == b.steps.size());
  for (std::size_t i = 0; i < a.steps.size(); ++i) {
    INFO("step index " << i);
    CHECK(a.steps[i].phase == b.steps[i].phase);
    CHECK(a.steps[i].step == b.steps[i].step);
    CHECK(a.steps[i].start_ns == b.steps[i].start_ns);
    CHECK(a.steps[i].end_ns == b.steps[i].end_ns);
  }
  CHECK(a.selection_width == b.selection_width);
  require_same_keys(a.selection_keys, b.selection_keys, "selection key");
  CHECK(a.selection_blocks == b.selection_blocks);
  require_same_keys(a.token_keys, b.token_keys, "token selection key");
  CHECK(a.token_ids == b.token_ids);
  REQUIRE(a.cache.size() == b.cache.size());
  for (std::size_t i = 0; i < a.cache.size(); ++i) {
    INFO("cache index " << i);
    CHECK(a.cache[i].step == b.cache[i].step);
    CHECK(a.cache[i].layer == b.cache[i].layer);
    CHECK(a.cache[i].selected == b.cache[i].selected);
    CHECK(a.cache[i].hits == b.cache[i].hits);
    CHECK(a.cache[i].misses == b.cache[i].misses);
    CHECK(a.cache[i].loaded_bytes == b.cache[i].loaded_bytes);
  }
  REQUIRE(a.prefill_patterns.size() == b.prefill_patterns.size());
  for (std::size_t i = 0; i < a.prefill_patterns.size(); ++i) {
    INFO("prefill pattern index " << i);
    const auto& x = a.prefill_patterns[i];
    const auto& y = b.prefill_patterns[i];
    CHECK(x.seq == y.seq);
    CHECK(x.layer == y.layer);
    CHECK(x.head == y.head);
    CHECK(x.kind == y.kind);
    CHECK(x.full == y.full);
    CHECK(x.tokens == y.tokens);
    CHECK(x.param_a == y.param_a);
    CHECK(x.param_b == y.param_b);
    CHECK(x.tiles == y.tiles);
    CHECK(x.dense_tiles == y.dense_tiles);
    CHECK(x.recall == y.recall);
  }
  REQUIRE(a.memory.size() == b.memory.size());
  for (std::size_t i = 0; i < a.memory.size(); ++i) {
    CHECK(a.memory[i].location == b.memory[i].location);
    CHECK(a.memory[i].category == b.memory[i].category);
    CHECK(a.memory[i].bytes == b.memory[i].bytes);
  }
}

namespace {

// Minimal owning wrapper; test helpers fail loudly on any HDF5 error.
struct Id {
  hid_t id;
  herr_t (*close)(hid_t);
  Id(hid_t i, herr_t (*c)(hid_t), const char* what) : id(i), close(c) {
    if (id < 0) throw std::runtime_error(std::string("hdf5 test helper: ") + what);
  }
  ~Id() { close(id); }
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  operator hid_t() const { return id; }
};

void ok(herr_t st, const char* what) {
  if (st < 0) {
    H5Eprint2(H5E_DEFAULT, stderr);
    throw std::runtime_error(std::string("hdf5 test helper: ") + what);
  }
}

Id open_rw(const std::filesystem::path& p) {
  return Id(H5Fopen(p.string().c_str(), H5F_ACC_RDWR, H5P_DEFAULT), H5Fclose, "open");
}

void write_element(hid_t ds, int rank, const hsize_t* start, hid_t mem_type, const void* v) {
  Id fspace(H5Dget_space(ds), H5Sclose, "space");
  hsize_t count[2] = {1, 1};
  ok(H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, nullptr, count, nullptr), "select");
  Id mspace(H5Screate_simple(rank, count, nullptr), H5Sclose, "mspace");
  ok(H5Dwrite(ds, mem_type, mspace, fspace, H5P_DEFAULT, v), "write");
}

}  // namespace

void patch_field(const std::filesystem::path& file, const char* dataset, std::uint64_t row,
                 const char* field, std::int64_t value) {
  Id f = open_rw(file);
  Id ds(H5Dopen2(f, dataset, H5P_DEFAULT), H5Dclose, "open dataset");
  Id t(H5Tcreate(H5T_COMPOUND, sizeof(std::int64_t)), H5Tclose, "type");
  ok(H5Tinsert(t, field, 0, H5T_NATIVE_INT64), "insert");
  hsize_t start[1] = {row};
  write_element(ds, 1, start, t, &value);
}

void patch_u64(const std::filesystem::path& file, const char* dataset, std::uint64_t row,
               std::uint64_t value) {
  Id f = open_rw(file);
  Id ds(H5Dopen2(f, dataset, H5P_DEFAULT), H5Dclose, "open dataset");
  hsize_t start[1] = {row};
  write_element(ds, 1, start, H5T_NATIVE_UINT64, &value);
}

void patch_block(const std::filesystem::path& file, std::uint64_t row, std::uint64_t col,
                 std::uint32_t value) {
  Id f = open_rw(file);
  Id ds(H5Dopen2(f, "/selections/blocks", H5P_DEFAULT), H5Dclose, "open dataset");
  hsize_t start[2] = {row, col};
  write_element(ds, 2, start, H5T_NATIVE_UINT32, &value);
}

void set_root_attr_int(const std::filesystem::path& file, const char* name, std::int64_t value) {
  Id f = open_rw(file);
  Id a(H5Aopen(f, name, H5P_DEFAULT), H5Aclose, "open attribute");
  ok(H5Awrite(a, H5T_NATIVE_INT64, &value), "write attribute");
}

void set_attr_string(const std::filesystem::path& file, const char* object, const char* name,
                     const std::string& value) {
  // Delete and recreate: rewriting a variable-length attribute in place can fail in HDF5 1.10.
  Id f = open_rw(file);
  Id obj(H5Oopen(f, object, H5P_DEFAULT), H5Oclose, "open object");
  ok(H5Adelete(obj, name), "delete attribute");
  Id t(H5Tcopy(H5T_C_S1), H5Tclose, "type");
  ok(H5Tset_size(t, H5T_VARIABLE), "type");
  ok(H5Tset_cset(t, H5T_CSET_UTF8), "type");
  Id space(H5Screate(H5S_SCALAR), H5Sclose, "space");
  Id a(H5Acreate2(obj, name, t, space, H5P_DEFAULT, H5P_DEFAULT), H5Aclose, "create attribute");
  const char* p = value.c_str();
  ok(H5Awrite(a, t, &p), "write attribute");
}

void delete_link(const std::filesystem::path& file, const char* path) {
  Id f = open_rw(file);
  ok(H5Ldelete(f, path, H5P_DEFAULT), "delete");
}

namespace {
// Rewrites compound `dataset` with each member's type as `member_type` gives
// it (name, stored type) -> type to keep, or -1 to drop the member; the data
// is converted by HDF5 on the way.
void rewrite_compound(const std::filesystem::path& file, const char* dataset,
                      const std::function<hid_t(const std::string&, hid_t)>& member_type) {
  Id f = open_rw(file);
  std::vector<char> data;
  hsize_t rows = 0;
  Id changed(H5Tcreate(H5T_COMPOUND, 1), H5Tclose, "type");  // resized below
  {
    Id ds(H5Dopen2(f, dataset, H5P_DEFAULT), H5Dclose, "open dataset");
    Id ft(H5Dget_type(ds), H5Tclose, "type");
    std::size_t size = 0;
    const int n = H5Tget_nmembers(ft);
    for (int i = 0; i < n; ++i) {
      char* name = H5Tget_member_name(ft, static_cast<unsigned>(i));
      Id mt(H5Tget_member_type(ft, static_cast<unsigned>(i)), H5Tclose, "member");
      const hid_t t = member_type(name, mt.id);
      if (t >= 0) {
        ok(H5Tset_size(changed, size + H5Tget_size(t)), "size");
        ok(H5Tinsert(changed, name, size, t), "insert");
        size += H5Tget_size(t);
      }
      H5free_memory(name);
    }
    Id space(H5Dget_space(ds), H5Sclose, "space");
    rows = static_cast<hsize_t>(H5Sget_simple_extent_npoints(space));
    data.resize(rows * size + 1);
    ok(H5Dread(ds, changed, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()), "read");
  }
  ok(H5Ldelete(f, dataset, H5P_DEFAULT), "delete");
  Id space(H5Screate_simple(1, &rows, nullptr), H5Sclose, "space");
  Id ds(H5Dcreate2(f, dataset, changed, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose,
        "create");
  ok(H5Dwrite(ds, changed, H5S_ALL, H5S_ALL, H5P_DEFAULT, data.data()), "write");
}
}  // namespace

void drop_field(const std::filesystem::path& file, const char* dataset, const char* field) {
  rewrite_compound(file, dataset,
                   [&](const std::string& name, hid_t t) { return name == field ? hid_t{-1} : t; });
}

void replace_dataset(const std::filesystem::path& file, const char* dataset, hid_t type,
                     const std::vector<hsize_t>& dims) {
  Id f = open_rw(file);
  ok(H5Ldelete(f, dataset, H5P_DEFAULT), "delete");
  Id space(dims.empty() ? H5Screate(H5S_SCALAR)
                        : H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr),
           H5Sclose, "space");
  Id ds(H5Dcreate2(f, dataset, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose,
        "create");
  hsize_t n = 1;
  for (hsize_t d : dims) n *= d;
  if (H5Tis_variable_str(type) > 0) {
    std::vector<const char*> strings(n, "");
    ok(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, strings.data()), "write");
    return;
  }
  std::vector<char> zeros(n * H5Tget_size(type) + 1, 0);
  ok(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, zeros.data()), "write");
}

void replace_dataset_unwritten(const std::filesystem::path& file, const char* dataset, hid_t type,
                               const std::vector<hsize_t>& dims) {
  Id f = open_rw(file);
  ok(H5Ldelete(f, dataset, H5P_DEFAULT), "delete");
  const int rank = static_cast<int>(dims.size());
  std::vector<hsize_t> maxdims(dims.size(), H5S_UNLIMITED), chunk(dims.size(), 1);
  chunk[0] = 1024;
  Id space(H5Screate_simple(rank, dims.data(), maxdims.data()), H5Sclose, "space");
  Id dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose, "dcpl");
  ok(H5Pset_chunk(dcpl, rank, chunk.data()), "chunk");
  Id ds(H5Dcreate2(f, dataset, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT), H5Dclose, "create");
}

void retype_field(const std::filesystem::path& file, const char* dataset, const char* field,
                  hid_t type) {
  rewrite_compound(file, dataset,
                   [&](const std::string& name, hid_t t) { return name == field ? type : t; });
}

namespace {
template <class T>
void patch_member(const std::filesystem::path& file, const char* dataset, std::uint64_t row,
                  const char* field, hid_t mem_type, T value) {
  Id f = open_rw(file);
  Id ds(H5Dopen2(f, dataset, H5P_DEFAULT), H5Dclose, "open dataset");
  Id t(H5Tcreate(H5T_COMPOUND, sizeof(T)), H5Tclose, "type");
  ok(H5Tinsert(t, field, 0, mem_type), "insert");
  hsize_t start[1] = {row};
  write_element(ds, 1, start, t, &value);
}
}  // namespace

void patch_field_f64(const std::filesystem::path& file, const char* dataset, std::uint64_t row,
                     const char* field, double value) {
  patch_member(file, dataset, row, field, H5T_NATIVE_DOUBLE, value);
}

void patch_field_u64(const std::filesystem::path& file, const char* dataset, std::uint64_t row,
                     const char* field, std::uint64_t value) {
  patch_member(file, dataset, row, field, H5T_NATIVE_UINT64, value);
}

std::size_t file_type_size(const std::filesystem::path& file, const char* dataset) {
  Id f(H5Fopen(file.string().c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), H5Fclose, "open");
  Id ds(H5Dopen2(f, dataset, H5P_DEFAULT), H5Dclose, "open dataset");
  Id t(H5Dget_type(ds), H5Tclose, "type");
  return H5Tget_size(t);
}

}  // namespace foresight::testing

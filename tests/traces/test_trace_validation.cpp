// Every validation rule, each on a copy of a valid sample broken in one place
// with the raw HDF5 API; the message must name the file, dataset, record and field.
#include <cmath>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "catch.hpp"

#include "foresight/config/load.hpp"
#include "foresight/trace/reader.hpp"
#include "trace_test_util.hpp"

using namespace foresight;
namespace fs = std::filesystem;

namespace {

// A fresh copy of sparda-tiny.h5 to break.
fs::path broken_copy(const std::string& name) {
  const auto dir = testing::scratch_dir("validation-" + name);
  const auto p = dir / (name + ".h5");
  fs::copy_file(testing::samples_dir() / "sparda-tiny.h5", p);
  return p;
}

// The TraceError message read_trace(p) throws; fails the test if it does not.
std::string read_error(const fs::path& p) {
  try {
    trace::read_trace(p);
  } catch (const trace::TraceError& e) {
    return e.what();
  }
  FAIL("read_trace accepted " << p.string());
  return {};
}

void require_error(const fs::path& p, const std::string& expected) {
  const std::string msg = read_error(p);
  INFO("message: " << msg);
  CHECK(msg.rfind(p.string() + ": ", 0) == 0);  // names the file first
  CHECK(msg.find(expected) != std::string::npos);
}

// The TraceError message validate(t, "mem") throws; fails the test if it does not.
std::string validate_error(const trace::Trace& t) {
  try {
    trace::validate(t, "mem");
  } catch (const trace::TraceError& e) {
    return e.what();
  }
  FAIL("validate accepted the trace");
  return {};
}

// The file type of `dataset` in `p` (the caller closes it).
hid_t sample_file_type(const fs::path& p, const char* dataset) {
  const hid_t f = H5Fopen(p.string().c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  const hid_t ds = H5Dopen2(f, dataset, H5P_DEFAULT);
  const hid_t t = H5Dget_type(ds);
  H5Dclose(ds);
  H5Fclose(f);
  REQUIRE(t >= 0);
  return t;
}

// The schema's name type, S48 (NUL-padded).
hid_t h5_string48() {
  static const hid_t t = [] {
    const hid_t s = H5Tcopy(H5T_C_S1);
    H5Tset_size(s, 48);
    H5Tset_strpad(s, H5T_STR_NULLPAD);
    return s;
  }();
  return t;
}

const trace::Trace& sample() {
  static const trace::Trace t = trace::read_trace(testing::samples_dir() / "sparda-tiny.h5");
  return t;
}

}  // namespace

TEST_CASE("the unbroken copy is valid", "[trace][validate]") {
  CHECK_NOTHROW(trace::read_trace(broken_copy("valid")));
}

TEST_CASE("wrong schema version", "[trace][validate]") {
  const auto p = broken_copy("version");
  testing::set_root_attr_int(p, "schema_version", 3);
  require_error(p, "schema_version 3 is not supported (this build reads 1 to 2)");
}

TEST_CASE("missing dataset, group and field", "[trace][validate]") {
  auto p = broken_copy("missing-cache");
  testing::delete_link(p, "/cache");
  require_error(p, "missing dataset /cache");
  p = broken_copy("missing-selections");
  testing::delete_link(p, "/selections");
  require_error(p, "missing dataset /selections/blocks");
  p = broken_copy("missing-field");
  testing::drop_field(p, "/ops", "end_ns");
  require_error(p, "/ops: missing field 'end_ns'");
  p = broken_copy("missing-config");
  testing::delete_link(p, "/config/run");
  require_error(p, "missing group /config/run");
}

TEST_CASE("end before start names the op and both fields", "[trace][validate]") {
  const auto p = broken_copy("end-before-start");
  testing::patch_field(p, "/ops", 12, "start_ns", 9);
  testing::patch_field(p, "/ops", 12, "end_ns", 5);
  CHECK(read_error(p) == p.string() + ": /ops[12].end_ns (5) < start_ns (9)");
  const auto q = broken_copy("step-end-before-start");
  testing::patch_field(q, "/steps", 1, "end_ns", 0);
  require_error(q, "/steps[1].end_ns (0) < start_ns");
}

TEST_CASE("dependency on a missing or later op", "[trace][validate]") {
  const auto& t = sample();
  std::size_t i = 0;
  while (t.ops[i].dep_count == 0) ++i;
  const std::uint64_t k = t.ops[i].dep_offset;
  auto p = broken_copy("dep-missing");
  testing::patch_u64(p, "/op_deps", k, 999'999);
  require_error(
      p, fmt::format("/op_deps[{}] (op 999999) named by /ops[{}] (id {}) is not an earlier op", k,
                     i, t.ops[i].id));
  p = broken_copy("dep-later");
  testing::patch_u64(p, "/op_deps", k, t.ops[i + 1].id);  // exists, but later
  require_error(p, fmt::format("/op_deps[{}] (op {}) named by /ops[{}]", k, t.ops[i + 1].id, i));
  p = broken_copy("dep-range");
  testing::patch_field(p, "/ops", i, "dep_offset", 1'000'000);
  require_error(p, fmt::format("/ops[{}].dep_offset/dep_count", i));
}

TEST_CASE("ids must increase", "[trace][validate]") {
  const auto p = broken_copy("ids");
  testing::patch_field(p, "/ops", 7, "id", 3);
  require_error(p, "/ops[7].id (3) not greater than /ops[6].id (6)");
}

TEST_CASE("block id outside the sequence's context", "[trace][validate]") {
  const auto& t = sample();
  const std::size_t r = 5;
  const auto& k = t.selection_keys[r];
  const std::int64_t bt = t.header.model.sparse.block_tokens;
  const std::int64_t n_blocks =
      (t.header.run.context_tokens[static_cast<std::size_t>(k.seq)] + k.step + 1 + bt - 1) / bt;
  const auto p = broken_copy("block-range");
  // The last valid id of the row becomes the first id past the context.
  testing::patch_block(p, r, k.count - 1u, static_cast<std::uint32_t>(n_blocks));
  require_error(p, fmt::format("/selections/blocks[{}, {}] ({}) outside the context of seq {} at "
                               "step {} ({} blocks)",
                               r, k.count - 1, n_blocks, k.seq, k.step, n_blocks));
  const auto q = broken_copy("block-order");
  testing::patch_block(q, r, 1, t.selection_blocks[r * t.selection_width]);
  require_error(q, fmt::format("/selections/blocks[{}, 1]", r));
  const auto c = broken_copy("key-count");
  testing::patch_field(c, "/selections/keys", 2, "count", 9);
  require_error(c, "/selections/keys[2].count (9) > width (8)");
}

TEST_CASE("non-monotonic steps", "[trace][validate]") {
  const auto& t = sample();
  REQUIRE(t.steps[2].phase == trace::Phase::decode);
  REQUIRE(t.steps[1].phase == trace::Phase::decode);
  auto p = broken_copy("steps");
  testing::patch_field(p, "/steps", 2, "step", t.steps[1].step);
  require_error(p, fmt::format("/steps[2].step ({}) not greater than the previous decode step",
                               t.steps[1].step));
  // An op going back a step on its stream.
  std::size_t i = t.ops.size() - 1;
  p = broken_copy("op-step");
  testing::patch_field(p, "/ops", i, "step", 0);
  require_error(p, fmt::format("/ops[{}].step (0) goes back from step", i));
}

TEST_CASE("stage, stream and enum values out of range", "[trace][validate]") {
  auto p = broken_copy("stage");
  testing::patch_field(p, "/ops", 3, "stage", 200);
  require_error(
      p, fmt::format("/ops[3].stage (200) out of range (/stages has {})", sample().stages.size()));
  p = broken_copy("stream");
  testing::patch_field(p, "/ops", 3, "stream", 9);
  require_error(p, "/ops[3].stream (9) out of range (/streams has 4)");
  p = broken_copy("kind");
  testing::patch_field(p, "/ops", 4, "kind", 17);
  require_error(p, "/ops[4].kind (17) is not a known kind");
  p = broken_copy("layer");
  testing::patch_field(p, "/ops", 4, "layer", 4);
  require_error(p, "/ops[4].layer (4) outside [-1, 4)");
  p = broken_copy("status");
  testing::set_attr_string(p, "/", "status", "finished");
  require_error(p, "attribute status: 'finished'");
}

TEST_CASE("cache hits + misses must equal selected", "[trace][validate]") {
  const auto& t = sample();
  const auto p = broken_copy("cache");
  testing::patch_field(p, "/cache", 1, "hits", static_cast<std::int64_t>(t.cache[1].hits + 1));
  require_error(p, fmt::format("/cache[1].hits ({}) + misses ({}) != selected ({})",
                               t.cache[1].hits + 1, t.cache[1].misses, t.cache[1].selected));
}

TEST_CASE("invalid configs name the group and key", "[trace][validate]") {
  auto p = broken_copy("config-json");
  testing::set_attr_string(p, "/config/model", "json", "{not json");
  require_error(p, "/config/model.json: invalid JSON");
  p = broken_copy("config-key");
  auto j = config::to_json(sample().header.model);
  j.erase("n_layers");
  testing::set_attr_string(p, "/config/model", "json", j.dump());
  require_error(p, "/config/model");
  CHECK(read_error(p).find("n_layers") != std::string::npos);
  p = broken_copy("config-run");
  auto r = config::to_json(sample().header.run);
  r["context_tokens"] = {205};  // batch is 2
  testing::set_attr_string(p, "/config/run", "json", r.dump());
  require_error(p, "context_tokens");
}

TEST_CASE("validate() checks in-memory traces", "[trace][validate]") {
  trace::Trace t = sample();
  CHECK_NOTHROW(trace::validate(t, "mem"));
  t.ops[5].end_ns = t.ops[5].start_ns - 1;
  try {
    trace::validate(t, "mem");
    FAIL("accepted");
  } catch (const trace::TraceError& e) {
    CHECK(std::string(e.what()).rfind("mem: /ops[5].end_ns", 0) == 0);
  }
}

// Issue #16: valid HDF5 of the wrong rank, shape or element type used to
// overrun the reader's buffers (segfault, bus error) or be converted without
// a word; every dataset's rank, extent and type are now checked.
TEST_CASE("a dataset of the wrong rank names the dataset and both ranks",
          "[trace][validate][shape]") {
  const struct {
    const char* name;
    const char* dataset;
    hid_t type;
    std::vector<hsize_t> dims;
    const char* expected;
  } cases[] = {
      {"deps-2d", "/op_deps", H5T_STD_U64LE, {40, 2}, "/op_deps has rank 2, expected 1"},
      {"deps-wide", "/op_deps", H5T_STD_U64LE, {4, 100000}, "/op_deps has rank 2, expected 1"},
      {"deps-scalar", "/op_deps", H5T_STD_U64LE, {}, "/op_deps has rank 0, expected 1"},
      {"stages-2d", "/stages", h5_string48(), {20, 2}, "/stages has rank 2, expected 1"},
      {"stages-3d", "/stages", h5_string48(), {20, 2, 2}, "/stages has rank 3, expected 1"},
      {"blocks-1d", "/selections/blocks", H5T_STD_U16LE, {64},
       "/selections/blocks has rank 1, expected 2"},
      {"blocks-3d", "/selections/blocks", H5T_STD_U16LE, {64, 8, 2},
       "/selections/blocks has rank 3, expected 2"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    const auto p = broken_copy(c.name);
    testing::replace_dataset(p, c.dataset, c.type, c.dims);
    require_error(p, c.expected);
  }
  // A compound table of rank 2 (its rows are the sample's, twice over).
  auto p = broken_copy("ops-2d");
  {
    const auto types = sample_file_type(p, "/ops");
    testing::replace_dataset(p, "/ops", types, {236, 2});
    H5Tclose(types);
  }
  require_error(p, "/ops has rank 2, expected 1");
  p = broken_copy("blocks-too-wide");
  testing::replace_dataset(p, "/selections/blocks", H5T_STD_U16LE, {1, 70000});
  require_error(p, "/selections/blocks is 70000 ids wide, more than 65535");
}

TEST_CASE("a dataset or field of the wrong element type is refused, not converted",
          "[trace][validate][shape]") {
  auto p = broken_copy("deps-float");
  testing::replace_dataset(p, "/op_deps", H5T_IEEE_F64LE, {40});
  require_error(p, "/op_deps holds float64, expected uint64");
  p = broken_copy("deps-signed");
  testing::replace_dataset(p, "/op_deps", H5T_STD_I64LE, {40});
  require_error(p, "/op_deps holds int64, expected uint64");
  p = broken_copy("stages-vlen");
  {
    const hid_t vlen = H5Tcopy(H5T_C_S1);
    H5Tset_size(vlen, H5T_VARIABLE);
    testing::replace_dataset(p, "/stages", vlen, {20});
    H5Tclose(vlen);
  }
  require_error(p, "/stages holds variable-length string, expected S48");
  p = broken_copy("stages-long");
  {
    const hid_t s64 = H5Tcopy(H5T_C_S1);
    H5Tset_size(s64, 64);
    testing::replace_dataset(p, "/stages", s64, {20});
    H5Tclose(s64);
  }
  require_error(p, "/stages holds S64, expected S48");
  p = broken_copy("stages-int");
  testing::replace_dataset(p, "/stages", H5T_STD_U8LE, {20});
  require_error(p, "/stages is not a string dataset");
  p = broken_copy("blocks-signed");
  testing::replace_dataset(p, "/selections/blocks", H5T_STD_I16LE, {64, 8});
  require_error(p, "/selections/blocks must hold uint16 or uint32 ids (it holds int16)");

  // NaN in a time field: HDF5 would turn it into INT64_MIN without a word.
  p = broken_copy("start-nan");
  testing::retype_field(p, "/ops", "start_ns", H5T_IEEE_F64LE);
  testing::patch_field_f64(p, "/ops", 3, "start_ns", std::nan(""));
  require_error(p, "/ops: field 'start_ns' is float64, expected int64");
  p = broken_copy("steps-float");
  testing::retype_field(p, "/steps", "end_ns", H5T_IEEE_F64LE);
  require_error(p, "/steps: field 'end_ns' is float64, expected int64");
  // A signed field for an unsigned one: -1 would be read as 0.
  p = broken_copy("hits-signed");
  testing::retype_field(p, "/cache", "hits", H5T_STD_I64LE);
  require_error(p, "/cache: field 'hits' is int64, expected uint64");
  // uint64 for int64: 2^63 would be read as INT64_MAX.
  p = broken_copy("end-unsigned");
  testing::retype_field(p, "/ops", "end_ns", H5T_STD_U64LE);
  require_error(p, "/ops: field 'end_ns' is uint64, expected int64");
  // A longer name would be cut to 48 bytes.
  p = broken_copy("stream-name");
  {
    const hid_t s64 = H5Tcopy(H5T_C_S1);
    H5Tset_size(s64, 64);
    testing::retype_field(p, "/streams", "name", s64);
    H5Tclose(s64);
  }
  require_error(p, "/streams: field 'name' is S64, expected S48");

  // Narrower integers (and big-endian ones) hold every value exactly: accepted.
  p = broken_copy("narrow");
  testing::retype_field(p, "/ops", "seq", H5T_STD_I16BE);
  testing::retype_field(p, "/cache", "selected", H5T_STD_U32LE);
  testing::retype_field(p, "/ops", "start_ns", H5T_STD_U32LE);  // unsigned into a wider signed
  const trace::Trace t = trace::read_trace(p);
  CHECK(t.ops[5].seq == sample().ops[5].seq);
  CHECK(t.ops[5].start_ns == sample().ops[5].start_ns);
  CHECK(t.cache[1].selected == sample().cache[1].selected);
}

// Issue #16: INT64_MAX and negative times were accepted (inspect printed a
// total of -9.2e18 ns, replay a negative step time).
TEST_CASE("times outside [0, 2^56] ns name the dataset, record and field",
          "[trace][validate][range]") {
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  auto p = broken_copy("end-max");
  testing::patch_field(p, "/ops", 3, "end_ns", kMax);
  require_error(p, "/ops[3].end_ns (9223372036854775807) outside [0, 2^56] ns");
  p = broken_copy("start-negative");
  testing::patch_field(p, "/ops", 0, "start_ns", -5);
  require_error(p, "/ops[0].start_ns (-5) outside [0, 2^56] ns");
  p = broken_copy("start-min");
  testing::patch_field(p, "/ops", 0, "start_ns", std::numeric_limits<std::int64_t>::min());
  require_error(p, "/ops[0].start_ns (-9223372036854775808) outside [0, 2^56] ns");
  p = broken_copy("step-end-max");
  testing::patch_field(p, "/steps", 4, "end_ns", kMax);
  require_error(p, "/steps[4].end_ns (9223372036854775807) outside [0, 2^56] ns");
  p = broken_copy("step-both-max");  // a zero duration, still not a time of one run
  testing::patch_field(p, "/steps", 4, "start_ns", kMax);
  testing::patch_field(p, "/steps", 4, "end_ns", kMax);
  require_error(p, "/steps[4].start_ns (9223372036854775807) outside [0, 2^56] ns");
  p = broken_copy("end-limit");  // 2^56 itself is allowed
  testing::patch_field(p, "/ops", 235, "end_ns", trace::kMaxTimeNs);
  CHECK_NOTHROW(trace::read_trace(p));

  // Durations each in range whose sum would pass 2^62 (and wrap int64 later).
  trace::Trace t = sample();
  for (auto& op : t.ops) op.start_ns = 0, op.end_ns = trace::kMaxTimeNs;
  CHECK(validate_error(t) ==
        "mem: /ops[64]: durations up to this record add up to 4683743612465315840 ns, more "
        "than 2^62");
  t = sample();
  t.steps.resize(70, t.steps.back());
  for (std::size_t i = 0; i < t.steps.size(); ++i)
    t.steps[i] = {trace::Phase::decode, static_cast<std::int32_t>(i), 0, trace::kMaxTimeNs};
  CHECK(validate_error(t).rfind("mem: /steps[64]: durations up to this record add up to", 0) == 0);
}

// Issue #16: cache and memory sums wrapped ("host pinned 8388608.00 TiB").
TEST_CASE("byte and block counts past 2^56, or sums past their bound, are refused",
          "[trace][validate][range]") {
  auto p = broken_copy("memory-huge");
  testing::patch_field_u64(p, "/memory", 7, "bytes", std::uint64_t{1} << 63);
  require_error(p, "/memory[7].bytes (9223372036854775808) more than 2^56");
  p = broken_copy("memory-total");
  testing::patch_field_u64(p, "/memory", 0, "bytes", trace::kMaxBytes);
  require_error(p,
                "/memory[1].bytes (229376) takes the gpu total to 72057594038157312 bytes, more "
                "than 2^56");
  p = broken_copy("loaded-huge");
  testing::patch_field_u64(p, "/cache", 2, "loaded_bytes", ~std::uint64_t{0});
  require_error(p, "/cache[2].loaded_bytes (18446744073709551615) more than 2^56");
  // hits + misses == selected held only because the sum wrapped.
  const auto& c = sample().cache[1];
  p = broken_copy("hits-wrap");
  const std::uint64_t half = std::uint64_t{1} << 63;
  testing::patch_field_u64(p, "/cache", 1, "hits", c.hits + half);
  testing::patch_field_u64(p, "/cache", 1, "misses", c.misses + half);
  require_error(p, fmt::format("/cache[1].hits ({}) more than 2^56", c.hits + half));
  p = broken_copy("op-bytes");
  testing::patch_field_u64(p, "/ops", 9, "bytes", std::uint64_t{1} << 60);
  require_error(p, "/ops[9].bytes (1152921504606846976) more than 2^56");

  trace::Trace t = sample();
  t.cache.resize(70, t.cache.back());
  for (auto& r : t.cache) r.selected = r.hits = trace::kMaxBytes, r.misses = 0;
  CHECK(validate_error(t) ==
        "mem: /cache[64].selected: the sum up to this record is 4683743612465315840, more than "
        "2^62");
  t = sample();
  for (auto& op : t.ops) op.bytes = trace::kMaxBytes;
  CHECK(validate_error(t).rfind("mem: /ops[64].bytes: the sum up to this record is", 0) == 0);
}

// A chunked dataset whose extent claims far more than the file stores (chunks
// never written read as the fill value): refused before the reader allocates
// for it, naming the dataset.
TEST_CASE("an extent the stored bytes cannot hold is refused", "[trace][validate][shape]") {
  const struct {
    const char* name;
    const char* dataset;
    hid_t type;
    std::vector<hsize_t> dims;
    const char* expected;
  } cases[] = {
      {"deps-huge", "/op_deps", H5T_STD_U64LE, {hsize_t{1} << 40},
       "/op_deps claims 1099511627776 elements (8796093022208 bytes) but the file stores 0 bytes"},
      {"stages-huge", "/stages", h5_string48(), {hsize_t{1} << 24},
       "/stages claims 16777216 elements"},
      {"blocks-huge", "/selections/blocks", H5T_STD_U16LE, {hsize_t{1} << 20, 8},
       "/selections/blocks claims 8388608 elements"},
  };
  for (const auto& c : cases) {
    INFO(c.name);
    const auto p = broken_copy(c.name);
    testing::replace_dataset_unwritten(p, c.dataset, c.type, c.dims);
    require_error(p, c.expected);
  }
  auto p = broken_copy("ops-huge");
  {
    const auto types = sample_file_type(p, "/ops");
    testing::replace_dataset_unwritten(p, "/ops", types, {hsize_t{1} << 30});
    H5Tclose(types);
  }
  require_error(p, "/ops claims 1073741824 elements");
}

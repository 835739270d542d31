// Every validation rule, each on a copy of a valid sample broken in one place
// with the raw HDF5 API; the message must name the file, dataset, record and field.
#include <filesystem>
#include <string>

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
  testing::set_root_attr_int(p, "schema_version", 2);
  require_error(p, "schema_version 2 is not supported (this build reads 1)");
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

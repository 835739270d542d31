// The HDF5 trace sink writes on a thread of its own: records arrive in the
// order they were added, and a writer error comes back to the caller (by the
// next add or by close) instead of being lost on the writer's thread.
#include <filesystem>
#include <numeric>
#include <vector>

#include "catch.hpp"
#include "foresight/config/load.hpp"
#include "foresight/runtime/backend.hpp"
#include "foresight/runtime/recorder.hpp"
#include "foresight/trace/reader.hpp"

using namespace foresight;
namespace fs = std::filesystem;

namespace {
trace::Header dsa_header() {
  trace::Header h;
  h.model = config::load_model("tiny");
  h.hardware = runtime::host_cpu_hardware();
  h.run.mode = config::Mode::dsa;
  h.run.backend = "cpu";
  h.run.batch = 2;
  h.run.context_tokens = {4096, 4096};
  h.run.decode_steps = 3;
  h.run.warmup_steps = 0;
  h.run.topk_blocks = 8;
  h.clock = "steady_clock";
  h.tool_version = "test";
  h.created_utc = "2026-12-04T00:00:00Z";
  return h;
}
// Ids t, t + 2, t + 4, ...: strictly ascending, different per (step, layer, seq).
std::vector<std::uint32_t> ids(std::uint32_t t, std::size_t n) {
  std::vector<std::uint32_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = t + 2 * static_cast<std::uint32_t>(i);
  return v;
}
}  // namespace

TEST_CASE("h5 sink: records written on its thread arrive in order") {
  const fs::path p = fs::path(FORESIGHT_TEST_TMP) / "h5-sink-order.h5";
  fs::create_directories(p.parent_path());
  auto sink = runtime::make_h5_trace_sink(p, dsa_header(), 8);
  std::vector<std::uint32_t> expect;
  for (std::int32_t s = 0; s < 3; ++s)
    for (std::int16_t l = 0; l < 4; ++l)
      for (std::int32_t q = 0; q < 2; ++q) {
        const auto v = ids(static_cast<std::uint32_t>(s * 100 + l * 10 + q), 500);
        sink->add_token_selection({s, l, q, 0, 0}, v);
        expect.insert(expect.end(), v.begin(), v.end());
      }
  sink->close(trace::RunStatus::complete, "");
  const auto t = trace::read_trace(p);
  REQUIRE(t.token_keys.size() == 24);
  CHECK(t.token_keys[5].layer == 2);
  CHECK(t.token_keys[5].seq == 1);
  CHECK(t.token_ids == expect);
  fs::remove(p);
}

TEST_CASE("h5 sink: a writer error reaches the caller, and the file keeps no final name") {
  const fs::path p = fs::path(FORESIGHT_TEST_TMP) / "h5-sink-error.h5";
  fs::create_directories(p.parent_path());
  fs::remove(p);
  auto sink = runtime::make_h5_trace_sink(p, dsa_header(), 8);
  std::vector<std::uint32_t> descending = {9, 5, 1};
  sink->add_token_selection({0, 0, 0, 0, 0}, descending);  // refused by the writer, on its thread
  bool thrown = false;
  try {
    for (int i = 0; i < 100; ++i) sink->add_token_selection({0, 0, 1, 0, 0}, ids(0, 4));
    sink->close(trace::RunStatus::complete, "");
  } catch (const trace::TraceError& e) {
    thrown = std::string(e.what()).find("ascending") != std::string::npos;
  }
  CHECK(thrown);
  sink.reset();
  CHECK_FALSE(fs::exists(p));
}

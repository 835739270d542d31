// /prefill_patterns (dynamic sparse prefill): written and read back field by
// field, summarised by inspect, and each validation rule names the record.
#include <algorithm>
#include <filesystem>
#include <sstream>
#include <string>

#include "catch.hpp"
#include "foresight/config/sparse_prefill.hpp"
#include "foresight/trace/export.hpp"
#include "foresight/trace/reader.hpp"
#include "foresight/trace/writer.hpp"
#include "sample_traces.hpp"
#include "trace_test_util.hpp"

using namespace foresight;

namespace {
// A dense sample re-labelled as a sparse-prefill run with one record per
// (layer, head) of sequence 0.
trace::Trace sparse_prefill_sample() {
  trace::Trace t = samples::build_sample(samples::default_samples()[0]);
  auto& run = t.header.run;
  run.prefill = "real";
  run.prefill_attention = config::PrefillAttention::dynamic_sparse;
  run.prefill_recall = 0.9;
  std::int64_t longest = 1;
  for (auto c : run.context_tokens) longest = std::max(longest, c - 1);
  run.prefill_chunk_tokens = longest;
  const std::int64_t tokens = run.context_tokens.front() - 1;
  const auto dense = static_cast<std::uint64_t>(config::dense_prefill_tiles(tokens));
  for (std::int16_t l = 0; l < t.header.model.n_layers; ++l)
    for (std::uint16_t h = 0; h < t.header.model.n_heads; ++h) {
      trace::PrefillPattern p;
      p.seq = 0; p.layer = l; p.head = h;
      p.kind = static_cast<std::uint8_t>(h % 3);
      p.tokens = tokens;
      p.param_a = 64; p.param_b = 129 + h;
      p.dense_tiles = dense;
      p.tiles = h == 0 ? dense : std::max<std::uint64_t>(1, dense / (2 + h));
      p.full = h == 0 ? 1 : 0;
      p.recall = h == 0 ? 1.0 : 0.9 + 0.001 * h;
      t.prefill_patterns.push_back(p);
    }
  return t;
}

std::string error_of(const trace::Trace& t) {
  const auto path = testing::scratch_dir("prefill-patterns-bad") / "bad.h5";
  trace::write_trace(path, t);
  try {
    trace::read_trace(path);
  } catch (const trace::TraceError& e) {
    return e.what();
  }
  FAIL("read_trace accepted a bad /prefill_patterns");
  return {};
}
}  // namespace

TEST_CASE("prefill patterns round trip and are summarised", "[trace][prefill]") {
  const trace::Trace t = sparse_prefill_sample();
  const auto path = testing::scratch_dir("prefill-patterns") / "sparse.h5";
  trace::WriterOptions o;
  o.buffer_records = 5;  // several flushes
  trace::write_trace(path, t, o);
  const trace::Trace back = trace::read_trace(path);
  testing::require_same_trace(t, back);
  CHECK(back.header.run.prefill_attention == config::PrefillAttention::dynamic_sparse);
  const auto s = trace::summarize(back)["prefill_patterns"];
  CHECK(s["records"] == t.prefill_patterns.size());
  CHECK(s["full_coverage_heads"] == static_cast<std::uint64_t>(t.header.model.n_layers));
  CHECK(s["tile_share"].get<double>() < 1.0);
  std::ostringstream text;
  trace::print_summary(back, text);
  CHECK(text.str().find("dynamic-sparse attention") != std::string::npos);
}

TEST_CASE("bad prefill patterns name the record and field", "[trace][prefill][validate]") {
  SECTION("more tiles than dense") {
    auto t = sparse_prefill_sample();
    t.prefill_patterns[3].tiles = t.prefill_patterns[3].dense_tiles + 1;
    CHECK_THAT(error_of(t), Catch::Contains("/prefill_patterns[3].tiles"));
  }
  SECTION("dense tiles that do not match the tokens") {
    auto t = sparse_prefill_sample();
    t.prefill_patterns[1].dense_tiles += 1;
    CHECK_THAT(error_of(t), Catch::Contains("/prefill_patterns[1].dense_tiles"));
  }
  SECTION("a head past the model's") {
    auto t = sparse_prefill_sample();
    t.prefill_patterns[2].head = static_cast<std::uint16_t>(t.header.model.n_heads);
    CHECK_THAT(error_of(t), Catch::Contains("/prefill_patterns[2].head"));
  }
  SECTION("recall that is not a share") {
    auto t = sparse_prefill_sample();
    t.prefill_patterns[0].recall = 1.5;
    CHECK_THAT(error_of(t), Catch::Contains("/prefill_patterns[0].recall"));
  }
  SECTION("an unknown pattern kind") {
    auto t = sparse_prefill_sample();
    t.prefill_patterns[0].kind = 3;
    CHECK_THAT(error_of(t), Catch::Contains("/prefill_patterns[0].kind"));
  }
  SECTION("records in a dense-prefill run") {
    auto t = sparse_prefill_sample();
    t.header.run.prefill_attention = config::PrefillAttention::dense;
    CHECK_THAT(error_of(t), Catch::Contains("the run's prefill attention is dense"));
  }
}

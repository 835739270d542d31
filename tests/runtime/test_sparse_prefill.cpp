// Dynamic sparse prefill in the CPU engine (issue #18): a target recall of 1
// keeps every element (softmax gives every key some mass), so the run equals
// dense; a low target computes fewer tiles, records every (layer, head) and
// traces the three ops per layer.
#include <random>
#include <set>

#include "catch.hpp"
#include "foresight/config/sparse_prefill.hpp"
#include "foresight/runtime/engine.hpp"
#include "foresight/trace/stages.hpp"
#include "tiny_model.hpp"

using namespace foresight;
using namespace foresight::runtime;

namespace {

struct Outcome {
  std::vector<std::vector<std::int32_t>> tokens;  // [step][seq]
  std::vector<float> logits;
  trace::Trace trace;
};

Outcome run_prefill(config::Mode mode, config::PrefillAttention attention, double recall,
                    const std::vector<std::int64_t>& ctx) {
  auto m = testing::tiny_model();
  auto w = make_synthetic_weights(m, 7);
  auto be = make_cpu_backend();
  MemoryTraceSink sink({}, 8);
  Recorder rec(*be, &sink);
  EngineOptions o;
  o.mode = mode;
  o.context_tokens = ctx;
  o.max_steps = 4;
  o.topk_blocks = 8;
  o.prefill_attention = attention;
  o.prefill_recall = recall;
  o.prefill_chunk_tokens = 1000;  // one chunk per prompt in both, so dense and full coverage match bit for bit
  DecodeEngine e(m, w, *be, rec, o);
  std::mt19937_64 rng(3);
  std::vector<std::vector<std::int32_t>> prompts;
  for (auto c : ctx) {
    std::vector<std::int32_t> p(static_cast<std::size_t>(c));
    for (auto& t : p) t = static_cast<std::int32_t>(rng() % 256);
    prompts.push_back(p);
  }
  e.prefill(prompts);
  Outcome r;
  for (int s = 0; s < 4; ++s) r.tokens.push_back(e.step());
  r.logits = e.last_logits();
  rec.close(trace::RunStatus::complete);
  r.trace = sink.trace();
  return r;
}

std::size_t count_stage(const trace::Trace& t, std::string_view stage) {
  std::size_t n = 0;
  for (const auto& op : t.ops) n += t.stages[op.stage] == stage ? 1 : 0;
  return n;
}

}  // namespace

TEST_CASE("sparse prefill at recall 1 keeps every tile and decodes as dense") {
  const std::vector<std::int64_t> ctx = {700, 300};
  for (auto mode : {config::Mode::dense, config::Mode::sparda}) {
    auto dense = run_prefill(mode, config::PrefillAttention::dense, 0.95, ctx);
    auto full = run_prefill(mode, config::PrefillAttention::dynamic_sparse, 1.0, ctx);
    CHECK(dense.tokens == full.tokens);
    REQUIRE(dense.logits.size() == full.logits.size());
    for (std::size_t i = 0; i < dense.logits.size(); ++i) CHECK(dense.logits[i] == full.logits[i]);
    for (const auto& p : full.trace.prefill_patterns) CHECK(p.tiles == p.dense_tiles);
    CHECK(dense.trace.prefill_patterns.empty());
  }
}

TEST_CASE("sparse prefill records each head's pattern and computes fewer tiles at a low recall") {
  const std::vector<std::int64_t> ctx = {1000, 400};
  const auto m = testing::tiny_model();
  auto r = run_prefill(config::Mode::sparse, config::PrefillAttention::dynamic_sparse, 0.5, ctx);
  const auto& pp = r.trace.prefill_patterns;
  REQUIRE(pp.size() == static_cast<std::size_t>(ctx.size() * m.n_layers * m.n_heads));
  std::set<std::tuple<int, int, int>> seen;
  std::uint64_t tiles = 0, dense = 0;
  for (const auto& p : pp) {
    seen.insert({p.seq, p.layer, p.head});
    CHECK(p.tokens == ctx[static_cast<std::size_t>(p.seq)] - 1);
    CHECK(p.dense_tiles == static_cast<std::uint64_t>(config::dense_prefill_tiles(p.tokens)));
    CHECK(p.tiles <= p.dense_tiles);
    CHECK(p.recall >= 0.5);
    CHECK(p.recall <= 1.0);
    tiles += p.tiles;
    dense += p.dense_tiles;
  }
  CHECK(seen.size() == pp.size());
  CHECK(tiles < dense);
  // Three ops per layer and sequence in place of prefill_attention, with costs.
  const auto per_layer = ctx.size() * static_cast<std::size_t>(m.n_layers);
  CHECK(count_stage(r.trace, trace::stage::prefill_attention) == 0);
  for (auto s : {trace::stage::prefill_estimate, trace::stage::prefill_choose, trace::stage::prefill_sparse_attention})
    CHECK(count_stage(r.trace, s) == per_layer);
  for (const auto& op : r.trace.ops) {
    const auto& s = r.trace.stages[op.stage];
    if (s == trace::stage::prefill_choose) CHECK(op.kind == trace::OpKind::host);
    if (s == trace::stage::prefill_sparse_attention || s == trace::stage::prefill_estimate) CHECK(op.flops > 0);
    if (s == trace::stage::prefill_choose) CHECK(op.bytes > 0);
  }
}

TEST_CASE("one fixed pattern gives every head that kind") {
  const std::vector<std::int64_t> ctx = {600};
  auto r = run_prefill(config::Mode::dense, config::PrefillAttention::triangular, 0.6, ctx);
  REQUIRE_FALSE(r.trace.prefill_patterns.empty());
  for (const auto& p : r.trace.prefill_patterns) CHECK(p.kind == 0);
}

TEST_CASE("sparse prefill with a chunk shorter than the prompt is refused") {
  auto m = testing::tiny_model();
  auto w = make_synthetic_weights(m, 7);
  auto be = make_cpu_backend();
  Recorder rec(*be, nullptr);
  EngineOptions o;
  o.mode = config::Mode::dense;
  o.context_tokens = {700};
  o.prefill_attention = config::PrefillAttention::dynamic_sparse;
  o.prefill_chunk_tokens = 512;
  CHECK_THROWS_WITH(DecodeEngine(m, w, *be, rec, o), Catch::Contains("one chunk"));
}

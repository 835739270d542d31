// The CPU decode loop on the tiny model: dense vs sparse equivalence,
// determinism, the shared sparse path, selections and trace records.
#include <random>

#include "catch.hpp"
#include "foresight/runtime/engine.hpp"
#include "foresight/trace/stages.hpp"
#include "tiny_model.hpp"

using namespace foresight;
using namespace foresight::runtime;

namespace {

struct Result {
  std::vector<std::vector<std::int32_t>> tokens;  // [step][seq]
  std::vector<float> logits;
  trace::Trace trace;
  CacheTotals cache;
};

std::vector<std::vector<std::int32_t>> prompts_for(const std::vector<std::int64_t>& ctx, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::vector<std::int32_t>> p;
  for (auto c : ctx) {
    std::vector<std::int32_t> v(static_cast<std::size_t>(c));
    for (auto& t : v) t = static_cast<std::int32_t>(rng() % 256);
    p.push_back(v);
  }
  return p;
}

Result run(config::Mode mode, std::int64_t topk, std::vector<std::int64_t> ctx, int steps,
           ExternalSelections* sel = nullptr, bool synthetic = false, std::uint64_t wseed = 5) {
  auto m = testing::tiny_model();
  auto w = make_synthetic_weights(m, wseed);
  auto be = make_cpu_backend();
  MemoryTraceSink sink({}, static_cast<std::uint32_t>(topk));
  Recorder rec(*be, &sink);
  EngineOptions o;
  o.mode = mode;
  o.context_tokens = ctx;
  o.max_steps = steps;
  o.topk_blocks = topk;
  o.prefill_chunk_tokens = 100;  // several chunks per sequence
  o.synthetic_prefill = synthetic;
  o.selections = sel;
  DecodeEngine e(m, w, *be, rec, o);
  e.prefill(prompts_for(ctx, 11));
  Result r;
  for (int s = 0; s < steps; ++s) r.tokens.push_back(e.step());
  r.logits = e.last_logits();
  r.cache = e.cache_totals();
  rec.close(trace::RunStatus::complete);
  r.trace = sink.trace();
  return r;
}

}  // namespace

TEST_CASE("sparse with top-k covering every block decodes the same tokens as dense") {
  const std::vector<std::int64_t> ctx = {300, 130, 65};  // 5, 3 and 2 blocks (+ decode growth)
  auto dense = run(config::Mode::dense, 4, ctx, 6);
  auto sparse = run(config::Mode::sparse, 8, ctx, 6);
  REQUIRE(dense.tokens.size() == 6);
  CHECK(dense.tokens == sparse.tokens);
  double max_diff = 0;
  for (std::size_t i = 0; i < dense.logits.size(); ++i) {
    max_diff = std::max(max_diff, static_cast<double>(std::abs(dense.logits[i] - sparse.logits[i])));
  }
  CHECK(max_diff < 0.02);
  // Every block was selected: all hits except the loads of the first step.
  CHECK(sparse.cache.selected > 0);
  CHECK(sparse.cache.hits + sparse.cache.misses == sparse.cache.selected);
}

TEST_CASE("with synthetic prefill too, sparse covering every block equals dense") {
  const std::vector<std::int64_t> ctx = {300, 130, 65};
  auto dense = run(config::Mode::dense, 4, ctx, 6, nullptr, true);
  auto sparse = run(config::Mode::sparse, 8, ctx, 6, nullptr, true);
  CHECK(dense.tokens == sparse.tokens);
  double max_diff = 0;
  for (std::size_t i = 0; i < dense.logits.size(); ++i) {
    max_diff = std::max(max_diff, static_cast<double>(std::abs(dense.logits[i] - sparse.logits[i])));
  }
  CHECK(max_diff < 0.02);
}

TEST_CASE("sparse with a small top-k attends to fewer blocks and changes the result") {
  const std::vector<std::int64_t> ctx = {600};
  auto dense = run(config::Mode::dense, 2, ctx, 3);
  auto sparse = run(config::Mode::sparse, 2, ctx, 3);
  double max_diff = 0;
  for (std::size_t i = 0; i < dense.logits.size(); ++i) {
    max_diff = std::max(max_diff, static_cast<double>(std::abs(dense.logits[i] - sparse.logits[i])));
  }
  CHECK(max_diff > 0);  // 2 of 10 blocks cannot reproduce dense attention exactly
  // Selections: 3 steps x 3 layers x 1 seq x 2 heads rows of 2 ids incl. sink 0 and the current block.
  REQUIRE(sparse.trace.selection_keys.size() == 3 * 3 * 2);
  for (std::size_t i = 0; i < sparse.trace.selection_keys.size(); ++i) {
    CHECK(sparse.trace.selection_keys[i].count == 2);
    CHECK(sparse.trace.selection_blocks[2 * i] == 0);
    CHECK(sparse.trace.selection_blocks[2 * i + 1] == 9);  // tokens 600..602 lie in block 9
  }
}

TEST_CASE("decode is deterministic") {
  const std::vector<std::int64_t> ctx = {200, 90};
  auto a = run(config::Mode::sparda_no_offload, 3, ctx, 4);
  auto b = run(config::Mode::sparda_no_offload, 3, ctx, 4);
  CHECK(a.tokens == b.tokens);
  CHECK(a.logits == b.logits);
  CHECK(a.trace.selection_blocks == b.trace.selection_blocks);
  auto c = run(config::Mode::sparda_no_offload, 3, ctx, 4, nullptr, false, /*wseed=*/6);
  CHECK(a.logits != c.logits);
}

TEST_CASE("sparda-no-offload and sparse share the decode path: same selections give same tokens") {
  const std::vector<std::int64_t> ctx = {400, 150};
  // Record sparse's own selections, then drive both modes with them.
  auto ref = run(config::Mode::sparse, 3, ctx, 4);
  auto sel1 = make_trace_selections(ref.trace, "sparse-run");
  auto sparse_again = run(config::Mode::sparse, 3, ctx, 4, sel1.get());
  CHECK(sparse_again.tokens == ref.tokens);
  CHECK(sparse_again.logits == ref.logits);
  auto sel2 = make_trace_selections(ref.trace, "sparse-run");
  auto sparda = run(config::Mode::sparda_no_offload, 3, ctx, 4, sel2.get());
  CHECK(sparda.tokens == ref.tokens);
  CHECK(sparda.logits == ref.logits);
  CHECK(sparda.trace.selection_blocks == ref.trace.selection_blocks);
  // Its own Forecast selections differ from the query's somewhere.
  auto own = run(config::Mode::sparda_no_offload, 3, ctx, 4);
  CHECK(own.trace.selection_blocks != ref.trace.selection_blocks);
}

TEST_CASE("a selection file naming a block beyond the sequence is rejected") {
  auto ref = run(config::Mode::sparse, 3, {200}, 2);
  ref.trace.selection_blocks[1] = 99;
  auto sel = make_trace_selections(ref.trace, "bad.h5");
  REQUIRE_THROWS_WITH(run(config::Mode::sparse, 3, {200}, 2, sel.get()),
                      Catch::Matchers::Contains("bad.h5: selection of step 0, layer 0, seq 0, kv_head 0 names block 99"));
}

TEST_CASE("the trace records every stage with bytes and FLOPs") {
  auto r = run(config::Mode::sparse, 3, {300, 70}, 2);
  const auto& t = r.trace;
  auto has = [&](std::string_view s) { return std::find(t.stages.begin(), t.stages.end(), s) != t.stages.end(); };
  for (auto s : {trace::stage::embed, trace::stage::rmsnorm, trace::stage::qkvf_gemm, trace::stage::rope,
                 trace::stage::compress, trace::stage::score, trace::stage::pool_topk, trace::stage::ws_update,
                 trace::stage::d2d_gather, trace::stage::attention, trace::stage::o_proj, trace::stage::mlp,
                 trace::stage::lm_head, trace::stage::argmax, trace::stage::prefill_attention}) {
    CHECK(has(s));
  }
  std::uint64_t prev_id = 0;
  bool first = true;
  for (const auto& op : t.ops) {
    CHECK(op.end_ns >= op.start_ns);
    if (!first) CHECK(op.id > prev_id);
    first = false;
    prev_id = op.id;
    if (t.stages[op.stage] == trace::stage::qkvf_gemm) CHECK(op.flops > 0);
  }
  std::size_t decode_steps = 0;
  for (const auto& s : t.steps) decode_steps += s.phase == trace::Phase::decode;
  CHECK(decode_steps == 2);
  CHECK(t.cache.size() == 2 * 3);  // (step, layer)
}

TEST_CASE("synthetic prefill runs and decodes") {
  auto r = run(config::Mode::sparse, 3, {1000, 500}, 2, nullptr, true);
  REQUIRE(r.tokens.size() == 2);
  for (auto t : r.tokens[1]) CHECK((t >= 0 && t < 256));
  std::size_t prefill_attn = 0;
  for (const auto& op : r.trace.ops) prefill_attn += r.trace.stages[op.stage] == trace::stage::prefill_attention;
  CHECK(prefill_attn == 0);  // no real prefill ran
}

TEST_CASE("real prefill reports its progress in prompt tokens after each chunk") {
  auto m = testing::tiny_model();
  auto w = make_synthetic_weights(m, 5);
  auto be = make_cpu_backend();
  Recorder rec(*be, nullptr, false);
  EngineOptions o;
  o.mode = config::Mode::dense;
  o.context_tokens = {250, 130};
  o.max_steps = 1;
  o.prefill_chunk_tokens = 100;
  std::vector<std::pair<std::size_t, std::size_t>> calls;
  o.progress = [&](std::size_t done, std::size_t total, const std::string& what) {
    CHECK(what == "prefill");
    calls.emplace_back(done, total);
  };
  DecodeEngine e(m, w, *be, rec, o);
  e.prefill(prompts_for(o.context_tokens, 11));
  // 249 prompt tokens in 3 chunks, then 129 in 2: the last token of each
  // prompt is decode's first input.
  using P = std::pair<std::size_t, std::size_t>;
  CHECK(calls == std::vector<P>{{100, 378}, {200, 378}, {249, 378}, {349, 378}, {378, 378}});
}

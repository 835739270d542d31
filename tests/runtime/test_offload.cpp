// The offload modes on the CPU backend (tiny model): the three sparda
// variants differ only in schedule, so tokens and selections must be equal;
// sparse-offload equals sparse; the LRU working set keeps blocks; the trace
// carries the transfers.
#include <random>

#include "catch.hpp"
#include "foresight/runtime/engine.hpp"
#include "foresight/runtime/selection_source.hpp"
#include "foresight/trace/stages.hpp"
#include "tiny_model.hpp"

using namespace foresight;
using namespace foresight::runtime;
using config::Mode;

namespace {

struct Outcome {
  std::vector<std::vector<std::int32_t>> tokens;  // [step][seq]
  trace::Trace trace;
  CacheTotals cache;
};

Outcome decode(Mode mode, std::int64_t cache_blocks = 0, bool synthetic = false, ExternalSelections* sel = nullptr,
               const config::KernelOptions& kernels = {}) {
  const auto m = testing::tiny_model();
  const auto w = make_synthetic_weights(m, 9);
  auto be = make_cpu_backend();
  MemoryTraceSink sink({}, 4);
  Recorder rec(*be, &sink);
  EngineOptions o;
  o.mode = mode;
  o.context_tokens = {300, 200, 131};
  o.max_steps = 40;  // crosses a block boundary in every sequence
  o.topk_blocks = 4;
  o.cache_blocks = cache_blocks;
  o.prefill_chunk_tokens = 128;
  o.synthetic_prefill = synthetic;
  o.selections = sel;
  o.kernels = kernels;
  DecodeEngine e(m, w, *be, rec, o);
  std::mt19937_64 rng(3);
  std::vector<std::vector<std::int32_t>> prompts;
  for (auto c : o.context_tokens) {
    std::vector<std::int32_t> p(static_cast<std::size_t>(c));
    for (auto& t : p) t = static_cast<std::int32_t>(rng() % 256);
    prompts.push_back(p);
  }
  e.prefill(prompts);
  Outcome out;
  for (int s = 0; s < o.max_steps; ++s) out.tokens.push_back(e.step());
  out.cache = e.cache_totals();
  rec.close(trace::RunStatus::complete);
  out.trace = sink.trace();
  return out;
}

std::size_t count_stage(const trace::Trace& t, std::string_view stage, trace::Phase phase = trace::Phase::decode) {
  std::size_t n = 0;
  for (const auto& op : t.ops) n += op.phase == phase && t.stages[op.stage] == stage;
  return n;
}

}  // namespace

TEST_CASE("sparda, sparda-no-prefetch and sparda-no-offload give identical tokens and selections") {
  for (bool synthetic : {false, true}) {
    CAPTURE(synthetic);
    const auto resident = decode(Mode::sparda_no_offload, 0, synthetic);
    const auto inline_fetch = decode(Mode::sparda_no_prefetch, 0, synthetic);
    const auto prefetch = decode(Mode::sparda, 0, synthetic);
    CHECK(inline_fetch.tokens == resident.tokens);
    CHECK(prefetch.tokens == resident.tokens);
    CHECK(inline_fetch.trace.selection_blocks == resident.trace.selection_blocks);
    CHECK(prefetch.trace.selection_blocks == resident.trace.selection_blocks);
    REQUIRE(!resident.trace.selection_blocks.empty());
    // Same selections, same working-set outcomes; only where the bytes come from differs.
    CHECK(prefetch.cache.misses == resident.cache.misses);
    CHECK(resident.cache.h2d_bytes == 0);
    CHECK(prefetch.cache.h2d_bytes > 0);
    CHECK(prefetch.cache.h2d_bytes < prefetch.cache.loaded_bytes);  // layer 0 stays on the GPU
    CHECK(count_stage(resident.trace, trace::stage::h2d_gather) == 0);
    CHECK(count_stage(prefetch.trace, trace::stage::h2d_gather) > 0);
    CHECK(count_stage(prefetch.trace, trace::stage::d2d_gather) > 0);  // layer 0
  }
}

TEST_CASE("sparse-offload gives the tokens of sparse and loads every miss from host memory") {
  const auto resident = decode(Mode::sparse);
  const auto offload = decode(Mode::sparse_offload);
  CHECK(offload.tokens == resident.tokens);
  CHECK(offload.trace.selection_blocks == resident.trace.selection_blocks);
  CHECK(offload.cache.h2d_bytes == offload.cache.loaded_bytes);
  CHECK(offload.cache.h2d_bytes > 0);
  // The offload mode's prefill copies each chunk's KV to host memory.
  CHECK(count_stage(offload.trace, trace::stage::prefill_kv_offload, trace::Phase::prefill) > 0);
  CHECK(count_stage(resident.trace, trace::stage::prefill_kv_offload, trace::Phase::prefill) == 0);
}

TEST_CASE("h2d gather ops carry bytes and chunks that match the cache outcomes") {
  config::KernelOptions sm_loads;
  sm_loads.kv_gather = "sm_loads";
  const auto r = decode(Mode::sparda, 0, false, nullptr, sm_loads);
  std::uint64_t bytes = 0, chunks = 0;
  for (const auto& op : r.trace.ops) {
    if (op.phase != trace::Phase::decode || op.kind != trace::OpKind::h2d) continue;
    CHECK(op.engine == trace::Engine::zero_copy_gather);
    CHECK(op.ctas == 16);
    bytes += op.bytes;
    chunks += op.chunks;
  }
  CHECK(bytes == r.cache.h2d_bytes);
  CHECK(bytes == chunks * 2 * 64 * 16 * 2);  // K and V blocks of 64 tokens x head_dim 16, bf16
}

TEST_CASE("the bulk-copy gather option is recorded as the gathers' engine, with its own default CTAs") {
  config::KernelOptions bulk;
  bulk.kv_gather = "bulk";
  const auto r = decode(Mode::sparda, 0, false, nullptr, bulk);
  int gathers = 0;
  for (const auto& op : r.trace.ops)
    if (op.kind == trace::OpKind::h2d && op.phase == trace::Phase::decode) {
      CHECK(op.engine == trace::Engine::bulk_copy_gather);
      CHECK(op.ctas == config::default_gather_ctas(3, bulk));
      ++gathers;
    }
  CHECK(gathers > 0);
  config::KernelOptions sm_loads;
  sm_loads.kv_gather = "sm_loads";
  CHECK(r.tokens == decode(Mode::sparda, 0, false, nullptr, sm_loads).tokens);  // the same data arrives
}

TEST_CASE("extra GPU slots (LRU) keep blocks: same tokens, more hits, fewer bytes") {
  const auto exact = decode(Mode::sparda);
  const auto lru = decode(Mode::sparda, 8);
  CHECK(lru.tokens == exact.tokens);
  CHECK(lru.trace.selection_blocks == exact.trace.selection_blocks);
  CHECK(lru.cache.hits >= exact.cache.hits);
  CHECK(lru.cache.h2d_bytes <= exact.cache.h2d_bytes);
  CHECK(lru.cache.selected == exact.cache.selected);
  CHECK(lru.cache.hits + lru.cache.misses == exact.cache.hits + exact.cache.misses);
}

TEST_CASE("workload selections: exact and LRU working sets attend the same blocks") {
  const auto m = testing::tiny_model();
  config::RunConfig run;
  run.mode = Mode::sparse;
  run.batch = 3;
  run.topk_blocks = 4;
  run.context_tokens = {300, 200, 131};
  run.decode_steps = 40;
  run.warmup_steps = 0;
  run.seed = 5;
  for (bool synthetic : {false, true}) {
    CAPTURE(synthetic);
    auto a = make_workload_selections(m, run), b = make_workload_selections(m, run);
    const auto exact = decode(Mode::sparse, 0, synthetic, a.get());
    const auto lru = decode(Mode::sparse, 12, synthetic, b.get());
    CHECK(exact.trace.selection_blocks == lru.trace.selection_blocks);
    CHECK(exact.tokens == lru.tokens);
  }
}

TEST_CASE("cache_blocks smaller than top-k is rejected") {
  REQUIRE_THROWS_AS(decode(Mode::sparda, 3), std::invalid_argument);
}

// The synthesizer (see synth.hpp): workload-model selections -> cache replay
// -> per-mode schedule with roofline durations -> discrete-event times.
#include "foresight/sim/synth.hpp"

#include <fmt/core.h>

#include "foresight/config/load.hpp"
#include "foresight/sim/cost_model.hpp"
#include "foresight/sim/engine.hpp"
#include "foresight/sim/memory_model.hpp"
#include "foresight/sim/schedule.hpp"
#include "foresight/sim/selection_replay.hpp"
#include "foresight/sim/timeline.hpp"
#include "foresight/sim/token_selections.hpp"
#include "foresight/workload/selection_model.hpp"

namespace foresight::sim {

std::vector<std::string> synth_assumptions(const SynthOptions& o) {
  const auto& r = o.run;
  const auto& hw = o.hardware;
  std::vector<std::string> a;
  a.push_back(fmt::format(
      "op times: roofline on {}: kernel_launch_us {} + max(bytes / {} GB/s, FLOPs / {} TFLOP/s "
      "bf16 tensor or {} TFLOP/s fp32); efficiency 1.0 (an upper bound on speed)",
      hw.name, hw.kernel_launch_us, hw.hbm_gbps, hw.bf16_tflops, hw.fp32_tflops));
  a.push_back(fmt::format(
      "H2D: {} with {} CTAs, latency {} us per transfer + bytes / {}gather_by_ctas_16k({}) from "
      "the hardware config",
      trace::to_string(trace::host_gather_engine(r.kernels)), r.gather_ctas, hw.h2d_latency_us,
      config::bulk_copy_gather(r.kernels) ? "bulk_" : "", r.gather_ctas));
  a.push_back(fmt::format("gather kernels slow concurrent compute by {} x CTAs / {} SMs",
                          hw.gather_compute_slowdown, hw.sm_count));
  if (config::mode_traits(r.mode).selects_tokens()) {
    const auto& d = o.model.dsa;
    a.push_back(fmt::format(
        "selections: workload model over tokens (reuse {}, cross_layer {}, zipf_s {}, seed {}); top-{} tokens per "
        "(layer, sequence), shared by its KV heads; sink {} and local {} tokens always selected (model config)",
        r.workload.reuse, r.workload.cross_layer, r.workload.zipf_s, r.seed, d.topk_tokens, d.sink_tokens,
        d.local_tokens));
    a.push_back("gather: every selected token is packed every step (no GPU token cache); a token gather is timed "
                "like a block gather of the same bytes (token gathers not yet measured)");
  } else {
    a.push_back(fmt::format(
        "selections: workload model (reuse {}, cross_layer {}, zipf_s {}, seed {}); sink {} and "
        "window {} blocks always selected (model config)",
        r.workload.reuse, r.workload.cross_layer, r.workload.zipf_s, r.seed,
        o.model.sparse.sink_blocks, o.model.sparse.window_blocks));
    a.push_back(fmt::format("cache: {} eviction, {} slots per (layer, KV head) incl. the tail slot",
                            config::to_string(r.eviction),
                            r.cache_blocks == 0 ? r.topk_blocks + 1 : r.cache_blocks));
  }
  a.push_back("host: 20 us per step (sampling + graph launch), not measured");
  a.push_back("layer 0 of Forecast modes keeps its KV resident on the GPU (no H2D)");
  return a;
}

namespace {
// DSA: every (step, layer, seq)'s top-k tokens from the workload model (one
// stream per (layer, seq): the selection is shared by the KV heads), and the
// tokens each (step, layer) gathers into `loads`.
void synth_token_selections(const SynthOptions& o, std::int32_t steps, trace::Trace& t,
                            std::vector<std::uint64_t>& loads) {
  const auto& m = o.model;
  const auto& r = o.run;
  const auto L = static_cast<std::int32_t>(m.n_layers);
  const auto B = static_cast<std::int32_t>(r.batch);
  workload::SelectionModelParams sp;
  sp.topk_blocks = m.dsa.topk_tokens;
  sp.sink_blocks = m.dsa.sink_tokens;
  sp.window_blocks = m.dsa.local_tokens;
  sp.block_tokens = 1;
  sp.locality = r.workload;
  sp.seed = r.seed;
  workload::SelectionModel model(sp, L, 1, r.context_tokens);
  t.token_keys.reserve(static_cast<std::size_t>(steps) * L * B);
  for (std::int32_t s = 0; s < steps; ++s)
    for (std::int32_t l = 0; l < L; ++l)
      for (std::int32_t q = 0; q < B; ++q) {
        const auto& sel = model.next(s, l, q, 0);
        t.token_keys.push_back({s, static_cast<std::int16_t>(l), q, 0, static_cast<std::uint16_t>(sel.size())});
        t.token_ids.insert(t.token_ids.end(), sel.begin(), sel.end());
      }
  std::vector<std::int32_t> seq_map(static_cast<std::size_t>(B));
  for (std::int32_t q = 0; q < B; ++q) seq_map[q] = q;
  t.cache = token_gather_outcomes(t, TokenIndex::build(t), seq_map, static_cast<std::uint64_t>(token_bytes(m)));
  for (const auto& c : t.cache) loads[static_cast<std::size_t>(c.step) * L + c.layer] = c.misses;
}
}  // namespace

trace::Trace synthesize(const SynthOptions& o) {
  const auto& m = o.model;
  const auto& r = o.run;
  config::validate_run(r, m, "synth run");
  trace::Trace t;
  t.header.tool_version = o.tool_version;
  t.header.created_utc = o.created_utc;
  t.header.clock = "synthetic";
  t.header.model = m;
  t.header.hardware = o.hardware;
  t.header.run = r;
  t.header.run.backend = "synth";
  t.header.run.selection_source = "workload";

  const ModeShape ms = mode_shape(r.mode);
  const auto L = static_cast<std::int32_t>(m.n_layers);
  const auto H = static_cast<std::int32_t>(m.n_kv_heads);
  const auto B = static_cast<std::int32_t>(r.batch);
  const auto steps = static_cast<std::int32_t>(r.warmup_steps + r.decode_steps);  // warm-up first

  std::vector<std::uint64_t> loads(static_cast<std::size_t>(L) * steps, 0);
  if (ms.select) {
    workload::SelectionModelParams sp;
    sp.topk_blocks = r.topk_blocks;
    sp.sink_blocks = m.sparse.sink_blocks;
    sp.window_blocks = m.sparse.window_blocks;
    sp.block_tokens = m.sparse.block_tokens;
    sp.locality = r.workload;
    sp.seed = r.seed;
    workload::SelectionModel model(sp, L, H, r.context_tokens);
    t.selection_width = static_cast<std::uint32_t>(r.topk_blocks);
    const std::size_t rows = static_cast<std::size_t>(steps) * L * B * H;
    t.selection_keys.reserve(rows);
    t.selection_blocks.assign(rows * t.selection_width, trace::Trace::kNoBlock);
    std::size_t row = 0;
    for (std::int32_t s = 0; s < steps; ++s)
      for (std::int32_t l = 0; l < L; ++l)
        for (std::int32_t q = 0; q < B; ++q)
          for (std::int32_t h = 0; h < H; ++h, ++row) {
            const auto& sel = model.next(s, l, q, h);
            t.selection_keys.push_back({s, static_cast<std::int16_t>(l), q,
                                        static_cast<std::uint16_t>(h),
                                        static_cast<std::uint16_t>(sel.size())});
            std::copy(sel.begin(), sel.end(), t.selection_blocks.begin() + row * t.selection_width);
          }
    const std::int64_t capacity = r.cache_blocks == 0 ? r.topk_blocks : r.cache_blocks - 1;
    const SelectionIndex idx = SelectionIndex::build(t);
    const std::vector<bool> replayed = cache_layers(r.mode, m.n_layers);  // layer 0 too, as the runtime
    const StreamOutcomes so = replay_selections(t, idx, r.eviction, capacity, replayed);
    std::vector<std::int32_t> seq_map(static_cast<std::size_t>(B));
    for (std::int32_t q = 0; q < B; ++q) seq_map[q] = q;
    t.cache = aggregate_outcomes(so, seq_map, replayed, static_cast<std::uint64_t>(kv_block_bytes(m)));
    for (const auto& c : t.cache) loads[static_cast<std::size_t>(c.step) * L + c.layer] = c.misses;
  }
  if (ms.tokens) synth_token_selections(o, steps, t, loads);

  ScheduleConfig sc;
  sc.model = m;
  sc.hardware = o.hardware;
  sc.mode = r.mode;
  sc.prefetch = config::mode_traits(r.mode).prefetch;
  sc.batch = r.batch;
  sc.context_tokens = r.context_tokens;
  sc.decode_steps = steps;
  sc.topk_blocks = r.topk_blocks;
  sc.gather_ctas = r.gather_ctas;
  sc.h2d_engine = trace::host_gather_engine(r.kernels);
  sc.prefill = r.prefill != "none";
  build_schedule(sc, roofline_durations(o.hardware),
                 [&](std::int32_t s, std::int32_t l) { return loads[static_cast<std::size_t>(s) * L + l]; },
                 t);
  EngineParams ep{o.hardware.gather_compute_slowdown, o.hardware.sm_count};
  apply_times(t, simulate(graph_from_trace(t), ep));

  t.memory = plan_memory(m, o.hardware, r).entries;
  t.header.run.prefetch = sc.prefetch;
  return t;
}

}  // namespace foresight::sim

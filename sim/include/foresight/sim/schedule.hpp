// ScheduleBuilder: the ops of a run (prefill chunk + decode steps) with their
// streams and dependencies for each decode mode, as trace ops whose
// end_ns - start_ns is the op's duration (start_ns = 0 until timed by
// sim/timeline.hpp). Structure per mode: docs/simulator.md.
#pragma once

#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "foresight/config/calibration.hpp"
#include "foresight/config/hardware.hpp"
#include "foresight/config/model.hpp"
#include "foresight/config/run.hpp"
#include "foresight/sim/cost_model.hpp"
#include "foresight/trace/schema.hpp"

namespace foresight::sim {

// The mode as three switches (config::mode_traits); how a layer's misses
// travel is config::decode_layer_plan's.
struct ModeShape {
  bool select = false;      // sparse selection of top-k blocks
  bool forecast = false;    // layer l selects for l+1 (layer 0 resident, self-selects)
  bool kv_on_host = false;  // full KV in pinned host memory: misses cross PCIe
  bool tokens = false;      // DSA: an indexer selects top-k tokens, gathered every step
};
ModeShape mode_shape(config::Mode mode);
// The prefetch a mode runs with (config::mode_traits(mode).prefetch).
inline config::Prefetch mode_prefetch(config::Mode mode) { return config::mode_traits(mode).prefetch; }

// Identity of a compute op across traces: the n-th op of `stage` in
// (phase, step, layer).
struct OpKey {
  trace::Phase phase = trace::Phase::decode;
  std::int32_t step = 0;
  std::int16_t layer = -1;
  std::string_view stage;
  std::uint8_t occurrence = 0;
  std::uint16_t canonical_stage = 0;  // canonical_stage_id(stage)
};

// Small stable id of a canonical stage name (trace/stages.hpp); 4095 if unknown.
std::uint16_t canonical_stage_id(std::string_view name);

// Duration of a compute (or host) op in ns, given its key and roofline cost.
using DurationFn = std::function<std::int64_t(const OpKey&, const OpCost&)>;
// KV blocks (one KV head's K and V each) loaded for (step, layer), summed over
// sequences and heads.
using LoadFn = std::function<std::uint64_t(std::int32_t step, std::int32_t layer)>;

struct ScheduleConfig {
  config::ModelConfig model;
  config::HardwareConfig hardware;
  config::Mode mode = config::Mode::sparda;
  config::Prefetch prefetch = config::Prefetch::lookahead;  // offload modes only
  std::int64_t batch = 1;
  std::vector<std::int64_t> context_tokens;  // per sequence, at decode step 0
  std::int64_t decode_steps = 1;
  std::int64_t topk_blocks = 96;
  std::int64_t gather_ctas = 16;
  double pcie_scale = 1.0;                   // multiplies every PCIe bandwidth
  bool prefill = false;                      // emit one prefill chunk first
  // Sparse prefill (config/sparse_prefill.hpp): per layer, the tiles its
  // block-sparse attention computes over all sequences; the layer then runs
  // prefill_estimate, prefill_choose and prefill_sparse_attention in place of
  // prefill_attention. Empty: dense prefill.
  std::vector<std::uint64_t> prefill_tiles;
  trace::Engine h2d_engine = trace::Engine::zero_copy_gather;
  std::int64_t host_step_ns = 20000;         // host work per step (assumption)
  // Stages the recorded runtime runs inside a neighbouring op, so the
  // schedule has no op of their own: the per-layer RMSNorms (inside
  // qkvf_gemm and mlp) and the new token's K/V write (inside rope). The
  // replayer sets them when a trace with decode ops has none of that stage.
  bool fused_layer_norms = false;
  bool fused_kv_write = false;
  // Calibrated costs (null / false / 0: the hardware curves and no launches).
  const config::GatherModel* gather_model = nullptr;  // zero-copy H2D gathers (already at the scenario's link speed)
  bool d2d_by_duration = false;   // GPU-to-GPU gathers timed by the DurationFn (stage d2d_gather)
  bool h2d_by_duration = false;   // DSA's host token gathers timed by the DurationFn (calibrated h2d_gather/token)
  bool eager = false;             // no CUDA graph: every GPU op waits for its host launch
  std::int64_t eager_launch_ns = 0;  // host time per launch when `eager`
  // Indexed by canonical stage id: the duration (ns) the DurationFn gives
  // every decode compute op of that stage, or < 0 where it depends on more
  // than the stage. time_skeleton takes these without calling the DurationFn
  // (calibrated costs; empty: call it for every op).
  std::vector<std::int64_t> decode_stage_ns;
};

// Appends stages, streams, ops and deps of the whole run to `out` (which must
// have no ops yet). Op ids are 0..n-1. Same as build_skeleton + time_skeleton
// + materialize.
void build_schedule(const ScheduleConfig& c, const DurationFn& duration, const LoadFn& loads,
                    trace::Trace& out);

// The op graph of a run without times: depends only on the config's model,
// mode, prefetch, batch, context_tokens, decode_steps, topk_blocks, prefill,
// h2d_engine, eager and fused_* switches (not on hardware, gather_ctas, pcie_scale,
// host_step_ns, durations or loads), so one skeleton serves many scenarios.
struct ScheduleSkeleton {
  // Streams, stages, ops (ids 0..n-1) and deps; every op's end_ns is 0 and
  // gathers have 0 bytes, chunks and ctas.
  trace::Trace trace;
  std::vector<std::uint32_t> compute_ops;  // ops timed by the DurationFn, with:
  std::vector<OpKey> keys;                 //   their keys (stage views: trace/stages.hpp constants)
  std::vector<OpCost> costs;               //   their roofline costs
  std::vector<std::uint32_t> host_ops;     // host_step_ns each
  std::vector<std::uint32_t> launch_ops;   // eager_launch_ns each (host launches when eager)
  std::vector<std::uint32_t> transfer_ops; // fixed-size transfers (prefill KV offload)
  std::vector<std::uint32_t> gather_ops;   // per-(step, layer) gathers sized by the LoadFn
};
ScheduleSkeleton build_skeleton(const ScheduleConfig& c);

// One timing of a skeleton.
struct ScheduleTiming {
  std::vector<std::int64_t> duration_ns;     // per op
  std::vector<std::uint64_t> gather_blocks;  // per skeleton gather_ops entry: units loaded (KV blocks; DSA: tokens)
  std::uint16_t gather_ctas = 0;             // CTAs of each h2d gather (0: not a gather kernel)
};
// Times `sk` (built from a config with the same structure as `c`) with `c`'s
// hardware, gather_ctas, pcie_scale and host_step_ns.
void time_skeleton(const ScheduleSkeleton& sk, const ScheduleConfig& c, const DurationFn& duration,
                   const LoadFn& loads, ScheduleTiming& out);
// Writes the timed ops (start_ns 0, end_ns = duration) into `out` (no ops yet);
// `block_bytes` = gather_unit_bytes(model, mode): one block, or a DSA token.
void materialize(const ScheduleSkeleton& sk, const ScheduleTiming& tm, std::uint64_t block_bytes,
                 trace::Trace& out);

// Roofline durations on the config's hardware, divided by `compute_scale`.
DurationFn roofline_durations(const config::HardwareConfig& hw, double compute_scale = 1.0);

}  // namespace foresight::sim

// Metrics of a timed run, recorded (`foresight run`) or simulated (`replay`,
// `sweep`, `plan`): the one definition both sides call, on a trace or on op
// times kept beside a trace's op layout. Every name and formula is in
// docs/metrics.md; names are dotted paths ("decode.step_ms.p50"), nested into
// objects in metrics.json and used as column names in results.csv.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "foresight/trace/critical_path.hpp"
#include "foresight/trace/schema.hpp"

namespace foresight::trace {

// Ordered (name, value); NaN means "not applicable" (null in JSON, empty in CSV).
using Metrics = std::vector<std::pair<std::string, double>>;

// The memory footprint a run planned (memory.* metrics), bytes.
struct MemoryUse {
  std::uint64_t gpu_bytes = 0;
  std::uint64_t host_bytes = 0;  // pinned host
  bool fits = true;              // both fit the hardware
};

// The footprint a trace recorded (sum of t.memory by location; fits = true:
// the run allocated it).
MemoryUse recorded_memory(const Trace& t);

// Critical-path plan of one step: its ops first..last (inclusive, contiguous).
struct StepPlan {
  std::size_t first = 0, last = 0;
  StepDagPlan dag;
};
// Plans of the decode steps >= `first_step` of `layout`, in op order; they
// depend only on the op structure, not on times.
std::vector<StepPlan> plan_steps(const Trace& layout, std::int32_t first_step = 0);

// What compute_metrics reads of an op layout besides times, prepared once for
// timing the layout many times (a sweep): how ops group into step spans, the
// decode ops each sum runs over (in op order, so sums add up alike), and the
// critical-path plans of the decode steps. Depends only on the op structure.
struct LayoutPlan {
  // A decode op that a sum counts, with its step (warm-up steps are skipped
  // when the metrics are computed).
  struct Entry {
    std::uint32_t op = 0;
    std::int32_t step = 0;
    std::uint8_t kind = 0;  // h2d list: kH2d, kH2dExposed or kWaitExposed
  };
  static constexpr std::uint8_t kH2d = 0, kH2dExposed = 1, kWaitExposed = 2;
  SpanPlan spans;
  std::vector<Entry> h2d;      // H2D ops, and waits on compute streams
  std::vector<Entry> compute;  // compute-class ops
  std::vector<StepPlan> steps;  // plan_steps(layout)
};
LayoutPlan plan_layout(const Trace& layout);

// What compute_metrics reads of a timed run, without a materialized trace:
// the op layout (phase, step, kind, engine, stream, id, deps) from `layout`,
// times and bytes from the spans.
struct TimedRun {
  const Trace* layout = nullptr;            // streams, ops and deps; its op times/bytes unused
  std::span<const std::int64_t> start_ns;   // per op, ns
  std::span<const std::int64_t> end_ns;     // per op, ns
  std::span<const std::uint64_t> bytes;     // per op
  std::span<const StepSpan> steps;          // step_spans of these times
  std::span<const CacheOutcome> cache;
  std::int64_t batch = 1;                   // sequences
  std::int64_t decode_steps = 0;            // run.decode_steps (timed steps)
  std::int64_t warmup_steps = 0;            // run.warmup_steps: decode steps below it are warm-up
  std::span<const std::int64_t> context_tokens;  // per sequence
  // plan_layout(*layout); null: the layout is read op by op.
  const LayoutPlan* plan = nullptr;
};

// decode.*, prefill.*, h2d.*, compute.*, cache.*, bound.* and memory.*.
// decode.*, h2d.*, compute.*, cache.* and bound.* cover the steady decode steps only: warm-up
// steps (trace/steps.hpp, run.warmup_steps) are left out. A run without ops
// (the runtime with tracing off: step spans and cache outcomes only) has
// h2d.*, compute.* and bound.* NaN: not measured. `critical_paths` false skips the
// bound.* shares (they are then NaN).
Metrics compute_metrics(const TimedRun& run, const MemoryUse& mem, bool critical_paths = true);
// The same on a trace's own times; batch, steps and contexts from its header.
Metrics compute_metrics(const Trace& t, const MemoryUse& mem, bool critical_paths = true);

// KV accesses through a simulated L2 reservation in one (decode step, layer),
// summed over sequences and KV heads (sim/l2_model.hpp). One access = one
// entry of the policy's granularity: a KV block of one KV head (block
// traces), a token of all KV heads (token-lru on DSA traces) or a block of
// all KV heads (block-lru on DSA traces). Bytes count what attention needs:
// a block-lru hit on a DSA trace serves only the selected tokens in it.
struct L2Outcome {
  std::int32_t step = 0;
  std::int16_t layer = 0;
  std::uint64_t accesses = 0;   // entries read
  std::uint64_t hits = 0;       // of them, found in the reservation
  std::uint64_t bytes = 0;      // KV bytes read
  std::uint64_t hit_bytes = 0;  // of them, from the reservation
};

// l2.reserve_bytes, l2.hit_rate (bytes from the reservation / KV bytes
// read), l2.layer_hit_rate.<l>, l2.hbm_bytes_saved over the steady decode
// steps (step >= warmup_steps). Only a replay with an L2 reservation adds them.
Metrics l2_metrics(std::span<const L2Outcome> l2, std::int64_t reserve_bytes, std::int64_t warmup_steps);

// Metrics of a scenario that does not fit in memory: memory.* only.
Metrics out_of_memory_metrics(const MemoryUse& mem);

// stages_ms.<stage> (summed op time per stage over the whole run, prefill and
// warm-up included) and stages_total_ms.
Metrics stage_metrics(const Trace& t);

// Nested JSON object from dotted names (NaN -> null).
nlohmann::json metrics_to_json(const Metrics& m);


}  // namespace foresight::trace

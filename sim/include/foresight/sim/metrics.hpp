// Metrics of a timed run (simulated or recorded). Every name and formula is
// defined in docs/metrics.md; names are dotted paths ("decode.step_ms.p50"),
// nested into objects in metrics.json and used as column names in results.csv.
#pragma once

#include <span>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "foresight/sim/memory_model.hpp"
#include "foresight/sim/timeline.hpp"
#include "foresight/trace/schema.hpp"

namespace foresight::sim {

// Ordered (name, value); NaN means "not applicable" (null in JSON, empty in CSV).
using Metrics = std::vector<std::pair<std::string, double>>;

// `t` must have op times and step spans (sim/timeline.hpp). decode.*, h2d.*,
// cache.* and bound.* cover the steady decode steps only: warm-up steps
// (trace/steps.hpp, run.warmup_steps of t's header) are left out.
// `critical_paths` false skips the bound.* shares (they are then NaN).
Metrics compute_metrics(const trace::Trace& t, const MemoryPlan& mem, bool critical_paths = true);

// Critical-path plan of one step: its ops first..last (inclusive, contiguous).
struct StepPlan {
  std::size_t first = 0, last = 0;
  StepDagPlan dag;
};
// Plans of the decode steps >= `first_step` of `layout`, in op order; they
// depend only on the op structure, not on times.
std::vector<StepPlan> plan_steps(const trace::Trace& layout, std::int32_t first_step = 0);

// What compute_metrics reads of a timed run, without a materialized trace:
// the op layout (phase, step, kind, engine, stream, id, deps) from `layout`,
// times and bytes from the spans.
struct TimedRun {
  const trace::Trace* layout = nullptr;     // streams, ops and deps; its op times/bytes unused
  std::span<const std::int64_t> start_ns;   // per op, ns
  std::span<const std::int64_t> end_ns;     // per op, ns
  std::span<const std::uint64_t> bytes;     // per op
  std::span<const trace::StepSpan> steps;   // step_spans of these times
  std::span<const trace::CacheOutcome> cache;
  std::int64_t batch = 1;                   // sequences
  std::int64_t decode_steps = 0;            // run.decode_steps (timed steps)
  std::int64_t warmup_steps = 0;            // run.warmup_steps: decode steps below it are warm-up
  std::span<const std::int64_t> context_tokens;  // per sequence
  // plan_steps(*layout) covering at least the timed steps; null: planned here.
  const std::vector<StepPlan>* plans = nullptr;
};
Metrics compute_metrics(const TimedRun& run, const MemoryPlan& mem, bool critical_paths = true);

// Metrics of a scenario that does not fit in memory: memory.* only.
Metrics out_of_memory_metrics(const MemoryPlan& mem);

// Nested JSON object from dotted names (NaN -> null).
nlohmann::json metrics_to_json(const Metrics& m);

}  // namespace foresight::sim

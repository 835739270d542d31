// Metrics of a timed run (simulated or recorded). Every name and formula is
// defined in docs/metrics.md; names are dotted paths ("decode.step_ms.p50"),
// nested into objects in metrics.json and used as column names in results.csv.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "foresight/sim/memory_model.hpp"
#include "foresight/trace/schema.hpp"

namespace foresight::sim {

// Ordered (name, value); NaN means "not applicable" (null in JSON, empty in CSV).
using Metrics = std::vector<std::pair<std::string, double>>;

// `t` must have op times and step spans (sim/timeline.hpp). decode.*, h2d.*,
// cache.* and bound.* cover the steady decode steps only: warm-up steps
// (trace/steps.hpp, run.warmup_steps of t's header) are left out.
// `critical_paths` false skips the bound.* shares (they are then NaN).
Metrics compute_metrics(const trace::Trace& t, const MemoryPlan& mem, bool critical_paths = true);

// Metrics of a scenario that does not fit in memory: memory.* only.
Metrics out_of_memory_metrics(const MemoryPlan& mem);

// Nested JSON object from dotted names (NaN -> null).
nlohmann::json metrics_to_json(const Metrics& m);

// Nearest-rank percentile of `v` (sorted copy), p in (0, 100].
double percentile(std::vector<double> v, double p);

}  // namespace foresight::sim

// Metrics of a simulated run: the contract library's definitions
// (trace/metrics.hpp, docs/metrics.md), which the runtime's metrics.json uses
// too, called with the simulator's memory plan.
#pragma once

#include "foresight/sim/memory_model.hpp"
#include "foresight/trace/metrics.hpp"

namespace foresight::sim {

using trace::LayoutPlan;
using trace::Metrics;
using trace::metrics_to_json;
using trace::plan_layout;
using trace::plan_steps;
using trace::StepPlan;
using trace::TimedRun;

// memory.* of a memory plan.
inline trace::MemoryUse memory_use(const MemoryPlan& mem) {
  return {mem.gpu_bytes, mem.host_bytes, mem.fits};
}

// trace::compute_metrics of `t` (its own op times) or of a TimedRun.
inline Metrics compute_metrics(const trace::Trace& t, const MemoryPlan& mem, bool critical_paths = true) {
  return trace::compute_metrics(t, memory_use(mem), critical_paths);
}
inline Metrics compute_metrics(const TimedRun& run, const MemoryPlan& mem, bool critical_paths = true) {
  return trace::compute_metrics(run, memory_use(mem), critical_paths);
}

// Metrics of a scenario that does not fit in memory: memory.* only.
inline Metrics out_of_memory_metrics(const MemoryPlan& mem) { return trace::out_of_memory_metrics(memory_use(mem)); }

}  // namespace foresight::sim

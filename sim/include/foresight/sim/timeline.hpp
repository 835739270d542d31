// Between traces and the engine: a trace's ops as an engine graph (durations
// = end_ns - start_ns, stream order = op order, deps = recorded deps), the
// simulated times written back, step spans, and each step's critical path.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "foresight/sim/engine.hpp"
#include "foresight/trace/schema.hpp"

namespace foresight::sim {

// OpClass of a trace op: compute/d2d -> compute, h2d/d2h -> pcie (cpu_memcpy
// -> host), host -> host, wait -> wait.
OpClass op_class(const trace::Op& op);

// Throws std::invalid_argument naming `where` and the op on a dep that names
// no earlier op.
SimGraph graph_from_trace(const trace::Trace& t, const char* where = "trace");

// Writes simulated times into t.ops and rebuilds t.steps: one span per
// (phase, step) from the first op start to the last op end of that step.
void apply_times(trace::Trace& t, const SimTimes& times);

// Step spans computed from op times, in (phase, step) order.
std::vector<trace::StepSpan> step_spans(const trace::Trace& t);

// Critical path of one step, found with Boost.Graph (longest path in the
// step's DAG of stream-order and dependency edges, weighted by simulated
// durations; a wait weighs 0 so the path runs through what it waited on).
struct CriticalPath {
  std::int64_t length_ns = 0;
  std::array<std::int64_t, kOpClassCount> ns_by_class{};  // compute, pcie, host, wait
  std::vector<std::uint32_t> ops;                          // op indices, in time order
};

// `first`..`last` (inclusive) are the op indices of one step (ops of a step
// are contiguous in every trace the simulator writes; for other traces the
// caller passes each step's range). Uses the times in t.ops.
CriticalPath critical_path(const trace::Trace& t, std::size_t first, std::size_t last);

}  // namespace foresight::sim

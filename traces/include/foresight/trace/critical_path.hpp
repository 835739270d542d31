// A step's critical path over a trace's op graph, and step spans from op
// times: what the metrics of a run (trace/metrics.hpp) need of its timeline,
// so that the runtime (on what it recorded) and the simulator (on what it
// simulated) compute them with one definition.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "foresight/trace/schema.hpp"

namespace foresight::trace {

// What an op occupies; used to say which resource bounds a step.
enum class OpClass : std::uint8_t {
  compute = 0,  // GPU kernel doing math (or moving HBM bytes: d2d gather)
  pcie = 1,     // host<->device transfer (any engine)
  host = 2,     // host-side work (launch, planning, CPU memcpy)
  wait = 3,     // a stream blocked on an event: ends when its deps end
};
inline constexpr int kOpClassCount = 4;

// OpClass of a trace op: compute/d2d -> compute, h2d/d2h -> pcie (cpu_memcpy
// -> host), host -> host, wait -> wait.
OpClass op_class(const Op& op);

// Step spans computed from op times, in (phase, step) order: one span per
// (phase, step) from the first op start to the last op end of that step.
std::vector<StepSpan> step_spans(const Trace& t);
// The same from per-op times (ns) kept outside the ops.
std::vector<StepSpan> step_spans(const std::vector<Op>& ops, std::span<const std::int64_t> start_ns,
                                 std::span<const std::int64_t> end_ns);

// How step_spans groups the ops of one layout, prepared once for timing it
// many times: the spans' (phase, step) in (phase, step) order, and the ops of
// each span.
struct SpanPlan {
  std::vector<StepSpan> spans;       // phase and step; times unused
  std::vector<std::uint32_t> begin;  // per span, plus one end: first entry in ops
  std::vector<std::uint32_t> ops;    // op indices, span after span
};
SpanPlan plan_spans(const std::vector<Op>& ops);
// step_spans(ops, start_ns, end_ns) of the ops `plan` was made from, into `out`.
void step_spans(const SpanPlan& plan, std::span<const std::int64_t> start_ns,
                std::span<const std::int64_t> end_ns, std::vector<StepSpan>& out);

// Critical path of one step: the longest path in the step's DAG of
// stream-order and dependency edges, weighted by op durations (ns; a wait
// weighs 0 so the path runs through what it waited on).
struct CriticalPath {
  std::int64_t length_ns = 0;
  std::array<std::int64_t, kOpClassCount> ns_by_class{};  // compute, pcie, host, wait
  std::vector<std::uint32_t> ops;                          // op indices, in time order
};

// `first`..`last` (inclusive) are the op indices of one step (ops of a step
// are contiguous in every trace the simulator or the runtime writes; for
// other traces the caller passes each step's range). Uses the times in t.ops.
CriticalPath critical_path(const Trace& t, std::size_t first, std::size_t last);

// One step's DAG in flat arrays, ops numbered 0..n-1 in stream order.
struct StepDag {
  std::vector<std::uint32_t> stream;     // per op, < stream_count
  std::vector<std::int64_t> weight_ns;   // per op: duration, 0 for waits
  std::vector<OpClass> cls;              // per op
  std::vector<std::uint32_t> dep_begin;  // n + 1 offsets into deps
  std::vector<std::uint32_t> deps;       // earlier in-step ops each op waits on, recorded order
  std::uint32_t stream_count = 0;
  void clear();
  std::size_t size() const { return stream.size(); }
};

// Reusable buffers of critical_path(StepDag) (one per thread).
struct CriticalPathScratch {
  std::vector<std::uint32_t> fill, last_on_stream, finish, pred;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> stack;  // (vertex, next out-edge)
  std::vector<std::int64_t> dist;
  std::vector<std::uint8_t> seen;
};

// What critical_path needs of a StepDag besides the weights: out-edges (CSR
// over vertices 0..n, n = source) and a topological order. Depends only on
// the DAG's structure, so one plan serves every timing of a step.
struct StepDagPlan {
  std::uint32_t n = 0;
  std::vector<std::uint32_t> out_head, out_adj, topo;
  std::vector<OpClass> cls;  // per op
};
void plan_step_dag(const StepDag& g, StepDagPlan& plan, CriticalPathScratch& scratch);

// Length and time per class of the critical path of a planned step, without
// its ops (what the bound.* metrics need): critical_path's length_ns and
// ns_by_class.
struct PathTotals {
  std::int64_t length_ns = 0;
  std::array<std::int64_t, kOpClassCount> ns_by_class{};
};
PathTotals critical_path_totals(const StepDagPlan& plan, std::span<const std::int64_t> weight_ns,
                                CriticalPathScratch& scratch);

// critical_path of a StepDag; ops are local indices 0..n-1. Ties between
// equally long paths are broken as boost::dag_shortest_paths breaks them
// (the simulator used Boost.Graph before; tests/sim check both agree).
CriticalPath critical_path(const StepDag& dag, CriticalPathScratch& scratch);
// The same with a prepared plan and per-op weights (ns, 0 for waits).
CriticalPath critical_path(const StepDagPlan& plan, std::span<const std::int64_t> weight_ns,
                           CriticalPathScratch& scratch);

// The structure (weights empty) of ops first..last of `t` as a StepDag: deps
// outside the range are dropped.
void step_dag(const Trace& t, std::size_t first, std::size_t last, StepDag& g);

}  // namespace foresight::trace

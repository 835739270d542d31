// Between traces and the engine: a trace's ops as an engine graph (durations
// = end_ns - start_ns, stream order = op order, deps = recorded deps) and the
// simulated times written back.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "foresight/sim/engine.hpp"
#include "foresight/trace/critical_path.hpp"
#include "foresight/trace/schema.hpp"

namespace foresight::sim {

// Throws std::invalid_argument naming `where` and the op on a dep that names
// no earlier op.
SimGraph graph_from_trace(const trace::Trace& t, const char* where = "trace");

// The recorded schedule of `t` in `g` (made from it by graph_from_trace):
// each op waits its recorded idle gap after it became ready (its stream's
// previous op and its dependencies ended), the host launch delay no op of the
// trace covers, and lasts from its recorded start, or from when it became
// ready if its mark lies earlier (inside CUDA graphs a mark can land on a
// neighbour), to its recorded end; a wait ends its recorded lag after its
// dependency (the event's latency). Replaying `g` then differs from the
// recording only where the trace's dependencies miss an ordering.
void keep_recorded_gaps(const trace::Trace& t, SimGraph& g);

// Writes simulated times into t.ops and rebuilds t.steps: one span per
// (phase, step) from the first op start to the last op end of that step.
void apply_times(trace::Trace& t, const SimTimes& times);

// Step spans and critical paths are defined with the metrics, in the
// contract library (trace/critical_path.hpp); the simulator's names for them:
using trace::CriticalPath;
using trace::CriticalPathScratch;
using trace::critical_path;
using trace::op_class;
using trace::plan_step_dag;
using trace::step_dag;
using trace::step_spans;
using trace::StepDag;
using trace::StepDagPlan;

}  // namespace foresight::sim

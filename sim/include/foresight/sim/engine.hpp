// Discrete-event core of the simulator. Time is integer nanoseconds; events
// are totally ordered by (time, priority, insertion sequence), so the same
// graph always gives the same times, bit for bit.
//
// Resources are modelled as CUDA exposes them: every op runs on one stream
// (a CUDA stream, a copy path or a host thread); ops of one stream run in
// order, ops of different streams overlap. Explicit dependencies are events
// recorded by one stream and waited on by another.
#pragma once

#include <cstdint>
#include <vector>

#include "foresight/trace/critical_path.hpp"

namespace foresight::sim {

// What an op occupies (defined with the critical path in the contract library).
using trace::OpClass;
using trace::kOpClassCount;

// One op of a graph. Ops are listed so that every dependency comes first and
// each stream's ops appear in execution order.
struct SimOp {
  std::int64_t duration_ns = 0;  // ignored for OpClass::wait
  std::uint32_t stream = 0;      // index < SimGraph::stream_count
  std::uint32_t dep_begin = 0;   // slice of SimGraph::deps
  std::uint32_t dep_count = 0;
  OpClass cls = OpClass::compute;
  std::uint16_t gather_ctas = 0; // > 0: a gather kernel holding this many SMs
  bool slowable = false;         // compute slowed while gathers hold SMs
};

struct SimGraph {
  std::uint32_t stream_count = 0;
  std::vector<SimOp> ops;
  std::vector<std::uint32_t> deps;  // op indices, each < the depending op's index
  // Empty, or one per op: ns an op waits after it is ready (its stream and
  // dependencies done) before it starts; a recorded run's host launch gaps.
  std::vector<std::int64_t> lead_ns;
};

struct EngineParams {
  // Concurrent compute slows by `gather_compute_slowdown * active_gather_ctas /
  // sm_count` (fraction): a compute op starting while gathers hold SMs runs
  // that much longer (a gather starting at the same instant counts; one that
  // ends then does not). 0 disables the effect.
  double gather_compute_slowdown = 0.0;
  std::int64_t sm_count = 132;
  // Calibrated instead (when non-null and non-empty): the fraction by which
  // compute slows while gathers hold c CTAs is slowdown_by_ctas[min(c, size-1)].
  const std::vector<double>* slowdown_by_ctas = nullptr;
};

struct SimTimes {
  std::vector<std::int64_t> start_ns;  // per op
  std::vector<std::int64_t> end_ns;
  std::uint64_t events = 0;            // start + end events processed
};

// Runs the graph from time `t0_ns`. Throws std::invalid_argument on a
// malformed graph (dependency not earlier, stream out of range, negative
// duration).
SimTimes simulate(const SimGraph& g, const EngineParams& p, std::int64_t t0_ns = 0);

// Reusable variant that keeps its buffers between calls (sweeps). A sweep
// runs one op graph structure under many timings: plan() it once, then
// run_planned() each timing, which skips re-checking and re-indexing the
// structure.
class Engine {
 public:
  // plan(g) then run_planned(g, p, t0_ns).
  const SimTimes& run(const SimGraph& g, const EngineParams& p, std::int64_t t0_ns = 0);

  // Checks and indexes the structure of `g` (streams, dependencies; not its
  // durations or gather CTAs). Throws std::invalid_argument as simulate does.
  void plan(const SimGraph& g);
  // Runs `g`, whose ops, streams and deps must be those of the graph last
  // planned (durations, gather_ctas, slowable and lead_ns may differ). Throws
  // std::invalid_argument on a negative duration.
  const SimTimes& run_planned(const SimGraph& g, const EngineParams& p, std::int64_t t0_ns = 0);

 private:
  // An event ordered by (time, key); key = priority (0 = end, frees first;
  // 1 = gather start; 2 = other start) << 62 | insertion sequence << 32 | op.
  struct Event {
    std::int64_t time;
    std::uint64_t key;
  };
  std::vector<Event> heap_;
  std::vector<std::uint32_t> pending0_;    // prerequisites per op (planned)
  std::vector<std::uint32_t> pending_;     // unmet prerequisites per op (this run)
  std::vector<std::uint32_t> dependents_;  // CSR of op -> dependents
  std::vector<std::uint32_t> dep_head_;
  std::vector<std::uint32_t> next_in_stream_;
  std::vector<std::uint32_t> roots_;       // ops without prerequisites, in index order
  SimTimes times_;
};

}  // namespace foresight::sim

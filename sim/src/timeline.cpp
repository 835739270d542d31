// Trace <-> engine graph conversion (step spans and critical paths:
// traces/src/critical_path.cpp).
#include "foresight/sim/timeline.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

namespace foresight::sim {

SimGraph graph_from_trace(const trace::Trace& t, const char* where) {
  SimGraph g;
  g.stream_count = static_cast<std::uint32_t>(t.streams.size());
  g.ops.resize(t.ops.size());
  g.deps.reserve(t.deps.size());
  for (std::size_t i = 0; i < t.ops.size(); ++i) {
    const trace::Op& op = t.ops[i];
    SimOp& s = g.ops[i];
    s.duration_ns = op.end_ns - op.start_ns;
    s.stream = op.stream;
    s.cls = op_class(op);
    s.gather_ctas = trace::holds_ctas(op.engine) ? op.ctas : 0;
    s.slowable = op.kind == trace::OpKind::compute;
    s.dep_begin = static_cast<std::uint32_t>(g.deps.size());
    for (std::uint32_t k = 0; k < op.dep_count; ++k) {
      const std::uint64_t id = t.deps.at(op.dep_offset + k);
      auto it = std::lower_bound(t.ops.begin(), t.ops.begin() + static_cast<std::ptrdiff_t>(i), id,
                                 [](const trace::Op& o, std::uint64_t v) { return o.id < v; });
      if (it == t.ops.begin() + static_cast<std::ptrdiff_t>(i) || it->id != id)
        throw std::invalid_argument(std::string(where) + ": /ops[" + std::to_string(i) +
                                    "] depends on op id " + std::to_string(id) +
                                    " which is not an earlier op");
      g.deps.push_back(static_cast<std::uint32_t>(it - t.ops.begin()));
    }
    s.dep_count = static_cast<std::uint32_t>(g.deps.size() - s.dep_begin);
  }
  return g;
}

void keep_recorded_gaps(const trace::Trace& t, SimGraph& g) {
  std::vector<std::int64_t> stream_end(g.stream_count, std::numeric_limits<std::int64_t>::min());
  g.lead_ns.assign(g.ops.size(), 0);
  for (std::size_t i = 0; i < g.ops.size(); ++i) {
    const trace::Op& op = t.ops[i];
    SimOp& s = g.ops[i];
    std::int64_t ready = stream_end[s.stream];
    for (std::uint32_t k = 0; k < s.dep_count; ++k) ready = std::max(ready, t.ops[g.deps[s.dep_begin + k]].end_ns);
    if (ready == std::numeric_limits<std::int64_t>::min()) ready = t.ops.front().start_ns;  // simulate()'s t0
    stream_end[s.stream] = std::max(stream_end[s.stream], op.end_ns);
    if (s.cls == OpClass::wait) {  // ends when its event fires: the recorded lag after its dependency
      g.lead_ns[i] = std::max<std::int64_t>(0, op.end_ns - ready);
      continue;
    }
    g.lead_ns[i] = std::max<std::int64_t>(0, op.start_ns - ready);
    s.duration_ns = std::max<std::int64_t>(0, op.end_ns - std::max(op.start_ns, ready));
  }
}

void apply_times(trace::Trace& t, const SimTimes& times) {
  for (std::size_t i = 0; i < t.ops.size(); ++i) {
    t.ops[i].start_ns = times.start_ns[i];
    t.ops[i].end_ns = times.end_ns[i];
  }
  t.steps = step_spans(t);
}

}  // namespace foresight::sim

// Trace <-> engine graph conversion (step spans and critical paths:
// traces/src/critical_path.cpp).
#include "foresight/sim/timeline.hpp"

#include <algorithm>
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
    s.gather_ctas = op.engine == trace::Engine::zero_copy_gather ? op.ctas : 0;
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

void apply_times(trace::Trace& t, const SimTimes& times) {
  for (std::size_t i = 0; i < t.ops.size(); ++i) {
    t.ops[i].start_ns = times.start_ns[i];
    t.ops[i].end_ns = times.end_ns[i];
  }
  t.steps = step_spans(t);
}

}  // namespace foresight::sim

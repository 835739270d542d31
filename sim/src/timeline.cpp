// Trace <-> engine graph conversion, step spans and Boost.Graph critical paths.
#include "foresight/sim/timeline.hpp"

#include <algorithm>
#include <functional>
#include <limits>
#include <stdexcept>
#include <string>

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/dag_shortest_paths.hpp>

namespace foresight::sim {

OpClass op_class(const trace::Op& op) {
  switch (op.kind) {
    case trace::OpKind::compute:
    case trace::OpKind::d2d: return OpClass::compute;
    case trace::OpKind::h2d:
    case trace::OpKind::d2h:
      return op.engine == trace::Engine::cpu_memcpy ? OpClass::host : OpClass::pcie;
    case trace::OpKind::host: return OpClass::host;
    case trace::OpKind::wait: return OpClass::wait;
  }
  return OpClass::compute;
}

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

std::vector<trace::StepSpan> step_spans(const trace::Trace& t) {
  std::vector<trace::StepSpan> spans;
  for (const trace::Op& op : t.ops) {
    auto it = std::find_if(spans.rbegin(), spans.rend(), [&](const trace::StepSpan& s) {
      return s.phase == op.phase && s.step == op.step;
    });
    if (it == spans.rend()) {
      spans.push_back({op.phase, op.step, op.start_ns, op.end_ns});
    } else {
      it->start_ns = std::min(it->start_ns, op.start_ns);
      it->end_ns = std::max(it->end_ns, op.end_ns);
    }
  }
  std::stable_sort(spans.begin(), spans.end(), [](const auto& a, const auto& b) {
    if (a.phase != b.phase) return a.phase < b.phase;
    return a.step < b.step;
  });
  return spans;
}

void apply_times(trace::Trace& t, const SimTimes& times) {
  for (std::size_t i = 0; i < t.ops.size(); ++i) {
    t.ops[i].start_ns = times.start_ns[i];
    t.ops[i].end_ns = times.end_ns[i];
  }
  t.steps = step_spans(t);
}

CriticalPath critical_path(const trace::Trace& t, std::size_t first, std::size_t last) {
  using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS, boost::no_property,
                                      boost::property<boost::edge_weight_t, std::int64_t>>;
  CriticalPath cp;
  if (first > last || last >= t.ops.size()) return cp;
  const std::size_t n = last - first + 1;
  Graph g(n + 1);
  const std::size_t source = n;
  auto weight = [&](std::size_t i) {
    const trace::Op& op = t.ops[first + i];
    return op.kind == trace::OpKind::wait ? std::int64_t{0} : op.end_ns - op.start_ns;
  };
  std::vector<std::size_t> last_on_stream(t.streams.size(), n);
  std::vector<std::uint8_t> has_pred(n, 0);
  for (std::size_t i = 0; i < n; ++i) {
    const trace::Op& op = t.ops[first + i];
    const std::int64_t w = weight(i);
    std::size_t& prev = last_on_stream.at(op.stream);
    if (prev != n) {
      boost::add_edge(prev, i, w, g);
      has_pred[i] = 1;
    }
    prev = i;
    for (std::uint32_t k = 0; k < op.dep_count; ++k) {
      const std::uint64_t id = t.deps[op.dep_offset + k];
      if (id < t.ops[first].id || id >= op.id) continue;  // outside this step
      auto it = std::lower_bound(t.ops.begin() + static_cast<std::ptrdiff_t>(first),
                                 t.ops.begin() + static_cast<std::ptrdiff_t>(first + i), id,
                                 [](const trace::Op& o, std::uint64_t v) { return o.id < v; });
      if (it != t.ops.begin() + static_cast<std::ptrdiff_t>(first + i) && it->id == id) {
        boost::add_edge(static_cast<std::size_t>(it - t.ops.begin()) - first, i, w, g);
        has_pred[i] = 1;
      }
    }
    if (!has_pred[i]) boost::add_edge(source, i, w, g);
  }
  std::vector<std::int64_t> dist(n + 1);
  std::vector<std::size_t> pred(n + 1);
  for (std::size_t i = 0; i <= n; ++i) pred[i] = i;
  boost::dag_shortest_paths(
      g, source,
      boost::distance_map(dist.data())
          .predecessor_map(pred.data())
          .distance_compare(std::greater<std::int64_t>())
          .distance_inf(std::numeric_limits<std::int64_t>::min())
          .distance_zero(std::int64_t{0}));
  std::size_t end = 0;
  for (std::size_t i = 1; i < n; ++i)
    if (dist[i] > dist[end]) end = i;
  cp.length_ns = dist[end];
  for (std::size_t v = end; v != source; v = pred[v]) {
    cp.ops.push_back(static_cast<std::uint32_t>(first + v));
    cp.ns_by_class[static_cast<std::size_t>(op_class(t.ops[first + v]))] += weight(v);
    if (pred[v] == v) break;
  }
  std::reverse(cp.ops.begin(), cp.ops.end());
  return cp;
}

}  // namespace foresight::sim

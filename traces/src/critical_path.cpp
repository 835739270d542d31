// Step spans and step critical paths (see trace/critical_path.hpp).
#include "foresight/trace/critical_path.hpp"

#include <algorithm>
#include <limits>

namespace foresight::trace {

OpClass op_class(const Op& op) {
  switch (op.kind) {
    case OpKind::compute:
    case OpKind::d2d: return OpClass::compute;
    case OpKind::h2d:
    case OpKind::d2h:
      return op.engine == Engine::cpu_memcpy ? OpClass::host : OpClass::pcie;
    case OpKind::host: return OpClass::host;
    case OpKind::wait: return OpClass::wait;
  }
  return OpClass::compute;
}

std::vector<StepSpan> step_spans(const std::vector<Op>& ops,
                                        std::span<const std::int64_t> start_ns,
                                        std::span<const std::int64_t> end_ns) {
  std::vector<StepSpan> spans;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const Op& op = ops[i];
    auto it = std::find_if(spans.rbegin(), spans.rend(), [&](const StepSpan& s) {
      return s.phase == op.phase && s.step == op.step;
    });
    if (it == spans.rend()) {
      spans.push_back({op.phase, op.step, start_ns[i], end_ns[i]});
    } else {
      it->start_ns = std::min(it->start_ns, start_ns[i]);
      it->end_ns = std::max(it->end_ns, end_ns[i]);
    }
  }
  std::stable_sort(spans.begin(), spans.end(), [](const auto& a, const auto& b) {
    if (a.phase != b.phase) return a.phase < b.phase;
    return a.step < b.step;
  });
  return spans;
}

SpanPlan plan_spans(const std::vector<Op>& ops) {
  // Spans in (phase, step) order, as step_spans sorts them; ops in index order within each.
  std::vector<std::uint32_t> order(ops.size());
  for (std::size_t i = 0; i < ops.size(); ++i) order[i] = static_cast<std::uint32_t>(i);
  std::stable_sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
    if (ops[a].phase != ops[b].phase) return ops[a].phase < ops[b].phase;
    return ops[a].step < ops[b].step;
  });
  SpanPlan p;
  p.ops = std::move(order);
  for (std::size_t k = 0; k < p.ops.size(); ++k) {
    const Op& op = ops[p.ops[k]];
    if (p.spans.empty() || p.spans.back().phase != op.phase || p.spans.back().step != op.step) {
      p.spans.push_back({op.phase, op.step, 0, 0});
      p.begin.push_back(static_cast<std::uint32_t>(k));
    }
  }
  p.begin.push_back(static_cast<std::uint32_t>(p.ops.size()));
  return p;
}

void step_spans(const SpanPlan& plan, std::span<const std::int64_t> start_ns,
                std::span<const std::int64_t> end_ns, std::vector<StepSpan>& out) {
  out = plan.spans;
  for (std::size_t s = 0; s < out.size(); ++s) {
    std::int64_t lo = start_ns[plan.ops[plan.begin[s]]], hi = end_ns[plan.ops[plan.begin[s]]];
    for (std::uint32_t k = plan.begin[s] + 1; k < plan.begin[s + 1]; ++k) {
      lo = std::min(lo, start_ns[plan.ops[k]]);
      hi = std::max(hi, end_ns[plan.ops[k]]);
    }
    out[s].start_ns = lo;
    out[s].end_ns = hi;
  }
}

std::vector<StepSpan> step_spans(const Trace& t) {
  std::vector<std::int64_t> start(t.ops.size()), end(t.ops.size());
  for (std::size_t i = 0; i < t.ops.size(); ++i) {
    start[i] = t.ops[i].start_ns;
    end[i] = t.ops[i].end_ns;
  }
  return step_spans(t.ops, start, end);
}

void StepDag::clear() {
  stream.clear();
  weight_ns.clear();
  cls.clear();
  dep_begin.assign(1, 0);
  deps.clear();
}

void step_dag(const Trace& t, std::size_t first, std::size_t last, StepDag& g) {
  g.clear();
  g.stream_count = static_cast<std::uint32_t>(t.streams.size());
  const auto begin = t.ops.begin() + static_cast<std::ptrdiff_t>(first);
  for (std::size_t i = first; i <= last; ++i) {
    const Op& op = t.ops[i];
    g.stream.push_back(op.stream);
    g.cls.push_back(op_class(op));
    for (std::uint32_t k = 0; k < op.dep_count; ++k) {
      const std::uint64_t id = t.deps[op.dep_offset + k];
      if (id < t.ops[first].id || id >= op.id) continue;  // outside this step
      const auto end = t.ops.begin() + static_cast<std::ptrdiff_t>(i);
      auto it = std::lower_bound(begin, end, id,
                                 [](const Op& o, std::uint64_t v) { return o.id < v; });
      if (it != end && it->id == id) g.deps.push_back(static_cast<std::uint32_t>(it - begin));
    }
    g.dep_begin.push_back(static_cast<std::uint32_t>(g.deps.size()));
  }
}

CriticalPath critical_path(const Trace& t, std::size_t first, std::size_t last) {
  CriticalPath cp;
  if (first > last || last >= t.ops.size()) return cp;
  StepDag g;
  step_dag(t, first, last, g);
  for (std::size_t i = first; i <= last; ++i) {
    const Op& op = t.ops[i];
    g.weight_ns.push_back(op.kind == OpKind::wait ? 0 : op.end_ns - op.start_ns);
  }
  CriticalPathScratch scratch;
  cp = critical_path(g, scratch);
  for (auto& v : cp.ops) v += static_cast<std::uint32_t>(first);
  return cp;
}

namespace {

constexpr std::uint32_t kNoOp = 0xFFFFFFFFu;

// Calls f(u, v) for every edge u -> v of the step graph in the order the
// former Boost adjacency_list received them: per op v, its stream
// predecessor, then its deps, then (without either) the source vertex n.
template <class F>
void for_each_edge(const StepDag& g, std::vector<std::uint32_t>& last, F&& f) {
  const auto n = static_cast<std::uint32_t>(g.size());
  last.assign(g.stream_count, kNoOp);
  for (std::uint32_t v = 0; v < n; ++v) {
    std::uint32_t& prev = last.at(g.stream[v]);
    const bool has_pred = prev != kNoOp || g.dep_begin[v] != g.dep_begin[v + 1];
    if (prev != kNoOp) f(prev, v);
    prev = v;
    for (std::uint32_t k = g.dep_begin[v]; k < g.dep_begin[v + 1]; ++k) f(g.deps[k], v);
    if (!has_pred) f(n, v);
  }
}

// Out-edge lists (CSR, insertion order) over vertices 0..n (n = source).
void build_out_edges(const StepDag& g, StepDagPlan& p, CriticalPathScratch& s) {
  const auto n = static_cast<std::uint32_t>(g.size());
  p.out_head.assign(n + 2, 0);
  for_each_edge(g, s.last_on_stream, [&](std::uint32_t u, std::uint32_t) { ++p.out_head[u + 1]; });
  for (std::uint32_t u = 0; u <= n; ++u) p.out_head[u + 1] += p.out_head[u];
  p.out_adj.resize(p.out_head[n + 1]);
  s.fill.assign(p.out_head.begin(), p.out_head.end() - 1);
  for_each_edge(g, s.last_on_stream,
                [&](std::uint32_t u, std::uint32_t v) { p.out_adj[s.fill[u]++] = v; });
}

// Topological order: the reverse of the depth-first finish order from the
// source, out-edges in list order (what boost::depth_first_visit yields).
void topological_order(StepDagPlan& p, CriticalPathScratch& s) {
  const std::uint32_t source = p.n;
  s.seen.assign(source + 1, 0);
  p.topo.clear();
  s.stack.clear();
  s.stack.emplace_back(source, p.out_head[source]);
  s.seen[source] = 1;
  while (!s.stack.empty()) {
    auto& [u, e] = s.stack.back();
    if (e == p.out_head[u + 1]) {
      p.topo.push_back(u);
      s.stack.pop_back();
      continue;
    }
    const std::uint32_t v = p.out_adj[e++];
    if (!s.seen[v]) {
      s.seen[v] = 1;
      s.stack.emplace_back(v, p.out_head[v]);
    }
  }
  std::reverse(p.topo.begin(), p.topo.end());
}

// Longest distances (ns) and predecessors, relaxing in topological order with
// a strict comparison, as boost::dag_shortest_paths does.
void longest_paths(const StepDagPlan& p, std::span<const std::int64_t> w, CriticalPathScratch& s) {
  constexpr std::int64_t kInf = std::numeric_limits<std::int64_t>::min();
  const std::uint32_t source = p.n;
  s.dist.assign(source + 1, kInf);
  s.pred.resize(source + 1);
  for (std::uint32_t v = 0; v <= source; ++v) s.pred[v] = v;
  s.dist[source] = 0;
  for (const std::uint32_t u : p.topo) {
    const std::int64_t du = s.dist[u];
    if (du == kInf) continue;
    for (std::uint32_t e = p.out_head[u]; e < p.out_head[u + 1]; ++e) {
      const std::uint32_t v = p.out_adj[e];
      const std::int64_t d = du + w[v];
      if (d > s.dist[v]) {
        s.dist[v] = d;
        s.pred[v] = u;
      }
    }
  }
}

}  // namespace

void plan_step_dag(const StepDag& g, StepDagPlan& plan, CriticalPathScratch& scratch) {
  plan.n = static_cast<std::uint32_t>(g.size());
  plan.cls = g.cls;
  build_out_edges(g, plan, scratch);
  topological_order(plan, scratch);
}

CriticalPath critical_path(const StepDag& g, CriticalPathScratch& s) {
  StepDagPlan plan;
  plan_step_dag(g, plan, s);
  return critical_path(plan, g.weight_ns, s);
}

namespace {
// The op where the longest path ends (the first of the longest), after longest_paths.
std::uint32_t path_end(std::uint32_t n, const CriticalPathScratch& s) {
  std::uint32_t end = 0;
  for (std::uint32_t i = 1; i < n; ++i)
    if (s.dist[i] > s.dist[end]) end = i;
  return end;
}
}  // namespace

PathTotals critical_path_totals(const StepDagPlan& p, std::span<const std::int64_t> w,
                                CriticalPathScratch& s) {
  PathTotals t;
  const std::uint32_t n = p.n;
  if (n == 0) return t;
  longest_paths(p, w, s);
  const std::uint32_t end = path_end(n, s);
  t.length_ns = s.dist[end];
  for (std::uint32_t v = end; v != n; v = s.pred[v]) {
    t.ns_by_class[static_cast<std::size_t>(p.cls[v])] += w[v];
    if (s.pred[v] == v) break;
  }
  return t;
}

CriticalPath critical_path(const StepDagPlan& p, std::span<const std::int64_t> w,
                           CriticalPathScratch& s) {
  CriticalPath cp;
  const std::uint32_t n = p.n;
  if (n == 0) return cp;
  longest_paths(p, w, s);
  const std::uint32_t end = path_end(n, s);
  cp.length_ns = s.dist[end];
  for (std::uint32_t v = end; v != n; v = s.pred[v]) {
    cp.ops.push_back(v);
    cp.ns_by_class[static_cast<std::size_t>(p.cls[v])] += w[v];
    if (s.pred[v] == v) break;
  }
  std::reverse(cp.ops.begin(), cp.ops.end());
  return cp;
}

}  // namespace foresight::trace

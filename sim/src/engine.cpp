// Discrete-event core: a binary heap of start/end events ordered by
// (time, priority, sequence). See engine.hpp for the model.
#include "foresight/sim/engine.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

namespace foresight::sim {

namespace {
constexpr std::uint32_t kNone = 0xFFFFFFFFu;
}

SimTimes simulate(const SimGraph& g, const EngineParams& p, std::int64_t t0_ns) {
  Engine e;
  return e.run(g, p, t0_ns);
}

const SimTimes& Engine::run(const SimGraph& g, const EngineParams& p, std::int64_t t0_ns) {
  const std::size_t n = g.ops.size();
  pending_.assign(n, 0);
  next_in_stream_.assign(n, kNone);
  started_.assign(n, 0);
  dep_head_.assign(n + 1, 0);
  times_.start_ns.assign(n, t0_ns);
  times_.end_ns.assign(n, t0_ns);
  times_.events = 0;
  heap_.clear();

  // Prerequisite counts and the dependents CSR (deps + stream successor).
  std::vector<std::uint32_t> last_in_stream(g.stream_count, kNone);
  for (std::uint32_t i = 0; i < n; ++i) {
    const SimOp& op = g.ops[i];
    if (op.stream >= g.stream_count)
      throw std::invalid_argument("sim graph: op " + std::to_string(i) + " names stream " +
                                  std::to_string(op.stream) + " of " +
                                  std::to_string(g.stream_count));
    if (op.duration_ns < 0)
      throw std::invalid_argument("sim graph: op " + std::to_string(i) + " has negative duration");
    if (std::size_t(op.dep_begin) + op.dep_count > g.deps.size())
      throw std::invalid_argument("sim graph: op " + std::to_string(i) + " dep slice out of range");
    for (std::uint32_t k = 0; k < op.dep_count; ++k) {
      std::uint32_t d = g.deps[op.dep_begin + k];
      if (d >= i)
        throw std::invalid_argument("sim graph: op " + std::to_string(i) +
                                    " depends on later op " + std::to_string(d));
      ++dep_head_[d + 1];
    }
    std::uint32_t prev = last_in_stream[op.stream];
    if (prev != kNone) {
      next_in_stream_[prev] = i;
      ++pending_[i];
    }
    last_in_stream[op.stream] = i;
    pending_[i] += op.dep_count;
  }
  for (std::size_t i = 0; i < n; ++i) dep_head_[i + 1] += dep_head_[i];
  dependents_.resize(g.deps.size());
  {
    std::vector<std::uint32_t> fill(dep_head_.begin(), dep_head_.end() - 1);
    for (std::uint32_t i = 0; i < n; ++i) {
      const SimOp& op = g.ops[i];
      for (std::uint32_t k = 0; k < op.dep_count; ++k) dependents_[fill[g.deps[op.dep_begin + k]]++] = i;
    }
  }

  std::uint64_t seq = 0;
  auto later = [](const Event& a, const Event& b) {
    if (a.time != b.time) return a.time > b.time;
    if (a.priority != b.priority) return a.priority > b.priority;
    return a.seq > b.seq;
  };
  auto push = [&](std::int64_t t, std::uint32_t prio, std::uint32_t op) {
    heap_.push_back(Event{t, prio, seq++, op});
    std::push_heap(heap_.begin(), heap_.end(), later);
  };
  // A ready op: waits end at once (their stream already reached them), others start.
  const std::int64_t* lead = g.lead_ns.empty() ? nullptr : g.lead_ns.data();  // validate only
  auto ready = [&](std::int64_t t, std::uint32_t i) {
    if (lead) t += lead[i];
    const SimOp& op = g.ops[i];
    push(t, op.cls == OpClass::wait ? 0 : op.gather_ctas > 0 ? 1 : 2, i);  // gathers take SMs first
  };
  for (std::uint32_t i = 0; i < n; ++i)
    if (pending_[i] == 0) ready(t0_ns, i);

  std::int64_t active_gather_ctas = 0;
  const double slow_per_cta =
      p.sm_count > 0 ? p.gather_compute_slowdown / static_cast<double>(p.sm_count) : 0.0;
  const std::vector<double>* table =
      p.slowdown_by_ctas && !p.slowdown_by_ctas->empty() ? p.slowdown_by_ctas : nullptr;
  std::size_t done = 0;
  while (!heap_.empty()) {
    std::pop_heap(heap_.begin(), heap_.end(), later);
    const Event ev = heap_.back();
    heap_.pop_back();
    ++times_.events;
    const SimOp& op = g.ops[ev.op];
    if (ev.priority != 0) {  // start
      started_[ev.op] = 1;
      times_.start_ns[ev.op] = ev.time;
      std::int64_t dur = op.duration_ns;
      if (op.slowable && active_gather_ctas > 0) {
        const double f = table ? (*table)[std::min<std::size_t>(static_cast<std::size_t>(active_gather_ctas),
                                                                table->size() - 1)]
                               : slow_per_cta * static_cast<double>(active_gather_ctas);
        if (f > 0) dur = std::llround(static_cast<double>(dur) * (1.0 + f));
      }
      active_gather_ctas += op.gather_ctas;
      push(ev.time + dur, 0, ev.op);
      continue;
    }
    // end
    ++done;
    times_.end_ns[ev.op] = ev.time;
    active_gather_ctas -= op.gather_ctas;
    std::uint32_t nxt = next_in_stream_[ev.op];
    if (nxt != kNone) {
      if (g.ops[nxt].cls == OpClass::wait) times_.start_ns[nxt] = ev.time;
      if (--pending_[nxt] == 0) ready(ev.time, nxt);
    }
    for (std::uint32_t k = dep_head_[ev.op]; k < dep_head_[ev.op + 1]; ++k) {
      std::uint32_t d = dependents_[k];
      if (--pending_[d] == 0) ready(ev.time, d);
    }
  }
  if (done != n) throw std::invalid_argument("sim graph: not every op could run (cycle)");
  return times_;
}

}  // namespace foresight::sim

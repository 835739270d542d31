// Discrete-event core: start/end events ordered by (time, priority,
// sequence). See engine.hpp for the model.
//
// The next event to run is often the one just created (an op's stream
// successor starting when it ends, or its own end): the newest smallest event
// waits in a slot beside the heap and is taken from there when it is the
// smallest of all, so it never enters the heap. The order of events is the
// heap's order all the same: every event has a distinct sequence number.
#include "foresight/sim/engine.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "foresight/sim/rounding.hpp"

namespace foresight::sim {

namespace {
constexpr std::uint32_t kNone = 0xFFFFFFFFu;
// An op has at most two events, so sequence numbers of graphs below this fit
// the 30 bits Event::key gives them.
constexpr std::size_t kMaxOps = std::size_t{1} << 29;

[[noreturn]] void bad_op(std::size_t i, const std::string& what) {
  throw std::invalid_argument("sim graph: op " + std::to_string(i) + " " + what);
}
}  // namespace

SimTimes simulate(const SimGraph& g, const EngineParams& p, std::int64_t t0_ns) {
  Engine e;
  return e.run(g, p, t0_ns);
}

const SimTimes& Engine::run(const SimGraph& g, const EngineParams& p, std::int64_t t0_ns) {
  plan(g);
  return run_planned(g, p, t0_ns);
}

void Engine::plan(const SimGraph& g) {
  const std::size_t n = g.ops.size();
  pending0_.clear();  // unplanned until the end
  if (n >= kMaxOps) throw std::invalid_argument("sim graph: " + std::to_string(n) + " ops, more than the engine takes");
  std::vector<std::uint32_t> pending(n, 0);
  next_in_stream_.assign(n, kNone);
  dep_head_.assign(n + 1, 0);
  // Prerequisite counts and the dependents CSR (deps + stream successor).
  std::vector<std::uint32_t> last_in_stream(g.stream_count, kNone);
  for (std::uint32_t i = 0; i < n; ++i) {
    const SimOp& op = g.ops[i];
    if (op.stream >= g.stream_count)
      bad_op(i, "names stream " + std::to_string(op.stream) + " of " + std::to_string(g.stream_count));
    if (op.duration_ns < 0) bad_op(i, "has negative duration");
    if (std::size_t(op.dep_begin) + op.dep_count > g.deps.size()) bad_op(i, "dep slice out of range");
    for (std::uint32_t k = 0; k < op.dep_count; ++k) {
      std::uint32_t d = g.deps[op.dep_begin + k];
      if (d >= i) bad_op(i, "depends on later op " + std::to_string(d));
      ++dep_head_[d + 1];
    }
    std::uint32_t prev = last_in_stream[op.stream];
    if (prev != kNone) {
      next_in_stream_[prev] = i;
      ++pending[i];
    }
    last_in_stream[op.stream] = i;
    pending[i] += op.dep_count;
  }
  for (std::size_t i = 0; i < n; ++i) dep_head_[i + 1] += dep_head_[i];
  dependents_.resize(g.deps.size());
  std::vector<std::uint32_t> fill(dep_head_.begin(), dep_head_.end() - 1);
  for (std::uint32_t i = 0; i < n; ++i) {
    const SimOp& op = g.ops[i];
    for (std::uint32_t k = 0; k < op.dep_count; ++k) dependents_[fill[g.deps[op.dep_begin + k]]++] = i;
  }
  roots_.clear();
  for (std::uint32_t i = 0; i < n; ++i)
    if (pending[i] == 0) roots_.push_back(i);
  pending0_ = std::move(pending);
}

const SimTimes& Engine::run_planned(const SimGraph& g, const EngineParams& p, std::int64_t t0_ns) {
  const std::size_t n = g.ops.size();
  if (n != pending0_.size() || n + 1 != dep_head_.size())
    throw std::invalid_argument("sim graph: not the graph the engine planned");
  for (std::size_t i = 0; i < n; ++i)
    if (g.ops[i].duration_ns < 0) bad_op(i, "has negative duration");
  pending_ = pending0_;
  times_.start_ns.assign(n, t0_ns);
  times_.end_ns.assign(n, t0_ns);
  heap_.clear();

  const auto before = [](const Event& a, const Event& b) {
    return a.time < b.time || (a.time == b.time && a.key < b.key);
  };
  const auto later = [&](const Event& a, const Event& b) { return before(b, a); };  // min-heap
  std::uint64_t seq = 0;
  Event slot{0, 0};
  bool has_slot = false;
  auto push = [&](std::int64_t t, std::uint64_t prio, std::uint32_t op) {
    Event e{t, prio << 62 | seq++ << 32 | op};
    if (!has_slot) {
      slot = e;
      has_slot = true;
      return;
    }
    if (before(e, slot)) std::swap(e, slot);
    heap_.push_back(e);
    std::push_heap(heap_.begin(), heap_.end(), later);
  };
  // A ready op: waits end at once (their stream already reached them), others start.
  const std::int64_t* lead = g.lead_ns.empty() ? nullptr : g.lead_ns.data();  // validate only
  auto ready = [&](std::int64_t t, std::uint32_t i) {
    if (lead) t += lead[i];
    const SimOp& op = g.ops[i];
    push(t, op.cls == OpClass::wait ? 0 : op.gather_ctas > 0 ? 1 : 2, i);  // gathers take SMs first
  };
  for (const std::uint32_t i : roots_) ready(t0_ns, i);

  std::int64_t active_gather_ctas = 0;
  const double slow_per_cta =
      p.sm_count > 0 ? p.gather_compute_slowdown / static_cast<double>(p.sm_count) : 0.0;
  const std::vector<double>* table =
      p.slowdown_by_ctas && !p.slowdown_by_ctas->empty() ? p.slowdown_by_ctas : nullptr;
  std::size_t done = 0;
  std::uint64_t events = 0;
  while (has_slot || !heap_.empty()) {
    Event ev;
    if (has_slot && (heap_.empty() || before(slot, heap_.front()))) {
      ev = slot;
      has_slot = false;
    } else {
      std::pop_heap(heap_.begin(), heap_.end(), later);
      ev = heap_.back();
      heap_.pop_back();
    }
    ++events;
    const auto id = static_cast<std::uint32_t>(ev.key);
    const SimOp& op = g.ops[id];
    if ((ev.key >> 62) != 0) {  // start
      times_.start_ns[id] = ev.time;
      std::int64_t dur = op.duration_ns;
      if (op.slowable && active_gather_ctas > 0) {
        const double f = table ? (*table)[std::min<std::size_t>(static_cast<std::size_t>(active_gather_ctas),
                                                                table->size() - 1)]
                               : slow_per_cta * static_cast<double>(active_gather_ctas);
        if (f > 0) dur = round_half_away(static_cast<double>(dur) * (1.0 + f));
      }
      active_gather_ctas += op.gather_ctas;
      push(ev.time + dur, 0, id);
      continue;
    }
    // end
    ++done;
    times_.end_ns[id] = ev.time;
    active_gather_ctas -= op.gather_ctas;
    const std::uint32_t nxt = next_in_stream_[id];
    if (nxt != kNone) {
      if (g.ops[nxt].cls == OpClass::wait) times_.start_ns[nxt] = ev.time;
      if (--pending_[nxt] == 0) ready(ev.time, nxt);
    }
    for (std::uint32_t k = dep_head_[id]; k < dep_head_[id + 1]; ++k) {
      const std::uint32_t d = dependents_[k];
      if (--pending_[d] == 0) ready(ev.time, d);
    }
  }
  times_.events = events;
  if (done != n) throw std::invalid_argument("sim graph: not every op could run (cycle)");
  return times_;
}

}  // namespace foresight::sim

// Hand-computed cases for the discrete-event engine and the transfer model.
#include <algorithm>
#include <cmath>
#include <random>

#include "catch.hpp"
#include "foresight/sim/cost_model.hpp"
#include "foresight/sim/engine.hpp"
#include "foresight/sim/rounding.hpp"
#include "foresight/sim/timeline.hpp"

using namespace foresight;
using sim::OpClass;
using sim::SimGraph;
using sim::SimOp;

namespace {
// Appends an op on `stream` lasting `ns` with `deps` (op indices).
std::uint32_t add(SimGraph& g, std::uint32_t stream, std::int64_t ns,
                  std::vector<std::uint32_t> deps = {}, OpClass cls = OpClass::compute) {
  SimOp op;
  op.duration_ns = ns;
  op.stream = stream;
  op.cls = cls;
  op.slowable = cls == OpClass::compute;
  op.dep_begin = static_cast<std::uint32_t>(g.deps.size());
  op.dep_count = static_cast<std::uint32_t>(deps.size());
  g.deps.insert(g.deps.end(), deps.begin(), deps.end());
  g.ops.push_back(op);
  return static_cast<std::uint32_t>(g.ops.size() - 1);
}

// The engine as first written (one binary heap of (time, priority, sequence)
// events, no slot beside it): the order the engine must keep.
sim::SimTimes reference_simulate(const SimGraph& g, const sim::EngineParams& p, std::int64_t t0) {
  struct Ev {
    std::int64_t time;
    std::uint32_t prio;
    std::uint64_t seq;
    std::uint32_t op;
  };
  const std::size_t n = g.ops.size();
  std::vector<std::uint32_t> pending(n, 0), next(n, UINT32_MAX), last(g.stream_count, UINT32_MAX);
  std::vector<std::vector<std::uint32_t>> dependents(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    const SimOp& op = g.ops[i];
    for (std::uint32_t k = 0; k < op.dep_count; ++k) dependents[g.deps[op.dep_begin + k]].push_back(i);
    if (last[op.stream] != UINT32_MAX) next[last[op.stream]] = i, ++pending[i];
    last[op.stream] = i;
    pending[i] += op.dep_count;
  }
  sim::SimTimes t{std::vector<std::int64_t>(n, t0), std::vector<std::int64_t>(n, t0), 0};
  std::vector<Ev> heap;
  std::uint64_t seq = 0;
  auto later = [](const Ev& a, const Ev& b) {
    return a.time != b.time ? a.time > b.time : a.prio != b.prio ? a.prio > b.prio : a.seq > b.seq;
  };
  auto ready = [&](std::int64_t at, std::uint32_t i) {
    if (!g.lead_ns.empty()) at += g.lead_ns[i];
    const SimOp& op = g.ops[i];
    heap.push_back({at, op.cls == OpClass::wait ? 0u : op.gather_ctas > 0 ? 1u : 2u, seq++, i});
    std::push_heap(heap.begin(), heap.end(), later);
  };
  for (std::uint32_t i = 0; i < n; ++i)
    if (pending[i] == 0) ready(t0, i);
  std::int64_t active = 0;
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    const Ev ev = heap.back();
    heap.pop_back();
    ++t.events;
    const SimOp& op = g.ops[ev.op];
    if (ev.prio != 0) {
      t.start_ns[ev.op] = ev.time;
      std::int64_t dur = op.duration_ns;
      if (op.slowable && active > 0) {
        const double f = p.slowdown_by_ctas && !p.slowdown_by_ctas->empty()
                             ? (*p.slowdown_by_ctas)[std::min<std::size_t>(static_cast<std::size_t>(active),
                                                                           p.slowdown_by_ctas->size() - 1)]
                             : p.gather_compute_slowdown / static_cast<double>(p.sm_count) * static_cast<double>(active);
        if (f > 0) dur = std::llround(static_cast<double>(dur) * (1.0 + f));
      }
      active += op.gather_ctas;
      heap.push_back({ev.time + dur, 0, seq++, ev.op});
      std::push_heap(heap.begin(), heap.end(), later);
      continue;
    }
    t.end_ns[ev.op] = ev.time;
    active -= op.gather_ctas;
    if (next[ev.op] != UINT32_MAX) {
      if (g.ops[next[ev.op]].cls == OpClass::wait) t.start_ns[next[ev.op]] = ev.time;
      if (--pending[next[ev.op]] == 0) ready(ev.time, next[ev.op]);
    }
    for (auto d : dependents[ev.op])
      if (--pending[d] == 0) ready(ev.time, d);
  }
  return t;
}
}  // namespace

TEST_CASE("one transfer: latency + bytes / bandwidth", "[sim][engine]") {
  config::HardwareConfig hw;
  hw.h2d_latency_us = 2.0;
  hw.h2d_gbps = 50;
  hw.gather_by_ctas_16k.x = {8, 32};
  hw.gather_by_ctas_16k.gbps = {25, 50};
  // 32 CTAs -> 50 GB/s: 2000 ns + 1e6 B / 50 B/ns = 22000 ns.
  const auto ns = sim::transfer_ns(hw, trace::OpKind::h2d, trace::Engine::zero_copy_gather,
                                   1'000'000, 64, 32, 1.0);
  CHECK(ns == 22000);
  // Half the link: 2000 + 40000.
  CHECK(sim::transfer_ns(hw, trace::OpKind::h2d, trace::Engine::zero_copy_gather, 1'000'000, 64,
                         32, 0.5) == 42000);
  // The bulk-copy gather reads its own curve; without one, the link ceiling.
  CHECK(sim::transfer_ns(hw, trace::OpKind::h2d, trace::Engine::bulk_copy_gather, 1'000'000, 64, 4, 1.0) == 22000);
  hw.bulk_gather_by_ctas_16k.x = {1, 4};
  hw.bulk_gather_by_ctas_16k.gbps = {20, 40};
  CHECK(sim::transfer_ns(hw, trace::OpKind::h2d, trace::Engine::bulk_copy_gather, 1'000'000, 64, 1, 1.0) == 52000);
  CHECK(sim::transfer_ns(hw, trace::OpKind::h2d, trace::Engine::bulk_copy_gather, 1'000'000, 64, 4, 1.0) == 27000);
  SimGraph g;
  g.stream_count = 1;
  add(g, 0, ns, {}, OpClass::pcie);
  const auto t = sim::simulate(g, {}, 1000);
  CHECK(t.start_ns[0] == 1000);
  CHECK(t.end_ns[0] == 23000);
  CHECK(t.events == 2);
}

TEST_CASE("two streams overlap; one stream runs in order", "[sim][engine]") {
  SimGraph g;
  g.stream_count = 2;
  add(g, 0, 100);  // A
  add(g, 0, 50);   // B after A
  add(g, 1, 120);  // C beside them
  const auto t = sim::simulate(g, {});
  CHECK(t.start_ns == std::vector<std::int64_t>{0, 100, 0});
  CHECK(t.end_ns == std::vector<std::int64_t>{100, 150, 120});
}

TEST_CASE("a wait on another stream's event blocks until it ends", "[sim][engine]") {
  for (std::int64_t x_ns : {250, 50}) {
    SimGraph g;
    g.stream_count = 2;
    auto x = add(g, 1, x_ns);                        // transfer on the side stream
    add(g, 0, 100);                                  // A on main
    auto w = add(g, 0, 0, {x}, OpClass::wait);       // main waits for x
    auto b = add(g, 0, 30);                          // B after the wait
    const auto t = sim::simulate(g, {});
    CHECK(t.start_ns[w] == 100);                     // main reached the wait after A
    CHECK(t.end_ns[w] == std::max<std::int64_t>(100, x_ns));
    CHECK(t.start_ns[b] == std::max<std::int64_t>(100, x_ns));
    CHECK(t.end_ns[b] == std::max<std::int64_t>(100, x_ns) + 30);
  }
}

TEST_CASE("a gather holding SMs slows compute that starts during it", "[sim][engine]") {
  SimGraph g;
  g.stream_count = 2;
  auto gather = add(g, 1, 1000, {}, OpClass::pcie);
  g.ops[gather].gather_ctas = 66;
  auto c = add(g, 0, 100);
  auto after = add(g, 0, 100, {gather});
  const auto t = sim::simulate(g, {0.5, 132});
  // 1 + 0.5 * 66/132 = 1.25.
  CHECK(t.end_ns[c] - t.start_ns[c] == 125);
  CHECK(t.start_ns[after] == 1000);
  CHECK(t.end_ns[after] - t.start_ns[after] == 100);  // gather already ended
}

TEST_CASE("malformed graphs are rejected", "[sim][engine]") {
  SimGraph g;
  g.stream_count = 1;
  add(g, 0, 10, {1});
  add(g, 0, 10);
  CHECK_THROWS_WITH(sim::simulate(g, {}), Catch::Contains("depends on later op"));
  SimGraph h;
  h.stream_count = 1;
  add(h, 3, 10);
  CHECK_THROWS_WITH(sim::simulate(h, {}), Catch::Contains("names stream 3"));
  SimGraph k;
  k.stream_count = 1;
  add(k, 0, -5);
  CHECK_THROWS_WITH(sim::simulate(k, {}), Catch::Contains("negative duration"));
}

TEST_CASE("round_half_away is llround", "[sim][engine]") {
  std::vector<double> xs = {0.0, 0.5, -0.5, 1.5, 2.5, -2.5, 0.49999999999999994, -0.49999999999999994,
                            4503599627370495.5, 4503599627370497.0, 9007199254740993.0, 1e18, -1e18,
                            123456.49999999999, 123456.5000000001};
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(-1e7, 1e7);
  for (int i = 0; i < 100000; ++i) xs.push_back(u(rng));
  for (int i = 0; i < 1000; ++i) xs.push_back(std::floor(u(rng)) + 0.5);
  for (const double x : xs) CHECK(sim::round_half_away(x) == std::llround(x));
}

TEST_CASE("a planned engine re-times a graph as a fresh one and the plain heap do", "[sim][engine]") {
  // Random graphs: 3 streams, random deps, gathers holding SMs, waits, zero
  // durations (ties at one instant); each re-timed run equals simulate().
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 50; ++trial) {
    SimGraph g;
    g.stream_count = 3;
    const int n = 5 + static_cast<int>(rng() % 60);
    for (int i = 0; i < n; ++i) {
      std::vector<std::uint32_t> deps;
      for (int k = 0; i > 0 && k < static_cast<int>(rng() % 3); ++k) deps.push_back(static_cast<std::uint32_t>(rng() % i));
      const auto stream = static_cast<std::uint32_t>(rng() % 3);
      const bool wait = stream == 0 && !deps.empty() && rng() % 4 == 0;
      add(g, stream, static_cast<std::int64_t>(rng() % 5) * 10, deps, wait ? OpClass::wait : OpClass::compute);
      if (stream == 2) g.ops.back().gather_ctas = static_cast<std::uint16_t>(8 + rng() % 60);
    }
    sim::Engine e;
    e.plan(g);
    for (int rep = 0; rep < 4; ++rep) {
      for (auto& op : g.ops) op.duration_ns = static_cast<std::int64_t>(rng() % 5) * 10;
      const std::vector<double> table = {0.0, 0.1, 0.3};
      const sim::EngineParams p{0.5, 132, rep % 2 ? &table : nullptr};
      const auto fresh = sim::simulate(g, p, 7);
      const auto& planned = e.run_planned(g, p, 7);
      const auto ref = reference_simulate(g, p, 7);
      CHECK(planned.start_ns == fresh.start_ns);
      CHECK(planned.end_ns == fresh.end_ns);
      CHECK(planned.events == fresh.events);
      CHECK(fresh.start_ns == ref.start_ns);
      CHECK(fresh.end_ns == ref.end_ns);
      CHECK(fresh.events == ref.events);
    }
  }
}

TEST_CASE("critical path follows the transfer a wait blocked on", "[sim][engine]") {
  trace::Trace t;
  t.streams = {{"main", trace::StreamKind::compute}, {"side", trace::StreamKind::copy}};
  t.stages = {"x"};
  auto push = [&](trace::OpKind kind, std::uint8_t stream, std::int64_t s, std::int64_t e,
                  std::vector<std::uint64_t> deps) {
    trace::Op op;
    op.id = t.ops.size();
    op.kind = kind;
    op.stream = stream;
    op.start_ns = s;
    op.end_ns = e;
    op.dep_offset = t.deps.size();
    op.dep_count = static_cast<std::uint32_t>(deps.size());
    t.deps.insert(t.deps.end(), deps.begin(), deps.end());
    t.ops.push_back(op);
  };
  push(trace::OpKind::compute, 0, 0, 10, {});        // 0: ready
  push(trace::OpKind::h2d, 1, 10, 110, {0});         // 1: transfer
  push(trace::OpKind::compute, 0, 10, 40, {});       // 2: other compute
  push(trace::OpKind::wait, 0, 40, 110, {1});        // 3: wait
  push(trace::OpKind::compute, 0, 110, 130, {});     // 4: attention
  const auto cp = sim::critical_path(t, 0, 4);
  CHECK(cp.length_ns == 130);
  CHECK(cp.ops == std::vector<std::uint32_t>{0, 1, 3, 4});
  CHECK(cp.ns_by_class[static_cast<int>(OpClass::pcie)] == 100);
  CHECK(cp.ns_by_class[static_cast<int>(OpClass::compute)] == 30);
}

// Hand-computed cases for the discrete-event engine and the transfer model.
#include "catch.hpp"
#include "foresight/sim/cost_model.hpp"
#include "foresight/sim/engine.hpp"
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

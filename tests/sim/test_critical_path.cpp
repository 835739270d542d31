// The flat-array critical path agrees with a Boost.Graph reference (the
// simulator's former implementation), ties included, on random step graphs.
#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <random>

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/dag_shortest_paths.hpp>

#include "catch.hpp"
#include "foresight/sim/metrics.hpp"
#include "foresight/sim/timeline.hpp"
#include "foresight/trace/metrics.hpp"
#include "sim_fixtures.hpp"

using namespace foresight;

namespace {

// Longest path of ops first..last of `t` with boost::dag_shortest_paths.
sim::CriticalPath boost_reference(const trace::Trace& t, std::size_t first, std::size_t last) {
  using Graph = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS, boost::no_property,
                                      boost::property<boost::edge_weight_t, std::int64_t>>;
  sim::CriticalPath cp;
  const std::size_t n = last - first + 1, source = n;
  Graph g(n + 1);
  auto weight = [&](std::size_t i) {
    const trace::Op& op = t.ops[first + i];
    return op.kind == trace::OpKind::wait ? std::int64_t{0} : op.end_ns - op.start_ns;
  };
  std::vector<std::size_t> last_on_stream(t.streams.size(), n);
  for (std::size_t i = 0; i < n; ++i) {
    const trace::Op& op = t.ops[first + i];
    bool has_pred = false;
    std::size_t& prev = last_on_stream[op.stream];
    if (prev != n) boost::add_edge(prev, i, weight(i), g), has_pred = true;
    prev = i;
    for (std::uint32_t k = 0; k < op.dep_count; ++k) {
      const std::uint64_t id = t.deps[op.dep_offset + k];
      if (id < t.ops[first].id || id >= op.id) continue;
      boost::add_edge(static_cast<std::size_t>(id - t.ops[first].id), i, weight(i), g);
      has_pred = true;
    }
    if (!has_pred) boost::add_edge(source, i, weight(i), g);
  }
  std::vector<std::int64_t> dist(n + 1);
  std::vector<std::size_t> pred(n + 1);
  boost::dag_shortest_paths(g, source,
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
    cp.ns_by_class[static_cast<std::size_t>(sim::op_class(t.ops[first + v]))] += weight(v);
    if (pred[v] == v) break;
  }
  std::reverse(cp.ops.begin(), cp.ops.end());
  return cp;
}

// Random trace of `n` ops on 3 streams; durations from a tiny set so that
// equally long paths (ties) are common.
trace::Trace random_trace(std::mt19937& rng, std::size_t n) {
  trace::Trace t;
  t.streams = {{"host", trace::StreamKind::host},
               {"main", trace::StreamKind::compute},
               {"side", trace::StreamKind::copy}};
  t.stages = {"x"};
  const trace::OpKind kinds[] = {trace::OpKind::compute, trace::OpKind::h2d, trace::OpKind::wait,
                                 trace::OpKind::host};
  for (std::size_t i = 0; i < n; ++i) {
    trace::Op op;
    op.id = i + 100;
    op.stream = static_cast<std::uint8_t>(rng() % 3);
    op.kind = kinds[rng() % 4];
    op.end_ns = static_cast<std::int64_t>(rng() % 3) * 10;
    op.dep_offset = t.deps.size();
    const std::size_t deps = i ? rng() % 3 : 0;
    for (std::size_t k = 0; k < deps; ++k) t.deps.push_back(100 + rng() % i);
    if (i && rng() % 8 == 0) t.deps.push_back(5);  // outside the step (id < 100)
    op.dep_count = static_cast<std::uint32_t>(t.deps.size() - op.dep_offset);
    t.ops.push_back(op);
  }
  return t;
}

}  // namespace

TEST_CASE("flat critical path equals the Boost.Graph reference", "[sim][engine]") {
  std::mt19937 rng(12);
  for (int rep = 0; rep < 500; ++rep) {
    const trace::Trace t = random_trace(rng, 1 + rng() % 40);
    const std::size_t first = rng() % t.ops.size();
    const auto want = boost_reference(t, first, t.ops.size() - 1);
    const auto got = sim::critical_path(t, first, t.ops.size() - 1);
    INFO("rep " << rep);
    CHECK(got.length_ns == want.length_ns);
    CHECK(got.ops == want.ops);
    CHECK(got.ns_by_class == want.ns_by_class);
  }
}

TEST_CASE("path totals equal the critical path's", "[sim][engine]") {
  std::mt19937 rng(13);
  sim::CriticalPathScratch scratch;
  for (int rep = 0; rep < 200; ++rep) {
    const trace::Trace t = random_trace(rng, 1 + rng() % 40);
    trace::StepDag g;
    trace::step_dag(t, 0, t.ops.size() - 1, g);
    trace::StepDagPlan plan;
    trace::plan_step_dag(g, plan, scratch);
    std::vector<std::int64_t> w;
    for (const auto& op : t.ops) w.push_back(op.kind == trace::OpKind::wait ? 0 : op.end_ns - op.start_ns);
    const auto want = sim::critical_path(t, 0, t.ops.size() - 1);
    const auto got = trace::critical_path_totals(plan, w, scratch);
    CHECK(got.length_ns == want.length_ns);
    CHECK(got.ns_by_class == want.ns_by_class);
  }
}

TEST_CASE("metrics through a layout plan equal metrics read op by op", "[sim][metrics]") {
  for (const auto mode : config::kAllModes) {
    const trace::Trace t = sim::synthesize(testing::tiny_synth(mode));
    const trace::LayoutPlan plan = trace::plan_layout(t);
    std::vector<std::int64_t> start, end;
    std::vector<std::uint64_t> bytes;
    for (const auto& op : t.ops) {
      start.push_back(op.start_ns);
      end.push_back(op.end_ns);
      bytes.push_back(op.bytes);
    }
    std::vector<trace::StepSpan> spans;
    trace::step_spans(plan.spans, start, end, spans);
    const auto want_spans = trace::step_spans(t);
    REQUIRE(spans.size() == want_spans.size());
    for (std::size_t i = 0; i < spans.size(); ++i) {
      CHECK(spans[i].phase == want_spans[i].phase);
      CHECK(spans[i].step == want_spans[i].step);
      CHECK(spans[i].start_ns == want_spans[i].start_ns);
      CHECK(spans[i].end_ns == want_spans[i].end_ns);
    }
    trace::TimedRun r;
    r.layout = &t;
    r.start_ns = start;
    r.end_ns = end;
    r.bytes = bytes;
    r.steps = spans;
    r.cache = t.cache;
    r.batch = t.header.run.batch;
    r.decode_steps = t.header.run.decode_steps;
    r.warmup_steps = t.header.run.warmup_steps;
    r.context_tokens = t.header.run.context_tokens;
    r.plan = &plan;
    const trace::MemoryUse mem{1, 2, true};
    const trace::Metrics got = trace::compute_metrics(r, mem), want = trace::compute_metrics(t, mem);
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < got.size(); ++i) {
      INFO(got[i].first);
      CHECK(got[i].first == want[i].first);
      CHECK((got[i].second == want[i].second || (std::isnan(got[i].second) && std::isnan(want[i].second))));
    }
  }
}

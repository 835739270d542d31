// The plan search on hand-built points and on a fake evaluator.
#include <cmath>
#include <set>
#include <string>

#include "catch.hpp"
#include "fake_evaluator.hpp"
#include "foresight/report/plan.hpp"
#include "foresight/report/render.hpp"
#include "foresight/report/search.hpp"

using namespace foresight::report;

namespace {
bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

Point pt(std::int64_t batch, double tps, double tpot, bool fits, std::int64_t gpu_bytes = 100) {
  Point p;
  p.scenario.batch = batch;
  p.metrics.tokens_per_s = tps;
  p.metrics.tpot_p50_ms = p.metrics.tpot_p99_ms = tpot;
  p.metrics.fits = fits;
  p.metrics.gpu_parts = {{"all", gpu_bytes}};
  p.metrics.gpu_capacity_bytes = 1000;
  return p;
}

// A: b1 100 tok/s 10 ms; B: b2 180 @ 12; C: b4 150 @ 14 (dominated by B);
// D: b8 300 @ 30; E: b16 500 @ 60 out of memory; F: copy of D (later);
// G: b4 180 @ 12 like B but smaller on the GPU.
std::vector<Point> hand_points() {
  return {pt(1, 100, 10, true), pt(2, 180, 12, true), pt(4, 150, 14, true), pt(8, 300, 30, true),
          pt(16, 500, 60, false), pt(8, 300, 30, true), pt(4, 180, 12, true, 50)};
}
}  // namespace

TEST_CASE("largest feasible batch ignores points out of memory") {
  auto pts = hand_points();
  REQUIRE(largest_feasible_batch(pts) == std::optional<std::size_t>(3));  // D, not E or F
  pts[3].metrics.fits = pts[5].metrics.fits = false;
  REQUIRE(largest_feasible_batch(pts) == std::optional<std::size_t>(6));  // G beats C: more tok/s
  for (auto& p : pts) p.metrics.fits = false;
  REQUIRE_FALSE(largest_feasible_batch(pts).has_value());
}

TEST_CASE("best within the latency target") {
  const auto pts = hand_points();
  REQUIRE(best_within_slo(pts, 20) == std::optional<std::size_t>(6));  // B/G tie: G is smaller
  REQUIRE(best_within_slo(pts, 50) == std::optional<std::size_t>(3));  // D; E does not fit
  REQUIRE(best_within_slo(pts, 100) == std::optional<std::size_t>(3));
  REQUIRE(best_within_slo(pts, 10) == std::optional<std::size_t>(0));  // target inclusive
  REQUIRE_FALSE(best_within_slo(pts, 9.9).has_value());
}

TEST_CASE("Pareto frontier keeps only non-dominated feasible points") {
  const auto pts = hand_points();
  REQUIRE(pareto_frontier(pts) == std::vector<std::size_t>{0, 1, 3});
  // Brute-force property on a grid: nothing on the frontier is dominated and
  // every point off it is dominated or equal to one on it.
  std::vector<Point> grid;
  for (int i = 0; i < 40; ++i)
    grid.push_back(pt(i, (i * 37) % 23 + 1, (i * 11) % 17 + 1, i % 5 != 0));
  const auto f = pareto_frontier(grid);
  const std::set<std::size_t> on(f.begin(), f.end());
  for (std::size_t i = 0; i < grid.size(); ++i) {
    if (!grid[i].metrics.fits) { REQUIRE(on.count(i) == 0); continue; }
    bool dominated_or_tied = false;
    for (std::size_t j : f)
      if (j != i && grid[j].metrics.tokens_per_s >= grid[i].metrics.tokens_per_s &&
          grid[j].metrics.tpot_p99_ms <= grid[i].metrics.tpot_p99_ms)
        dominated_or_tied = true;
    REQUIRE(dominated_or_tied == (on.count(i) == 0));
  }
  for (std::size_t k = 1; k < f.size(); ++k) {
    REQUIRE(grid[f[k]].metrics.tpot_p99_ms > grid[f[k - 1]].metrics.tpot_p99_ms);
    REQUIRE(grid[f[k]].metrics.tokens_per_s > grid[f[k - 1]].metrics.tokens_per_s);
  }
}

TEST_CASE("limit explanation names memory or the latency target") {
  auto pts = hand_points();
  pts.resize(5);  // A..E
  pts[4].metrics.gpu_parts = {{"all", 2000}};
  REQUIRE(contains(limit_explanation(pts, 3, 100), "GPU memory"));
  pts[4].metrics.fits = true;
  pts[4].metrics.gpu_parts = {{"all", 100}};
  REQUIRE(contains(limit_explanation(pts, 3, 50), "latency target"));
  REQUIRE(contains(limit_explanation(pts, 4, 100), "largest batch searched"));
}

TEST_CASE("run_plan on the fake evaluator gives the hand-computed answers") {
  foresight::test::FakeEvaluator ev;
  PlanRequest req;
  req.hardware = {"gpu"};
  req.modes = {foresight::config::Mode::dense, foresight::config::Mode::sparda};
  req.contexts = {4096};
  req.batches = {1, 2, 4, 8, 16};
  req.slo_tpot_ms = 15;
  req.cache_factors = {1, 2};
  req.gather_ctas = {8, 16};
  req.pcie_factors = {0.5, 1};
  req.reuse = {0.5};
  req.threads = 3;
  std::size_t last = 0, total_seen = 0;
  bool monotonic = true;
  const Plan plan = run_plan(req, ev, [&](std::size_t d, std::size_t t, const std::string&) {
    monotonic = monotonic && d >= last;
    last = d;
    total_seen = t;
  });
  REQUIRE(monotonic);
  REQUIRE(last == total_seen);
  // dense: 5 batches; sparda: 5 x 2 caches (97, 194) x 2 CTAs; + 2 PCIe + 1 reuse.
  REQUIRE(static_cast<std::size_t>(ev.calls.load()) == 5 + 20 + 2 + 1);
  REQUIRE(total_seen == 28);
  REQUIRE(plan.cells.size() == 2);
  const auto& dense = plan.cells[0];
  REQUIRE(dense.grid[*dense.largest_feasible].scenario.batch == 4);  // batch 8 needs 90 GiB
  REQUIRE(dense.grid[*dense.best].scenario.batch == 2);               // 14 ms; batch 4 is 18 ms
  REQUIRE(dense.by_batch.size() == 5);
  const auto& sparda = plan.cells[1];
  // sparda, batch 4, cache 194, 16 CTAs: 18 + 1 - 1 = 18 ms > 15; batch 2, cache 194,
  // 16 CTAs: 14 + 1 - 1 = 14 ms -> 142.9 tok/s, the best within 15 ms.
  const auto& b = sparda.grid[*sparda.best].scenario;
  REQUIRE(b.batch == 2);
  REQUIRE(b.cache_blocks == 194);
  REQUIRE(b.gather_ctas == 16);
  REQUIRE(sparda.by_cache.size() == 2);
  REQUIRE(sparda.by_pcie.size() == 2);
  REQUIRE(std::abs(sparda.by_pcie[0].scenario.pcie_gbps.value() - 25) < 1e-9);
  // Recommendation: sparda (142.9 tok/s) beats dense (142.9 at 14 ms too: tie on
  // tok/s, sparda uses more GPU memory), so dense wins the tie.
  REQUIRE(plan.recommendations.size() == 1);
  REQUIRE(plan.recommendations[0].choice->scenario.mode == foresight::config::Mode::dense);
  REQUIRE(contains(plan.recommendations[0].sentence, "batch 2"));
}

TEST_CASE("run_plan is deterministic whatever the thread count") {
  foresight::test::FakeEvaluator ev;
  PlanRequest req;
  req.hardware = {"gpu"};
  req.contexts = {4096, 8192};
  req.batches = {1, 2, 4, 8};
  req.threads = 1;
  const auto one = plan_to_json(run_plan(req, ev)).dump();
  req.threads = 4;
  REQUIRE(plan_to_json(run_plan(req, ev)).dump() == one);
}

TEST_CASE("cache slots round to whole blocks and never go below top-k + 1") {
  REQUIRE(cache_slots(1, 96) == 97);
  REQUIRE(cache_slots(1.5, 96) == 146);
  REQUIRE(cache_slots(0.5, 96) == 97);
}

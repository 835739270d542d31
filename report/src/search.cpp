// Search over evaluated plan points (see search.hpp).
#include "foresight/report/search.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/core.h>

namespace foresight::report {

std::optional<std::size_t> largest_feasible_batch(const std::vector<Point>& points) {
  std::optional<std::size_t> best;
  for (std::size_t i = 0; i < points.size(); ++i) {
    const auto& p = points[i];
    if (!p.metrics.fits) continue;
    if (!best) { best = i; continue; }
    const auto& b = points[*best];
    if (p.scenario.batch > b.scenario.batch ||
        (p.scenario.batch == b.scenario.batch && p.metrics.tokens_per_s > b.metrics.tokens_per_s))
      best = i;
  }
  return best;
}

std::optional<std::size_t> best_within_slo(const std::vector<Point>& points, double slo_ms) {
  std::optional<std::size_t> best;
  for (std::size_t i = 0; i < points.size(); ++i) {
    const auto& p = points[i];
    if (!p.metrics.fits || !(p.metrics.tpot_p99_ms <= slo_ms)) continue;
    if (!best) { best = i; continue; }
    const auto& b = points[*best];
    if (p.metrics.tokens_per_s > b.metrics.tokens_per_s ||
        (p.metrics.tokens_per_s == b.metrics.tokens_per_s &&
         p.metrics.gpu_bytes() < b.metrics.gpu_bytes()))
      best = i;
  }
  return best;
}

std::vector<std::size_t> pareto_frontier(const std::vector<Point>& points) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < points.size(); ++i) {
    const auto& p = points[i].metrics;
    if (!p.fits) continue;
    bool dominated = false;
    for (std::size_t j = 0; j < points.size() && !dominated; ++j) {
      if (j == i || !points[j].metrics.fits) continue;
      const auto& q = points[j].metrics;
      const bool no_worse = q.tokens_per_s >= p.tokens_per_s && q.tpot_p99_ms <= p.tpot_p99_ms;
      const bool better = q.tokens_per_s > p.tokens_per_s || q.tpot_p99_ms < p.tpot_p99_ms;
      // Equal on both: keep only the first of the ties.
      dominated = no_worse && (better || j < i);
    }
    if (!dominated) out.push_back(i);
  }
  std::sort(out.begin(), out.end(), [&](std::size_t a, std::size_t b) {
    const auto& ma = points[a].metrics;
    const auto& mb = points[b].metrics;
    if (ma.tpot_p99_ms != mb.tpot_p99_ms) return ma.tpot_p99_ms < mb.tpot_p99_ms;
    return ma.tokens_per_s < mb.tokens_per_s;
  });
  return out;
}

std::optional<std::size_t> frontier_knee(const std::vector<Point>& points,
                                         const std::vector<std::size_t>& frontier) {
  if (frontier.empty()) return std::nullopt;
  const auto& lo = points[frontier.front()].metrics;
  const auto& hi = points[frontier.back()].metrics;
  const double dl = hi.tpot_p99_ms - lo.tpot_p99_ms, dt = hi.tokens_per_s - lo.tokens_per_s;
  std::size_t best = frontier.front();
  double best_gap = 0;  // the endpoints lie on the line: gap 0
  for (auto i : frontier) {
    const auto& m = points[i].metrics;
    const double x = dl > 0 ? (m.tpot_p99_ms - lo.tpot_p99_ms) / dl : 0;
    const double y = dt > 0 ? (m.tokens_per_s - lo.tokens_per_s) / dt : 0;
    if (y - x > best_gap) {
      best_gap = y - x;
      best = i;
    }
  }
  return best;
}

bool prefer_maximum(const ScenarioMetrics& maximum, const ScenarioMetrics& knee, double min_gain) {
  if (!(knee.tokens_per_s > 0)) return true;
  return maximum.tokens_per_s >= (1 + min_gain) * knee.tokens_per_s;
}

namespace {
double gib(std::int64_t b) { return static_cast<double>(b) / (1024.0 * 1024.0 * 1024.0); }
}  // namespace

std::string limit_explanation(const std::vector<Point>& points, std::size_t chosen,
                              double slo_ms) {
  const auto& c = points.at(chosen).scenario;
  std::optional<std::size_t> next;
  for (std::size_t i = 0; i < points.size(); ++i) {
    const auto& s = points[i].scenario;
    if (s.cache_blocks != c.cache_blocks || s.gather_ctas != c.gather_ctas ||
        s.pcie_gbps != c.pcie_gbps || s.reuse != c.reuse || s.batch <= c.batch)
      continue;
    if (!next || s.batch < points[*next].scenario.batch) next = i;
  }
  if (!next) return fmt::format("batch {} is the largest batch searched", c.batch.value());
  const auto& n = points[*next];
  const auto& m = n.metrics;
  if (!m.fits) {
    if (m.gpu_bytes() > m.gpu_capacity_bytes)
      return fmt::format("GPU memory: batch {} needs {:.2f} GiB of the GPU's {:.2f} GiB",
                         n.scenario.batch.value(), gib(m.gpu_bytes()), gib(m.gpu_capacity_bytes));
    return fmt::format("host memory: batch {} needs {:.2f} GiB of pinned host memory, {:.2f} GiB "
                       "available",
                       n.scenario.batch.value(), gib(m.host_bytes()), gib(m.host_capacity_bytes));
  }
  if (m.tpot_p99_ms > slo_ms)
    return fmt::format("the latency target: batch {} takes {:.1f} ms per token (target {:g} ms)",
                       n.scenario.batch.value(), m.tpot_p99_ms, slo_ms);
  return fmt::format("throughput: batch {} fits and meets the target but is not faster",
                     n.scenario.batch.value());
}

std::string bound_summary(const ScenarioMetrics& m) {
  auto pct = [](double x) { return static_cast<int>(std::lround(100.0 * x)); };
  return fmt::format("compute {}%, PCIe {}%, host {}%", pct(m.bound_compute), pct(m.bound_pcie),
                     pct(m.bound_host));
}

std::string step_summary(const ScenarioMetrics& m) {
  std::string s = fmt::format("mean step {:.1f} ms = compute {:.1f} ms + exposed transfer {:.1f} ms + "
                              "other {:.1f} ms",
                              m.tpot_mean_ms, m.compute_ms, m.exposed_h2d_ms, m.host_ms);
  if (m.h2d_total_ms > 0)
    s += fmt::format("; H2D {:.1f} ms per step, {:.1f} ms of it hidden behind compute", m.h2d_total_ms,
                     std::max(0.0, m.h2d_total_ms - m.exposed_h2d_ms));
  return s;
}

}  // namespace foresight::report

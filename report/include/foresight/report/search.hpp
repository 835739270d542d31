// The plan's search over evaluated points: largest batch that fits in memory,
// best throughput within a per-token latency target, and the
// throughput/latency Pareto frontier. Pure functions over vectors, so they are
// checked by hand on a fake evaluator (tests/report/test_search.cpp).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "foresight/report/plan_types.hpp"

namespace foresight::report {

struct Point {
  config::Scenario scenario;  // hardware, mode, context and batch set (plan.cpp sets the rest it searches)
  ScenarioMetrics metrics;
};

// Index of the feasible point with the largest batch (ties: most tokens/s,
// then the earlier point); nullopt when nothing fits.
std::optional<std::size_t> largest_feasible_batch(const std::vector<Point>& points);

// Index of the feasible point with the most tokens/s whose p99 per-token
// latency is <= slo_ms (ties: smaller GPU footprint, then the earlier point);
// nullopt when none meets the target.
std::optional<std::size_t> best_within_slo(const std::vector<Point>& points, double slo_ms);

// Indices of the feasible points no other feasible point dominates on
// (more tokens/s, lower p99 per-token latency); a point equal on both to an
// earlier one is left out. Sorted by latency ascending (so tokens/s ascends).
std::vector<std::size_t> pareto_frontier(const std::vector<Point>& points);

// Index (into `points`) of the knee of `frontier` (indices into `points`
// sorted by latency ascending, as pareto_frontier returns them): with p99
// latency and tokens/s each scaled to 0..1 over the frontier, the point
// farthest above the straight line from the lowest-latency point to the
// highest-throughput point, i.e. where more latency stops buying much more
// throughput. Ties (e.g. a frontier of one or two points): the lower
// latency. nullopt for an empty frontier.
std::optional<std::size_t> frontier_knee(const std::vector<Point>& points,
                                         const std::vector<std::size_t>& frontier);

// The knee-or-maximum rule: the maximum (most tokens/s within the target) is
// recommended when it gives at least `min_gain` (a fraction, e.g. 0.10) more
// tokens/s than the knee; otherwise the knee is, since the maximum then
// costs latency (and usually memory) for little throughput.
bool prefer_maximum(const ScenarioMetrics& maximum, const ScenarioMetrics& knee, double min_gain);

// Why the chosen point is not bigger, in plain words: looks at the point with
// the next larger batch and the same cache size and gather CTAs.
std::string limit_explanation(const std::vector<Point>& points, std::size_t chosen,
                              double slo_ms);

// "compute 62%, PCIe 30%, host 8%": shares of the critical path (what bounds
// the step; compute that a transfer overlaps is not on it).
std::string bound_summary(const ScenarioMetrics& m);

// Where the mean step goes and what overlaps, e.g. "mean step 13.9 ms =
// compute 12.1 ms + exposed transfer 0.6 ms + other 1.2 ms; H2D 11.0 ms per
// step, 10.4 ms of it hidden behind compute".
std::string step_summary(const ScenarioMetrics& m);

}  // namespace foresight::report

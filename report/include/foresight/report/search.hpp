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
  Scenario scenario;
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

// Why the chosen point is not bigger, in plain words: looks at the point with
// the next larger batch and the same cache size and gather CTAs.
std::string limit_explanation(const std::vector<Point>& points, std::size_t chosen,
                              double slo_ms);

// "compute 62%, PCIe 30%, host 8%": what the chosen step time is made of.
std::string bound_summary(const ScenarioMetrics& m);

}  // namespace foresight::report

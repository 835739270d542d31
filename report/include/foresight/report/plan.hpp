// The capacity plan: which grid is evaluated, the evaluated points of every
// (hardware, mode, context) cell, and the recommendation per (hardware,
// context). run_plan() evaluates the grid on any Evaluator, in parallel, with
// a progress callback; the result is deterministic whatever the thread count.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "foresight/common/progress.hpp"
#include "foresight/report/plan_types.hpp"
#include "foresight/report/search.hpp"

namespace foresight::report {

struct PlanRequest {
  std::string model = "minicpm4.1-8b";
  std::vector<std::string> hardware = {"h100-sxm"};
  std::vector<config::Mode> modes = {config::Mode::dense, config::Mode::sparse,
                                     config::Mode::sparse_offload,
                                     config::Mode::sparda_no_prefetch, config::Mode::sparda};
  std::vector<std::int64_t> contexts = {32768, 65536, 98304, 131072};  // tokens
  std::vector<std::int64_t> batches = {1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128};
  double slo_tpot_ms = 50;                  // target on p99 per-token latency
  // Cache sizes as multiples of top-k + 1 slots (1 = SparDA's own working set).
  std::vector<double> cache_factors = {1, 1.5, 2, 3, 4};
  std::vector<std::int64_t> gather_ctas = {8, 16, 32};
  // CTAs of modes that do not tune the cache; unset: the runtime's default
  // for the batch and gather path (config::default_gather_ctas).
  std::optional<std::int64_t> default_gather_ctas;
  std::vector<double> pcie_factors = {0.25, 0.5, 1, 1.5, 2};  // x the hardware's H2D ceiling
  std::vector<double> reuse = {0.5, 0.7, 0.85, 0.95};          // workload locality sweep
  double default_reuse = config::WorkloadConfig{}.reuse;  // the measured preset (docs/workload-model.md)
  // L2 reservations tried at each recommendation (MiB; the hardware's
  // largest set-aside is always tried too), where the evaluator models L2.
  std::vector<double> l2_reserve_mib = {8, 16, 24};
  double l2_min_gain = 0.01;  // a reservation is recommended only above this tokens/s gain
  // The maximum throughput within the target is recommended over the knee of
  // the frontier only when it gains at least this share of tokens/s (search.hpp).
  double knee_min_gain = 0.10;
  int threads = 0;                          // 0 = all cores
};

// One (hardware, mode, context) cell.
struct PlanCell {
  std::string hardware;
  config::Mode mode = config::Mode::sparda;
  std::int64_t context_tokens = 0;
  std::vector<Point> grid;                  // batch x cache x gather CTAs (cache/CTAs: offload modes)
  std::vector<std::size_t> by_batch;        // into grid, at the chosen point's cache and CTAs
  std::optional<std::size_t> largest_feasible;  // into grid
  std::optional<std::size_t> best;          // best within the target, into grid
  std::vector<std::size_t> pareto;          // into grid
  // Sensitivities around `best` (or the largest feasible point when none meets the target).
  std::vector<std::size_t> by_cache, by_ctas;   // into grid
  std::vector<Point> by_pcie, by_reuse;         // evaluated extra
};

// Per (hardware, context), over every mode's points that fit and meet the
// target: the maximum throughput and the knee of their throughput/latency
// frontier; `choice` is one of them by the knee-or-maximum rule.
struct Recommendation {
  std::string hardware;
  std::int64_t context_tokens = 0;
  std::optional<Point> choice;              // none: nothing meets the target in memory
  std::optional<Point> maximum;             // most tokens/s within the target
  std::optional<Point> knee;                // knee of the frontier within the target
  bool knee_chosen = false;                 // choice is the knee (else the maximum)
  std::string why;                          // why that one, with the rule
  std::string limit;                        // what stops a bigger batch, in plain words
  std::string sentence;                     // the whole answer in one paragraph
  // The choice with each L2 reservation tried (sparse modes, an evaluator
  // that models L2), and the advice: a size, or why none pays.
  std::vector<Point> by_l2;
  std::string l2;
};

struct Plan {
  PlanRequest request;
  EvaluatorInfo evaluator;
  std::int64_t topk_blocks = 0;
  std::vector<PlanCell> cells;              // hardware-major, then mode, then context
  std::vector<Recommendation> recommendations;  // hardware-major, then context
};

// (done, total, ""): scenarios evaluated so far.
using Progress = common::Progress;

Plan run_plan(const PlanRequest& req, const Evaluator& ev, const Progress& progress = {});

// Cache slots of a factor: round(factor * (top-k + 1)).
std::int64_t cache_slots(double factor, std::int64_t topk);

}  // namespace foresight::report

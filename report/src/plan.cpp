// Evaluates the plan's grid and runs the search on it (see plan.hpp).
#include "foresight/report/plan.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <exception>
#include <mutex>
#include <thread>

#include <fmt/core.h>

namespace foresight::report {

std::int64_t cache_slots(double factor, std::int64_t topk) {
  return std::max<std::int64_t>(topk + 1, std::llround(factor * static_cast<double>(topk + 1)));
}

namespace {

// Evaluates every scenario of `pts` in place on `threads` workers; each
// result lands at its own index, so the order never depends on scheduling.
void evaluate_all(std::vector<Point*>& pts, const Evaluator& ev, int threads,
                  std::size_t done_before, std::size_t total, const Progress& progress) {
  std::atomic<std::size_t> next{0}, done{0};
  std::mutex mu;
  std::exception_ptr error;
  auto work = [&] {
    for (std::size_t i; (i = next.fetch_add(1)) < pts.size();) {
      try {
        pts[i]->metrics = ev.evaluate(pts[i]->scenario);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!error) error = std::current_exception();
      }
      const std::size_t d = done.fetch_add(1) + 1;
      if (progress) {
        std::lock_guard<std::mutex> lock(mu);
        progress(done_before + d, total, "");
      }
    }
  };
  const int n = std::max(1, std::min<int>(threads, static_cast<int>(pts.size())));
  std::vector<std::thread> pool;
  for (int t = 1; t < n; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

// The locality a cell's points assume: the request's default for the block
// modes, the DSA token streams' preset for the DSA modes (config/run.hpp).
double cell_reuse(const PlanRequest& req, config::Mode mode) {
  if (!config::mode_traits(mode).selects_tokens()) return req.default_reuse;
  return config::workload_preset(config::default_workload_preset(mode), "plan").reuse;
}

PlanCell make_cell(const PlanRequest& req, const Evaluator& ev, const std::string& hw,
                   config::Mode mode, std::int64_t ctx) {
  PlanCell c{hw, mode, ctx};
  const std::int64_t topk = ev.topk_blocks();
  // DSA: unset, the run's own (no block cache; token gathers size their grid).
  std::vector<std::optional<std::int64_t>> caches{std::nullopt}, ctas{std::nullopt};
  if (!config::mode_traits(mode).selects_tokens()) {
    caches = {cache_slots(1, topk)};
    ctas = {req.default_gather_ctas};
  }
  if (mode_tunes_cache(mode)) {
    caches.clear();
    for (double f : req.cache_factors) caches.push_back(cache_slots(f, topk));
    caches.erase(std::unique(caches.begin(), caches.end()), caches.end());
    ctas.assign(req.gather_ctas.begin(), req.gather_ctas.end());
  }
  for (auto b : req.batches)
    for (auto cache : caches)
      for (auto g : ctas) {
        config::Scenario s;
        s.hardware = hw;
        s.mode = mode;
        s.context = ctx;
        s.batch = b;
        s.cache_blocks = cache;
        s.gather_ctas = g;
        s.reuse = cell_reuse(req, mode);
        c.grid.push_back({s, {}});
      }
  return c;
}

void search_cell(PlanCell& c, const PlanRequest& req, const Evaluator& ev) {
  const bool offload = mode_offloads(c.mode);
  c.largest_feasible = largest_feasible_batch(c.grid);
  c.best = best_within_slo(c.grid, req.slo_tpot_ms);
  c.pareto = pareto_frontier(c.grid);
  const auto anchor = c.best ? c.best : c.largest_feasible;
  // The batch series at the chosen cache size and CTAs (defaults when nothing fits).
  // A mode that tunes neither has one value of each in its grid.
  const config::Scenario* at = anchor ? &c.grid[*anchor].scenario
                               : !mode_tunes_cache(c.mode) && !c.grid.empty()
                                   ? &c.grid.front().scenario
                                   : nullptr;
  const std::optional<std::int64_t> cache =
      at ? at->cache_blocks : cache_slots(1, ev.topk_blocks());
  const std::optional<std::int64_t> ctas = at ? at->gather_ctas : req.default_gather_ctas;
  for (std::size_t i = 0; i < c.grid.size(); ++i) {
    const auto& s = c.grid[i].scenario;
    if (s.cache_blocks == cache && s.gather_ctas == ctas) c.by_batch.push_back(i);
  }
  if (!anchor) return;
  const auto& a = c.grid[*anchor].scenario;
  for (std::size_t i = 0; i < c.grid.size() && a.cache_blocks; ++i) {  // DSA: no cache or CTA knob
    const auto& s = c.grid[i].scenario;
    if (s.batch != a.batch) continue;
    if (s.gather_ctas == a.gather_ctas) c.by_cache.push_back(i);
    if (s.cache_blocks == a.cache_blocks) c.by_ctas.push_back(i);
  }
  if (offload)
    for (double f : req.pcie_factors) {
      config::Scenario s = a;
      s.pcie_gbps = f * ev.default_pcie_gbps(c.hardware);
      c.by_pcie.push_back({s, {}});
    }
  if (mode_selects(c.mode))
    for (double r : req.reuse) {
      config::Scenario s = a;
      s.reuse = r;
      c.by_reuse.push_back({s, {}});
    }
}

// The points of every mode at (hw, ctx) that fit and meet the target, and
// where each came from (cell, index into its grid).
struct Candidates {
  std::vector<Point> points;
  std::vector<std::pair<const PlanCell*, std::size_t>> from;
};
Candidates within_target(const Plan& plan, const std::string& hw, std::int64_t ctx) {
  Candidates c;
  for (const auto& cell : plan.cells) {
    if (cell.hardware != hw || cell.context_tokens != ctx) continue;
    for (std::size_t i = 0; i < cell.grid.size(); ++i) {
      const auto& m = cell.grid[i].metrics;
      if (!m.fits || !(m.tpot_p99_ms <= plan.request.slo_tpot_ms)) continue;
      c.points.push_back(cell.grid[i]);
      c.from.emplace_back(&cell, i);
    }
  }
  return c;
}

// "sparda batch 64 (2390 tokens/s at 27.3 ms p99)".
std::string describe(const Point& p) {
  return fmt::format("{} batch {} ({:.0f} tokens/s at {:.1f} ms p99)",
                     mode_name(p.scenario.mode.value()), p.scenario.batch.value(),
                     p.metrics.tokens_per_s, p.metrics.tpot_p99_ms);
}

double ratio(double a, double b) { return b > 0 ? a / b : 0; }

// Why the knee or the maximum was chosen, with the rule.
std::string why_chosen(const Point& max, const Point& knee, bool knee_chosen, double min_gain) {
  const std::string rule = fmt::format("rule: the maximum is recommended only when it gives at "
                                       "least {:.0f}% more tokens/s than the knee", 100 * min_gain);
  if (max.scenario.batch == knee.scenario.batch && max.scenario.mode == knee.scenario.mode &&
      max.scenario.cache_blocks == knee.scenario.cache_blocks &&
      max.scenario.gather_ctas == knee.scenario.gather_ctas)
    return "the maximum throughput within the target is also the knee of the frontier";
  const double gain = 100 * (ratio(max.metrics.tokens_per_s, knee.metrics.tokens_per_s) - 1);
  const auto gpu = [](const Point& p) { return static_cast<double>(p.metrics.gpu_bytes()); };
  const auto host = [](const Point& p) { return static_cast<double>(p.metrics.host_bytes()); };
  std::string cost = fmt::format("{:.2f}x the latency, {:.2f}x the GPU memory",
                                 ratio(max.metrics.tpot_p99_ms, knee.metrics.tpot_p99_ms),
                                 ratio(gpu(max), gpu(knee)));
  if (host(max) > 0 && host(knee) > 0)
    cost += fmt::format(" and {:.2f}x the pinned host memory", ratio(host(max), host(knee)));
  if (knee_chosen)
    return fmt::format("the knee of the throughput/latency frontier: the maximum, {}, gives only "
                       "{:+.0f}% tokens/s for {} ({})",
                       describe(max), gain, cost, rule);
  return fmt::format("the maximum throughput within the target: it gives {:+.0f}% tokens/s over the "
                     "knee of the frontier, {}, for {} ({})",
                     gain, describe(knee), cost, rule);
}

// " That is 1.8x the best other mode (sparse, batch 32)." or "".
std::string contrast(const Plan& plan, const std::string& hw, std::int64_t ctx, const Point& chosen) {
  const Point* other = nullptr;
  for (const auto& c : plan.cells)
    if (c.hardware == hw && c.context_tokens == ctx && c.best && c.mode != chosen.scenario.mode &&
        (!other || c.grid[*c.best].metrics.tokens_per_s > other->metrics.tokens_per_s))
      other = &c.grid[*c.best];
  if (!other || !(other->metrics.tokens_per_s > 0)) return "";
  return fmt::format(" That is {:.2f}x the best other mode ({}, batch {}).",
                     chosen.metrics.tokens_per_s / other->metrics.tokens_per_s,
                     mode_name(other->scenario.mode.value()), other->scenario.batch.value());
}

// The choice of `r` with each L2 reservation of the request and the
// hardware's largest (MiB), unevaluated; none when the evaluator does not
// model L2 or the mode selects no blocks.
std::vector<Point> l2_points(const PlanRequest& req, const Evaluator& ev, const Recommendation& r) {
  std::vector<Point> pts;
  const std::int64_t max_bytes = ev.l2_reserve_max_bytes(r.hardware);
  if (!r.choice || max_bytes <= 0 ||
      !config::mode_traits(r.choice->scenario.mode.value()).l2_reservable())
    return pts;
  const double max_mib = static_cast<double>(max_bytes) / (1 << 20);
  std::vector<double> sizes;
  for (double mib : req.l2_reserve_mib)
    if (mib > 0 && mib < max_mib) sizes.push_back(mib);
  sizes.push_back(max_mib);
  for (double mib : sizes) {
    config::Scenario s = r.choice->scenario;
    s.l2_reserve = mib;
    pts.push_back({s, {}});
  }
  return pts;
}

double log2_distance(std::int64_t a, std::int64_t b) {
  return std::abs(std::log2(static_cast<double>(a) / static_cast<double>(b)));
}

// The measured runs closest to `s` (same mode, else the same selection
// granularity; then the nearest batch and context in log distance), by
// reservation size: " Measured on h200 with MODEL (sparda, batch 16, 32K;
// SOURCE): decode steps +0.8% at 8 MiB, ...". "" when none was measured.
std::string measured_l2(const config::L2Measured& m, const config::Scenario& s,
                        const std::string& hw) {
  const config::Mode mode = s.mode.value();
  const bool tokens = config::mode_traits(mode).selects_tokens();
  // 0: the same mode; 1: the same selection granularity; 2: another (never cited).
  const auto kin = [&](const config::L2Measurement& p) {
    if (p.mode == mode) return 0;
    return config::mode_traits(p.mode).selects_tokens() == tokens ? 1 : 2;
  };
  const auto far = [&](const config::L2Measurement& p) {
    return log2_distance(p.batch, s.batch.value()) + log2_distance(p.context, s.context.value());
  };
  const config::L2Measurement* near = nullptr;
  for (const auto& p : m.points)
    if (kin(p) < 2 && (!near || std::pair(kin(p), far(p)) < std::pair(kin(*near), far(*near))))
      near = &p;
  if (!near) return "";
  std::vector<const config::L2Measurement*> same;
  for (const auto& p : m.points)
    if (p.mode == near->mode && p.batch == near->batch && p.context == near->context)
      same.push_back(&p);
  std::sort(same.begin(), same.end(),
            [](auto* a, auto* b) { return a->reserve_mib < b->reserve_mib; });
  std::string each;
  for (const auto* p : same)
    each += fmt::format("{}{:+.1f}% at {:g} MiB", each.empty() ? "" : ", ", 100 * p->step_change,
                        p->reserve_mib);
  return fmt::format(" Measured on {}{} ({}, batch {}, {}K; {}): decode steps {}.", hw,
                     m.model.empty() ? "" : " with " + m.model, mode_name(near->mode), near->batch,
                     near->context / 1024, m.source, each);
}

// The advice from the evaluated r.by_l2: the reservation with the most
// tokens/s within the target when it gains more than l2_min_gain, else why
// none pays; then the real runs measured nearest to the choice, if any.
std::string l2_advice(const Recommendation& r, double slo, double min_gain,
                      const config::L2Measured& measured) {
  if (r.by_l2.empty()) return "";
  const double base = r.choice->metrics.tokens_per_s;
  std::string each;
  const Point* best = nullptr;
  for (const auto& p : r.by_l2) {
    const double gain = p.metrics.fits ? p.metrics.tokens_per_s / base - 1 : -1;
    each += fmt::format("{}{:g} MiB {:+.1f}%", each.empty() ? "" : ", ", p.scenario.l2_reserve.value(), 100 * gain);
    if (p.metrics.l2_hit_rate >= 0) each += fmt::format(" ({:.1f}% of KV bytes hit)", 100 * p.metrics.l2_hit_rate);
    if (p.metrics.fits && p.metrics.tpot_p99_ms <= slo && (!best || p.metrics.tokens_per_s > best->metrics.tokens_per_s))
      best = &p;
  }
  const std::string evidence = measured_l2(measured, r.choice->scenario, r.hardware);
  if (best && best->metrics.tokens_per_s / base - 1 > min_gain)
    return fmt::format(
        " L2: reserve {:g} MiB for KV ({:+.1f}% tokens/s, simulated; tokens/s by reservation: "
        "{}).{}",
        best->scenario.l2_reserve.value(), 100 * (best->metrics.tokens_per_s / base - 1), each,
        evidence);
  return fmt::format(
      " L2: no reservation pays here (simulated tokens/s by reservation: {}): the KV a reservation "
      "keeps between steps saves less HBM time than the set-aside costs the other kernels.{}",
      each, evidence);
}

Recommendation recommend(const Plan& plan, const std::string& hw, std::int64_t ctx) {
  Recommendation r{hw, ctx, std::nullopt, std::nullopt, std::nullopt, false, "", "", "", {}, ""};
  const double slo = plan.request.slo_tpot_ms;
  const Candidates cand = within_target(plan, hw, ctx);
  const auto max_i = best_within_slo(cand.points, slo);
  const std::string where = fmt::format("On {} at {}K context", hw, ctx / 1024);
  if (!max_i) {
    r.sentence = fmt::format("{}, no mode meets the {:g} ms per-token target within memory at "
                             "any batch searched. Relax the target or shorten the context.",
                             where, slo);
    r.limit = "nothing meets the latency target in memory";
    return r;
  }
  const auto knee_i = *frontier_knee(cand.points, pareto_frontier(cand.points));
  r.maximum = cand.points[*max_i];
  r.knee = cand.points[knee_i];
  r.knee_chosen = !prefer_maximum(r.maximum->metrics, r.knee->metrics, plan.request.knee_min_gain);
  const std::size_t pick = r.knee_chosen ? knee_i : *max_i;
  r.choice = cand.points[pick];
  r.why = why_chosen(*r.maximum, *r.knee, r.knee_chosen, plan.request.knee_min_gain);
  const auto& [cell, index] = cand.from[pick];
  r.limit = r.knee_chosen ? fmt::format("the knee rule (larger settings within the target gain under "
                                        "{:.0f}% tokens/s)", 100 * plan.request.knee_min_gain)
                          : limit_explanation(cell->grid, index, slo);
  const auto& s = r.choice->scenario;
  const auto& m = r.choice->metrics;
  std::string cache;
  if (mode_tunes_cache(s.mode.value()))
    cache = fmt::format(
        ", a GPU cache of {} blocks per (layer, KV head){} and {} gather CTAs",
        s.cache_blocks.value(),
        s.cache_blocks == cache_slots(1, plan.topk_blocks) ? " (SparDA's top-k + 1)" : "",
        s.gather_ctas.value());
  r.sentence = fmt::format(
      "{}, run {} with batch {}{}: {:.0f} tokens/s at {:.1f} ms per token (p99; mean {:.1f} ms; "
      "target {:g} ms). Chosen: {}. What limits it: {}. Step: {}. Critical path: {}.{}",
      where, mode_name(s.mode.value()), s.batch.value(), cache, m.tokens_per_s, m.tpot_p99_ms,
      m.tpot_mean_ms, slo, r.why, r.limit, step_summary(m), bound_summary(m), contrast(plan, hw, ctx, *r.choice));
  return r;
}

}  // namespace

Plan run_plan(const PlanRequest& req, const Evaluator& ev, const Progress& progress) {
  Plan plan;
  plan.request = req;
  plan.evaluator = ev.info();
  plan.topk_blocks = ev.topk_blocks();
  for (const auto& hw : req.hardware)
    for (auto mode : req.modes)
      for (auto ctx : req.contexts) plan.cells.push_back(make_cell(req, ev, hw, mode, ctx));
  const int threads = req.threads > 0 ? req.threads
                                      : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::size_t n_grid = 0;
  for (const auto& c : plan.cells) n_grid += c.grid.size();
  // Sensitivity points are one per factor per sweepable cell: known up front.
  std::size_t n_sens = 0;
  for (const auto& c : plan.cells)
    n_sens += (mode_offloads(c.mode) ? req.pcie_factors.size() : 0) +
              (mode_selects(c.mode) ? req.reuse.size() : 0);
  const std::size_t total = n_grid + n_sens;

  std::vector<Point*> pts;
  for (auto& c : plan.cells)
    for (auto& p : c.grid) pts.push_back(&p);
  evaluate_all(pts, ev, threads, 0, total, progress);
  for (auto& c : plan.cells) search_cell(c, req, ev);
  pts.clear();
  for (auto& c : plan.cells) {
    for (auto& p : c.by_pcie) pts.push_back(&p);
    for (auto& p : c.by_reuse) pts.push_back(&p);
  }
  evaluate_all(pts, ev, threads, n_grid, total, progress);
  if (progress && n_grid + pts.size() < total) progress(total, total, "");  // cells with no anchor

  for (const auto& hw : req.hardware)
    for (auto ctx : req.contexts) plan.recommendations.push_back(recommend(plan, hw, ctx));
  // The chosen points under L2 reservations (a few per recommendation).
  pts.clear();
  for (auto& r : plan.recommendations) {
    r.by_l2 = l2_points(req, ev, r);
    for (auto& p : r.by_l2) pts.push_back(&p);
  }
  evaluate_all(pts, ev, threads, 0, pts.size(), Progress{});
  for (auto& r : plan.recommendations) {
    r.l2 = l2_advice(r, req.slo_tpot_ms, req.l2_min_gain,
                     r.by_l2.empty() ? config::L2Measured{} : ev.l2_measured(r.hardware));
    r.sentence += r.l2;
  }
  return plan;
}

}  // namespace foresight::report

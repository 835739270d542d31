// report.md and plan.json (see render.hpp).
#include <algorithm>
#include <cmath>

#include <fmt/core.h>
#include <fmt/ranges.h>

#include "foresight/report/render.hpp"

namespace foresight::report {

namespace {

// A plan point in plan.json, in its keys of old: "context_tokens" for the
// context, and an unset PCIe ceiling written 0 ("the hardware's"); any other
// unset knob (the plan sets them all) is null.
nlohmann::json scenario_json(const config::Scenario& s) {
  const auto value = [&](const char* knob) { return config::knob(knob).get(s); };
  return {{"hardware", value("hardware")},         {"mode", value("mode")},
          {"context_tokens", value("context")},    {"batch", value("batch")},
          {"cache_blocks", value("cache_blocks")}, {"gather_ctas", value("gather_ctas")},
          {"pcie_gbps", s.pcie_gbps.value_or(0.0)}, {"reuse", value("reuse")},
          {"l2_reserve_mib", s.l2_reserve.value_or(0.0)}};
}

nlohmann::json parts_json(const std::vector<BytePart>& parts) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, bytes] : parts) j[name] = bytes;
  return j;
}

nlohmann::json metrics_json(const ScenarioMetrics& m) {
  return {{"tokens_per_s", m.tokens_per_s},
          {"tpot_ms", {{"mean", m.tpot_mean_ms}, {"p50", m.tpot_p50_ms}, {"p99", m.tpot_p99_ms}}},
          {"memory",
           {{"gpu_bytes", m.gpu_bytes()}, {"host_bytes", m.host_bytes()},
            {"gpu_capacity_bytes", m.gpu_capacity_bytes},
            {"host_capacity_bytes", m.host_capacity_bytes}, {"fits", m.fits},
            {"gpu_parts", parts_json(m.gpu_parts)}, {"host_parts", parts_json(m.host_parts)}}},
          {"bound", {{"compute", m.bound_compute}, {"pcie", m.bound_pcie}, {"host", m.bound_host}}},
          {"step_ms", {{"compute", m.compute_ms}, {"exposed_h2d", m.exposed_h2d_ms}, {"other", m.host_ms}}},
          {"critical_path_ms",
           {{"compute", m.bound_compute * m.tpot_mean_ms}, {"pcie", m.pcie_ms},
            {"host", m.bound_host * m.tpot_mean_ms}}},
          {"h2d", {{"total_ms", m.h2d_total_ms}, {"exposed_ms", m.exposed_h2d_ms}}},
          {"cache", {{"hit_rate", m.hit_rate}}},
          {"l2", {{"hit_rate", m.l2_hit_rate >= 0 ? nlohmann::json(m.l2_hit_rate) : nlohmann::json()}}},
          {"ttft_ms", std::isfinite(m.ttft_ms) ? nlohmann::json(m.ttft_ms) : nlohmann::json()}};
}

nlohmann::json point_json(const Point& p) {
  return {{"scenario", scenario_json(p.scenario)}, {"metrics", metrics_json(p.metrics)}};
}

nlohmann::json index_or_null(const std::optional<std::size_t>& i) {
  return i ? nlohmann::json(*i) : nlohmann::json(nullptr);
}

std::string cell_row(const PlanCell& c, std::int64_t default_cache) {
  std::string largest = c.largest_feasible
                            ? std::to_string(c.grid[*c.largest_feasible].scenario.batch.value())
                            : "none fits";
  if (!c.best)
    return fmt::format("| {} | {} | none meets target | | | | | | | | | | | | | |\n", mode_name(c.mode),
                       largest);
  const auto& p = c.grid[*c.best];
  const auto& m = p.metrics;
  return fmt::format(
      "| {} | {} | {} | {:.0f} | {:.1f} | {:.1f} | {} | {} | {} | {:.2f} | {:.1f} | {:.1f} | {} | {} "
      "|\n",
      mode_name(c.mode), largest, p.scenario.batch.value(), m.tokens_per_s, m.tpot_mean_ms,
      m.tpot_p99_ms, ttft_cell(m), cache_cell(p.scenario, default_cache), ctas_cell(p.scenario), m.hit_rate,
      to_gib(m.gpu_bytes()), to_gib(m.host_bytes()), step_columns(m, " | "), bound_summary(m));
}

}  // namespace

std::string ttft_cell(const ScenarioMetrics& m) {
  return std::isfinite(m.ttft_ms) ? fmt::format("{:.0f}", m.ttft_ms) : "-";
}

std::string step_columns(const ScenarioMetrics& m, const std::string& sep) {
  return fmt::format("{:.1f}{}{:.1f}{}{:.1f}", m.compute_ms, sep, m.exposed_h2d_ms, sep,
                     std::max(0.0, m.h2d_total_ms - m.exposed_h2d_ms));
}

std::string reuse_source(double reuse) {
  if (reuse != config::WorkloadConfig{}.reuse) return "";
  return " (measured: SmolLM2-135M's own block selections on real text at 8K, top-16; "
         "docs/workload-model.md, bench/RESULTS-real-model.md)";
}

std::string token_locality_note(const PlanRequest& r) {
  for (auto m : r.modes)
    if (config::mode_traits(m).selects_tokens()) {
      const char* preset = config::default_workload_preset(m);
      const auto w = config::workload_preset(preset, "plan");
      return fmt::format(
          "DSA modes: a selected token stays selected at the next step with probability {:g} "
          "and adjacent layers share {:g} of their top-k (preset {}: public figures, "
          "docs/workload-model.md); the cache and gather-CTA knobs do not apply to them",
          w.reuse, w.cross_layer, preset);
    }
  return "";
}

std::string latency_note() {
  return "Latency: the target, the tables' p99 column, the latency plot and the Pareto frontier use "
         "the p99 of the steady decode steps; the time-breakdown bars and the step columns split the "
         "mean step (compute = all compute op time, including what PCIe transfers overlap; exposed "
         "transfer = H2D time the compute stream waits for; hidden H2D = transfer time overlapped "
         "with compute; other = host work and gaps). The critical-path share counts only what is on "
         "the longest dependency chain, so compute that a transfer overlaps is not in it";
}

std::string choice_rule(double knee_min_gain) {
  return fmt::format("Choice: for each GPU and context the report shows the maximum throughput within "
                     "the target and the knee of the throughput/latency frontier of all modes' points "
                     "within the target (the frontier point farthest above the line from its "
                     "lowest-latency to its highest-throughput point, both axes scaled to 0-1); it "
                     "recommends the maximum only when it gives at least {:.0f}% more tokens/s than "
                     "the knee, else the knee",
                     100 * knee_min_gain);
}

nlohmann::json plan_to_json(const Plan& plan) {
  const auto& r = plan.request;
  nlohmann::json j;
  j["schema"] = "foresight.plan/1";
  std::vector<std::string> modes;
  for (auto m : r.modes) modes.push_back(mode_name(m));
  j["request"] = {{"model", r.model},           {"hardware", r.hardware},
                  {"modes", modes},             {"contexts", r.contexts},
                  {"batches", r.batches},       {"slo_tpot_ms", r.slo_tpot_ms},
                  {"cache_factors", r.cache_factors}, {"gather_ctas", r.gather_ctas},
                  {"pcie_factors", r.pcie_factors},   {"reuse", r.reuse},
                  {"default_reuse", r.default_reuse}, {"knee_min_gain", r.knee_min_gain}};
  j["evaluator"] = {{"name", plan.evaluator.name},
                    {"trace", plan.evaluator.trace},
                    {"measured", plan.evaluator.measured},
                    {"modelled", plan.evaluator.modelled},
                    {"fidelity", plan.evaluator.fidelity}};
  j["topk_blocks"] = plan.topk_blocks;
  j["recommendations"] = nlohmann::json::array();
  for (const auto& rec : plan.recommendations) {
    nlohmann::json by_l2 = nlohmann::json::array();
    for (const auto& p : rec.by_l2) by_l2.push_back(point_json(p));
    j["recommendations"].push_back(
        {{"hardware", rec.hardware}, {"context_tokens", rec.context_tokens},
         {"choice", rec.choice ? point_json(*rec.choice) : nlohmann::json(nullptr)},
         {"maximum", rec.maximum ? point_json(*rec.maximum) : nlohmann::json(nullptr)},
         {"knee", rec.knee ? point_json(*rec.knee) : nlohmann::json(nullptr)},
         {"chosen", rec.choice ? (rec.knee_chosen ? "knee" : "maximum") : nlohmann::json(nullptr)},
         {"why", rec.why}, {"limit", rec.limit}, {"l2", rec.l2}, {"by_l2", by_l2}, {"text", rec.sentence}});
  }
  j["cells"] = nlohmann::json::array();
  for (const auto& c : plan.cells) {
    nlohmann::json cj = {{"hardware", c.hardware}, {"mode", mode_name(c.mode)},
                         {"context_tokens", c.context_tokens},
                         {"largest_feasible", index_or_null(c.largest_feasible)},
                         {"best_within_slo", index_or_null(c.best)},
                         {"pareto", c.pareto},   {"by_batch", c.by_batch},
                         {"by_cache", c.by_cache}, {"by_ctas", c.by_ctas}};
    cj["grid"] = nlohmann::json::array();
    for (const auto& p : c.grid) cj["grid"].push_back(point_json(p));
    cj["by_pcie"] = nlohmann::json::array();
    for (const auto& p : c.by_pcie) cj["by_pcie"].push_back(point_json(p));
    cj["by_reuse"] = nlohmann::json::array();
    for (const auto& p : c.by_reuse) cj["by_reuse"].push_back(point_json(p));
    j["cells"].push_back(std::move(cj));
  }
  return j;
}

std::string render_markdown(const Plan& plan) {
  const auto& r = plan.request;
  std::string o = fmt::format("# Capacity plan: {}\n\n", r.model);
  o += "How far the simulator behind this plan was from real runs:\n\n";
  for (const auto& f : plan.evaluator.fidelity) o += "- " + f + "\n";
  o += "\n";
  o += fmt::format("Target: p99 per-token latency <= {:g} ms. Hardware: {}.\n\n", r.slo_tpot_ms,
                   fmt::join(r.hardware, ", "));
  o += "## Recommendations\n\n";
  for (const auto& rec : plan.recommendations) o += "- " + rec.sentence + "\n";
  const std::int64_t default_cache = cache_slots(1, plan.topk_blocks);
  for (const auto& hw : r.hardware)
    for (auto ctx : r.contexts) {
      o += fmt::format("\n## {} at {} context\n\n", hw, context_label(ctx));
      o += "| mode | largest batch in memory | best batch within target | tokens/s | mean ms/token "
           "| p99 ms/token | TTFT ms | cache blocks | gather CTAs | hit rate | GPU GiB | host GiB "
           "| compute ms/step | exposed H2D ms/step | hidden H2D ms/step | critical path share |\n";
      o += "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n";
      for (const auto& c : plan.cells)
        if (c.hardware == hw && c.context_tokens == ctx) o += cell_row(c, default_cache);
      o += "\nPareto frontier (throughput vs latency, over batch, cache and gather CTAs):\n\n";
      for (const auto& c : plan.cells) {
        if (c.hardware != hw || c.context_tokens != ctx || c.pareto.empty()) continue;
        o += fmt::format("- {}:", mode_name(c.mode));
        for (auto i : c.pareto) {
          const auto& p = c.grid[i];
          o += fmt::format(" b{}{} {:.0f} tok/s @ {:.1f} ms;", p.scenario.batch.value(),
                           mode_tunes_cache(c.mode)
                               ? fmt::format("/c{}/g{}", p.scenario.cache_blocks.value(),
                                             p.scenario.gather_ctas.value())
                               : "",
                           p.metrics.tokens_per_s, p.metrics.tpot_p99_ms);
        }
        o += "\n";
      }
    }
  o += "\n## Assumptions\n\n";
  o += fmt::format(
      "- Evaluator: {}\n- Trace: {}\n- Workload locality (block reuse between steps): "
      "{:g} unless swept{}\n- {}\n- {}\n",
      plan.evaluator.name, plan.evaluator.trace, r.default_reuse, reuse_source(r.default_reuse),
      latency_note(), choice_rule(r.knee_min_gain));
  if (const auto t = token_locality_note(r); !t.empty()) o += "- " + t + "\n";
  o += "\nMeasured inputs:\n\n";
  for (const auto& m : plan.evaluator.measured) o += "- " + m + "\n";
  o += "\nModelled (not measured):\n\n";
  for (const auto& m : plan.evaluator.modelled) o += "- " + m + "\n";
  return o;
}

}  // namespace foresight::report

// report.html: recommendation first, then per (hardware, context) the plots
// as inline SVG, then the assumptions. No scripts, no external resources.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include <fmt/core.h>
#include <fmt/ranges.h>

#include "foresight/report/render.hpp"
#include "foresight/report/svg_chart.hpp"

namespace foresight::report {

namespace {

using svg::xml_escape;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// The chart, or a one-line note where the plan has nothing to show in it.
template <class Chart>
std::string chart_or_note(const Chart& c, const std::string& why) {
  if (svg::has_data(c)) return svg::render(c);
  return "<div class=\"nodata\"><b>" + xml_escape(c.title) + "</b><br>" + xml_escape(why) +
         "</div>\n";
}

std::vector<const PlanCell*> cells_of(const Plan& plan, const std::string& hw, std::int64_t ctx) {
  std::vector<const PlanCell*> out;
  for (const auto& c : plan.cells)
    if (c.hardware == hw && c.context_tokens == ctx) out.push_back(&c);
  return out;
}

const Recommendation* recommendation_for(const Plan& plan, const std::string& hw, std::int64_t ctx) {
  for (const auto& r : plan.recommendations)
    if (r.hardware == hw && r.context_tokens == ctx) return &r;
  return nullptr;
}

// The point a cell's bar charts show: best within target, else largest in memory.
const Point* anchor(const PlanCell& c) {
  if (c.best) return &c.grid[*c.best];
  if (c.largest_feasible) return &c.grid[*c.largest_feasible];
  return nullptr;
}

std::string bar_label(const PlanCell& c) {
  const Point* a = anchor(c);
  return fmt::format("{}\nbatch {}", mode_name(c.mode), a ? a->scenario.batch.value() : 0);
}

std::string batch_charts(const std::vector<const PlanCell*>& cells, double slo, const std::string& where) {
  svg::LineChart tput{"Decode throughput vs batch, " + where, "batch", "tokens/s", true};
  svg::LineChart lat{"Per-token latency (p99) vs batch, " + where, "batch", "ms per token", true};
  lat.hlines.push_back({slo, fmt::format("target {:g} ms", slo)});
  for (std::size_t k = 0; k < cells.size(); ++k) {
    const auto& c = *cells[k];
    // Odd modes dashed: modes that coincide (e.g. both inline-fetch modes) stay visible.
    std::string name = mode_name(c.mode);
    if (mode_tunes_cache(c.mode) && !c.by_batch.empty())
      name +=
          fmt::format(" (cache {}, {} CTAs)", c.grid[c.by_batch[0]].scenario.cache_blocks.value(),
                      c.grid[c.by_batch[0]].scenario.gather_ctas.value());
    svg::Series st{name, {}, {}, k % 2 == 1}, sl{name, {}, {}, k % 2 == 1};
    for (auto i : c.by_batch) {
      const auto& p = c.grid[i];
      st.x.push_back(static_cast<double>(p.scenario.batch.value()));
      sl.x.push_back(static_cast<double>(p.scenario.batch.value()));
      st.y.push_back(p.metrics.fits ? p.metrics.tokens_per_s : kNaN);
      sl.y.push_back(p.metrics.fits ? p.metrics.tpot_p99_ms : kNaN);
    }
    tput.series.push_back(st);
    lat.series.push_back(sl);
    if (c.largest_feasible) {
      const auto b = c.grid[*c.largest_feasible].scenario.batch.value();
      if (b < c.grid.back().scenario.batch.value())
        tput.vmarkers.push_back({static_cast<double>(b),
                                 fmt::format("{}: memory limit b{}", mode_name(c.mode), b),
                                 static_cast<int>(k)});
    }
  }
  return chart_or_note(tput, "no mode fits in memory at any batch searched") +
         chart_or_note(lat, "no mode fits in memory at any batch searched");
}

std::string breakdown_charts(const std::vector<const PlanCell*>& cells, const std::string& where) {
  svg::StackedBarChart gpu{"GPU memory at the chosen batch, " + where, "GiB"};
  svg::StackedBarChart host{"Pinned host memory at the chosen batch, " + where, "GiB"};
  // The mean step, split so that compute a transfer overlaps still shows.
  svg::StackedBarChart time{"Where the mean step time goes, " + where, "ms per step (mean)"};
  time.segments = {{"compute (incl. overlapped)", {}}, {"exposed transfer", {}}, {"other (host, gaps)", {}}};
  // One colour per memory use across both charts, weights at the bottom.
  std::vector<std::string> order = {"weights", "KV cache", "KV layer 0", "KV working set",
                                    "compressed keys", "activations", "workspace"};
  for (const auto* c : cells)
    if (const Point* a = anchor(*c))
      for (const auto* parts : {&a->metrics.gpu_parts, &a->metrics.host_parts})
        for (const auto& [name, bytes] : *parts)
          if (std::find(order.begin(), order.end(), name) == order.end()) order.push_back(name);
  for (std::size_t i = 0; i < order.size(); ++i) {
    gpu.segments.push_back({order[i], {}, static_cast<int>(i)});
    host.segments.push_back({order[i], {}, static_cast<int>(i)});
  }
  auto add = [&order](svg::StackedBarChart& ch, const std::vector<BytePart>& parts) {
    for (auto& seg : ch.segments) seg.values.push_back(0);
    for (const auto& [name, bytes] : parts) {
      const auto i = static_cast<std::size_t>(std::find(order.begin(), order.end(), name) -
                                              order.begin());
      ch.segments[i].values.back() += to_gib(bytes);
    }
  };
  std::size_t k = 0;
  for (const auto* c : cells) {
    const Point* a = anchor(*c);
    if (!a) continue;
    gpu.categories.push_back(bar_label(*c));
    host.categories.push_back(bar_label(*c));
    time.categories.push_back(bar_label(*c));
    add(gpu, a->metrics.gpu_parts);
    add(host, a->metrics.host_parts);
    time.segments[0].values.push_back(a->metrics.compute_ms);
    time.segments[1].values.push_back(a->metrics.exposed_h2d_ms);
    time.segments[2].values.push_back(a->metrics.host_ms);
    gpu.limit = svg::HLine{to_gib(a->metrics.gpu_capacity_bytes), "GPU capacity"};
    host.limit = svg::HLine{to_gib(a->metrics.host_capacity_bytes), "pinnable host memory"};
    ++k;
  }
  return chart_or_note(gpu, "no mode fits in memory") +
         chart_or_note(host, "no mode in this plan keeps its KV cache in host memory") +
         chart_or_note(time, "no mode fits in memory");
}

// Rings on the Pareto frontier at the recommendation's knee and maximum (one
// ring when they are the same point), labelled with which one was chosen.
void mark_choice(svg::LineChart& pareto, const std::vector<const PlanCell*>& cells, const Recommendation* rec) {
  if (!rec || !rec->knee || !rec->maximum) return;
  auto series_of = [&](const Point& p) {
    for (std::size_t k = 0; k < cells.size(); ++k)
      if (cells[k]->mode == p.scenario.mode) return static_cast<int>(k);
    return -1;
  };
  auto add = [&](const Point& p, const std::string& label) {
    pareto.points.push_back({p.metrics.tpot_p99_ms, p.metrics.tokens_per_s, label, series_of(p)});
  };
  const bool same = rec->knee->metrics.tokens_per_s == rec->maximum->metrics.tokens_per_s &&
                    rec->knee->metrics.tpot_p99_ms == rec->maximum->metrics.tpot_p99_ms;
  if (same) {
    add(*rec->knee, fmt::format("knee = maximum, b{} (chosen)", rec->knee->scenario.batch.value()));
    return;
  }
  add(*rec->knee, fmt::format("knee, b{}{}", rec->knee->scenario.batch.value(), rec->knee_chosen ? " (chosen)" : ""));
  add(*rec->maximum, fmt::format("maximum, b{}{}", rec->maximum->scenario.batch.value(), rec->knee_chosen ? "" : " (chosen)"));
}

std::string sensitivity_charts(const std::vector<const PlanCell*>& cells, const Recommendation* rec,
                               const std::string& where) {
  svg::LineChart hit{"GPU cache hit rate vs cache capacity, " + where,
                     "cache blocks per (layer, KV head)", "hit rate"};
  hit.y_from_zero = false;
  svg::LineChart pcie{"Throughput vs PCIe bandwidth, " + where, "H2D GB/s", "tokens/s"};
  svg::LineChart reuse{"Throughput vs block reuse (workload locality), " + where,
                       "P(block stays selected next step)", "tokens/s"};
  svg::LineChart pareto{"Throughput/latency Pareto frontier, " + where, "ms per token (p99)",
                        "tokens/s"};
  for (std::size_t k = 0; k < cells.size(); ++k) {
    const auto* c = cells[k];
    const bool dashed = k % 2 == 1;
    const std::string name = mode_name(c->mode);
    const Point* a = anchor(*c);
    const std::string at = a ? fmt::format("{} (b{})", name, a->scenario.batch.value()) : name;
    svg::Series h{at, {}, {}, dashed}, p{at, {}, {}, dashed}, r{at, {}, {}, dashed},
        f{name, {}, {}, dashed};
    std::size_t too_big = 0;  // cache sizes that do not fit: not drawn
    for (auto i : c->by_cache) {
      const bool fits = c->grid[i].metrics.fits;
      too_big += !fits;
      h.x.push_back(static_cast<double>(c->grid[i].scenario.cache_blocks.value()));
      h.y.push_back(fits ? c->grid[i].metrics.hit_rate : kNaN);
    }
    if (too_big > 0) h.name += fmt::format(", {} larger size{} out of memory", too_big, too_big > 1 ? "s" : "");
    for (const auto& pt : c->by_pcie) {
      p.x.push_back(pt.scenario.pcie_gbps.value());
      p.y.push_back(pt.metrics.fits ? pt.metrics.tokens_per_s : kNaN);
    }
    for (const auto& pt : c->by_reuse) {
      r.x.push_back(pt.scenario.reuse.value());
      r.y.push_back(pt.metrics.fits ? pt.metrics.tokens_per_s : kNaN);
    }
    for (auto i : c->pareto) {
      f.x.push_back(c->grid[i].metrics.tpot_p99_ms);
      f.y.push_back(c->grid[i].metrics.tokens_per_s);
    }
    // Keep colours aligned with the mode across charts: add every mode, even empty.
    hit.series.push_back(
        mode_tunes_cache(c->mode)
            ? h
            : svg::Series{name + (mode_offloads(c->mode) ? " (no GPU cache)" : " (KV on GPU)")});
    pcie.series.push_back(mode_offloads(c->mode) ? p : svg::Series{name + " (no PCIe traffic)"});
    reuse.series.push_back(r);
    pareto.series.push_back(f);
  }
  mark_choice(pareto, cells, rec);
  return chart_or_note(pareto, "no mode fits in memory") +
         chart_or_note(hit, "no mode in this plan keeps its KV cache in host memory") +
         chart_or_note(pcie, "no mode in this plan moves KV over PCIe") +
         chart_or_note(reuse, "no sparse mode in this plan");
}

const char* kStyle = R"(<style>
body{font-family:sans-serif;margin:24px;max-width:1360px;color:#222}
h1{margin-bottom:4px} .sub{color:#555;margin-top:0}
.rec{background:#eef6ee;border-left:6px solid #2ca02c;padding:10px 16px;margin:8px 0}
.rec.none{background:#fbeeee;border-left-color:#d62728}
.charts{display:grid;grid-template-columns:repeat(2,minmax(0,1fr));gap:12px}
.charts svg{width:100%;height:auto;border:1px solid #ddd}
.nodata{border:1px dashed #ccc;padding:16px;color:#666}
table{border-collapse:collapse;margin:8px 0;font-size:13px}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right} th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}
</style>)";

}  // namespace

std::string render_html(const Plan& plan) {
  const auto& r = plan.request;
  std::string o = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n";
  o += fmt::format("<title>foresight capacity plan: {}</title>\n{}\n</head><body>\n",
                   xml_escape(r.model), kStyle);
  o += fmt::format("<h1>Capacity plan: {}</h1>\n<p class=\"sub\">Hardware: {}. Target: p99 "
                   "per-token latency &le; {:g} ms. Evaluator: {}. Trace: {}.</p>\n",
                   xml_escape(r.model), xml_escape(fmt::format("{}", fmt::join(r.hardware, ", "))),
                   r.slo_tpot_ms, xml_escape(plan.evaluator.name), xml_escape(plan.evaluator.trace));
  o += "<p class=\"sub\"><b>How far this simulator was from real runs:</b></p>\n<ul>\n";
  for (const auto& f : plan.evaluator.fidelity) o += "<li>" + xml_escape(f) + "</li>\n";
  o += "</ul>\n";
  o += "<h2>Recommendation</h2>\n";
  for (const auto& rec : plan.recommendations)
    o += fmt::format("<div class=\"rec{}\">{}</div>\n", rec.choice ? "" : " none",
                     xml_escape(rec.sentence));
  if (r.hardware.size() > 1) {
    svg::LineChart cmp{"Best throughput within the target vs context, per GPU", "context (K tokens)",
                       "tokens/s"};
    for (const auto& hw : r.hardware) {
      svg::Series s{hw};
      for (const auto& rec : plan.recommendations)
        if (rec.hardware == hw) {
          s.x.push_back(static_cast<double>(rec.context_tokens) / 1024);
          s.y.push_back(rec.choice ? rec.choice->metrics.tokens_per_s : kNaN);
        }
      cmp.series.push_back(s);
    }
    o += "<div class=\"charts\">" + svg::render(cmp) + "</div>\n";
  }
  const std::int64_t default_cache = cache_slots(1, plan.topk_blocks);
  for (const auto& hw : r.hardware)
    for (auto ctx : r.contexts) {
      const auto cells = cells_of(plan, hw, ctx);
      const std::string where = fmt::format("{}, {} context", hw, context_label(ctx));
      o += fmt::format("<h2>{}</h2>\n<table><tr><th>mode</th><th>largest batch in memory</th>"
                       "<th>best batch within target</th><th>tokens/s</th><th>mean ms/token</th>"
                       "<th>p99 ms/token</th><th>TTFT ms</th><th>cache blocks</th><th>gather CTAs</th><th>hit rate</th>"
                       "<th>GPU GiB</th><th>host GiB</th><th>compute ms/step</th>"
                       "<th>exposed H2D ms/step</th><th>hidden H2D ms/step</th>"
                       "<th>critical path share</th></tr>\n",
                       xml_escape(where));
      for (const auto* c : cells) {
        const auto lf = c->largest_feasible ? std::to_string(c->grid[*c->largest_feasible].scenario.batch.value())
                                            : std::string("none fits");
        if (!c->best) {
          o += fmt::format("<tr><td>{}</td><td>{}</td><td colspan=\"14\">none meets the target"
                           "</td></tr>\n", mode_name(c->mode), lf);
          continue;
        }
        const auto& p = c->grid[*c->best];
        o += fmt::format(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.0f}</td><td>{:.1f}</td><td>{:.1f}</td><td>{}</td>"
            "<td>{}</td><td>{}</td><td>{:.2f}</td><td>{:.1f}</td><td>{:.1f}</td>"
            "<td>{}</td><td>{}</td></tr>\n",
            mode_name(c->mode), lf, p.scenario.batch.value(), p.metrics.tokens_per_s,
            p.metrics.tpot_mean_ms, p.metrics.tpot_p99_ms, ttft_cell(p.metrics), cache_cell(p.scenario, default_cache),
            ctas_cell(p.scenario), p.metrics.hit_rate, to_gib(p.metrics.gpu_bytes()),
            to_gib(p.metrics.host_bytes()), step_columns(p.metrics, "</td><td>"),
            xml_escape(bound_summary(p.metrics)));
      }
      o += "</table>\n<div class=\"charts\">\n";
      o += batch_charts(cells, r.slo_tpot_ms, where);
      o += breakdown_charts(cells, where);
      o += sensitivity_charts(cells, recommendation_for(plan, hw, ctx), where);
      o += "</div>\n";
    }
  o += "<h2>Assumptions</h2>\n<ul>\n";
  o += fmt::format(
      "<li>Evaluator: {}</li>\n<li>Trace: {}</li>\n<li>Workload locality: a "
      "non-forced block stays selected at the next step with probability {:g}{} "
      "(swept {} in the locality plot)</li>\n<li>Bar charts and sensitivity plots "
      "are taken at each mode's best batch within the target (or its largest batch "
      "in memory when none meets it)</li>\n<li>{}</li>\n<li>{}</li>\n",
      xml_escape(plan.evaluator.name), xml_escape(plan.evaluator.trace), r.default_reuse,
      xml_escape(reuse_source(r.default_reuse)),
      xml_escape(fmt::format("{}", fmt::join(r.reuse, ", "))), xml_escape(latency_note()),
      xml_escape(choice_rule(r.knee_min_gain)));
  if (const auto t = token_locality_note(r); !t.empty()) o += "<li>" + xml_escape(t) + "</li>\n";
  o += "</ul>\n<h3>Measured inputs</h3>\n<ul>\n";
  for (const auto& m : plan.evaluator.measured) o += "<li>" + xml_escape(m) + "</li>\n";
  o += "</ul>\n<h3>Modelled, not measured</h3>\n<ul>\n";
  for (const auto& m : plan.evaluator.modelled) o += "<li>" + xml_escape(m) + "</li>\n";
  o += "</ul>\n</body></html>\n";
  return o;
}

}  // namespace foresight::report

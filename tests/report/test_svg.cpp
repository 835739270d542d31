// SVG charts and the HTML report are well-formed and draw what they should.
#include <cmath>
#include <limits>
#include <string>

#include "catch.hpp"
#include "fake_evaluator.hpp"
#include "foresight/report/plan.hpp"
#include "foresight/report/render.hpp"
#include "foresight/report/svg_chart.hpp"
#include "xml_check.hpp"

using namespace foresight::report;
using foresight::test::xml_problem;

namespace {
std::size_t count(const std::string& s, const std::string& part) {
  std::size_t n = 0;
  for (auto at = s.find(part); at != std::string::npos; at = s.find(part, at + part.size())) ++n;
  return n;
}
}  // namespace

TEST_CASE("the XML check itself rejects broken markup") {
  REQUIRE(xml_problem("<svg><g></g></svg>").empty());
  REQUIRE_FALSE(xml_problem("<svg><g></svg>").empty());
  REQUIRE_FALSE(xml_problem("<svg a=b></svg>").empty());
  REQUIRE_FALSE(xml_problem("<svg>a & b</svg>").empty());
  REQUIRE_FALSE(xml_problem("<svg>").empty());
}

TEST_CASE("line chart: well-formed, one path per series, target and marker drawn") {
  svg::LineChart c{"Throughput <&> \"test\"", "batch", "tokens/s", true};
  c.series.push_back({"a", {1, 2, 4, 8}, {10, 20, 35, 50}});
  c.series.push_back({"b", {1, 2, 4, 8}, {5, 12, std::numeric_limits<double>::quiet_NaN(), 30}, true});
  c.hlines.push_back({40, "target 40 ms"});
  c.vmarkers.push_back({4, "a: memory limit", 0});
  const auto s = svg::render(c);
  INFO(s);
  REQUIRE(xml_problem(s).empty());
  REQUIRE(s.find("Throughput &lt;&amp;&gt; &quot;test&quot;") != std::string::npos);
  // Series b has a gap: its path restarts with a second M.
  REQUIRE(count(s, "<path d=\"M") == 2);
  REQUIRE(count(s, " M") + count(s, "\"M") >= 3);
  REQUIRE(count(s, "<circle") == 7);
  REQUIRE(count(s, "class=\"target\"") == 1);
  REQUIRE(count(s, "class=\"marker\"") == 1);
  REQUIRE(s.find("(log scale)") != std::string::npos);
  REQUIRE(s.find(">8</text>") != std::string::npos);  // a power-of-two tick
}

TEST_CASE("stacked bars: one rect per non-zero segment, limit line") {
  svg::StackedBarChart c{"Memory", "GiB", {"x\nbatch 1", "y"}};
  c.segments = {{"weights", {16, 16}}, {"KV", {40, 0}}};
  c.limit = svg::HLine{79, "GPU capacity"};
  const auto s = svg::render(c);
  REQUIRE(xml_problem(s).empty());
  REQUIRE(count(s, "<rect x=") == 3 + 2 /* legend swatches */);
  REQUIRE(count(s, "<tspan") == 3);
  REQUIRE(count(s, "class=\"target\"") == 1);
}

TEST_CASE("line chart: a point marker is a labelled ring at its point; off-chart values are skipped") {
  svg::LineChart c{"Pareto", "ms", "tokens/s"};
  c.series.push_back({"a", {1, 2}, {10, 20}});
  c.points.push_back({2, 20, "knee <b2> (chosen)", 0});
  c.points.push_back({std::numeric_limits<double>::quiet_NaN(), 5, "lost", -1});
  const auto s = svg::render(c);
  INFO(s);
  REQUIRE(xml_problem(s).empty());
  REQUIRE(count(s, "class=\"point-marker\"") == 1);
  REQUIRE(s.find("knee &lt;b2&gt; (chosen)") != std::string::npos);
  REQUIRE(s.find("lost") == std::string::npos);
}

TEST_CASE("the HTML report rings the knee and the maximum on each Pareto chart") {
  foresight::test::FakeEvaluator ev;
  PlanRequest req;
  req.hardware = {"gpu"};
  req.contexts = {4096, 8192};
  req.batches = {1, 2, 4, 8, 16};
  const Plan plan = run_plan(req, ev);
  const auto html = render_html(plan);
  std::size_t rings = 0, charts = 0;
  for (const auto& r : plan.recommendations) {
    if (!r.knee || !r.maximum) continue;
    const bool same = r.knee->metrics.tokens_per_s == r.maximum->metrics.tokens_per_s &&
                      r.knee->metrics.tpot_p99_ms == r.maximum->metrics.tpot_p99_ms;
    rings += same ? 1 : 2;
    ++charts;
  }
  REQUIRE(charts > 0);
  REQUIRE(count(html, "class=\"point-marker\"") == rings);
  REQUIRE(count(html, " (chosen)</text>") == charts);  // one chosen point per chart
}

TEST_CASE("nice ticks cover the range with 1/2/5 steps") {
  REQUIRE(svg::nice_ticks(0, 10) == std::vector<double>{0, 2, 4, 6, 8, 10});
  REQUIRE(svg::nice_ticks(0, 0.97).front() == 0);
  REQUIRE(svg::nice_ticks(0, 0.97).back() >= 0.8);
}

TEST_CASE("the HTML report: every SVG well-formed and drawn") {
  foresight::test::FakeEvaluator ev;
  PlanRequest req;
  req.hardware = {"gpu-a", "gpu-b"};
  req.contexts = {4096};
  req.batches = {1, 2, 4, 8};
  const auto html = render_html(run_plan(req, ev));
  std::size_t svgs = 0;
  for (auto at = html.find("<svg"); at != std::string::npos; at = html.find("<svg", at + 1)) {
    const auto end = html.find("</svg>", at);
    REQUIRE(end != std::string::npos);
    const auto one = html.substr(at, end + 6 - at);
    INFO(one.substr(0, 300));
    REQUIRE(xml_problem(one).empty());
    REQUIRE((one.find("<path d=\"M") != std::string::npos ||
             one.find("<rect x=") != std::string::npos));
    ++svgs;
  }
  // 1 GPU comparison + 2 x (throughput, latency, GPU mem, host mem, time, Pareto,
  // hit rate, PCIe, locality).
  REQUIRE(svgs == 1 + 2 * 9);
  REQUIRE(html.find("<script") == std::string::npos);  // self-contained, no scripts
  REQUIRE(html.find("http://") == html.find("http://www.w3.org/2000/svg"));
  const auto md = render_markdown(run_plan(req, ev));
  REQUIRE(md.find("## Recommendations") != std::string::npos);
  REQUIRE(md.find("| dense |") != std::string::npos);
}

TEST_CASE("a chart with nothing to draw becomes a note, not an empty plot") {
  foresight::test::FakeEvaluator ev;
  PlanRequest req;
  req.hardware = {"gpu"};
  req.modes = {foresight::config::Mode::dense};
  req.contexts = {4096};
  req.batches = {1, 2};
  const auto html = render_html(run_plan(req, ev));
  // Host memory, hit rate, PCIe and locality have no data without offload or sparsity.
  REQUIRE(count(html, "class=\"nodata\"") == 4);
  REQUIRE(count(html, "<svg") == 5);
  REQUIRE(svg::has_data(svg::LineChart{}) == false);
}

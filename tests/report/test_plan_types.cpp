// report::resolve_point: the one place a plan point's unset knobs take the
// hardware's and model's defaults.
#include "catch.hpp"
#include "foresight/config/load.hpp"
#include "foresight/report/analytic_evaluator.hpp"
#include "foresight/report/plan_types.hpp"

using namespace foresight;

namespace {
config::Scenario point(config::Mode mode, std::int64_t batch) {
  config::Scenario s;
  s.hardware = "h100-sxm";
  s.mode = mode;
  s.context = 32768;
  s.batch = batch;
  return s;
}
}  // namespace

TEST_CASE("resolve_point: unset knobs take the hardware's and model's defaults") {
  const auto hw = config::load_hardware("h100-sxm");
  const auto p = report::resolve_point(point(config::Mode::sparse_offload, 32), 96, hw);
  CHECK(p.run.mode == config::Mode::sparse_offload);
  CHECK(p.run.batch == 32);
  CHECK(p.context_tokens == 32768);
  CHECK(p.run.context_tokens == std::vector<std::int64_t>(32, 32768));
  CHECK(p.run.topk_blocks == 96);
  CHECK(p.run.cache_blocks == 0);  // RunConfig's top-k + 1
  CHECK(p.run.gather_ctas == config::default_gather_ctas(32));
  CHECK(p.run.prefetch == config::mode_traits(config::Mode::sparse_offload).prefetch);
  CHECK(p.run.workload.reuse == config::WorkloadConfig{}.reuse);
  CHECK(p.pcie_gbps == hw.h2d_gbps);
  CHECK(p.run.backend == "cuda");  // the run `foresight run` would make
}

TEST_CASE("resolve_point: set knobs win") {
  const auto hw = config::load_hardware("h100-sxm");
  auto s = point(config::Mode::sparda, 4);
  s.cache_blocks = 200;
  s.gather_ctas = 8;
  s.pcie_gbps = 12.5;
  s.reuse = 0.5;
  s.prefetch = config::Prefetch::none;
  const auto p = report::resolve_point(s, 96, hw);
  CHECK(p.run.cache_blocks == 200);
  CHECK(p.run.gather_ctas == 8);
  CHECK(p.pcie_gbps == 12.5);
  CHECK(p.run.workload.reuse == 0.5);
  CHECK(p.run.prefetch == config::Prefetch::none);
}

TEST_CASE("resolve_point: a point without mode, batch, context or hardware is refused by name") {
  const auto hw = config::load_hardware("h100-sxm");
  for (const char* knob : {"hardware", "mode", "batch", "context"}) {
    auto s = point(config::Mode::dense, 1);
    const std::string name = knob;
    if (name == "hardware") s.hardware.reset();
    if (name == "mode") s.mode.reset();
    if (name == "batch") s.batch.reset();
    if (name == "context") s.context.reset();
    CHECK_THROWS_WITH(report::resolve_point(s, 96, hw), Catch::Contains("'" + name + "' must be set"));
  }
}

TEST_CASE("resolve_point: the DSA modes take the dsa-public token locality") {
  const auto hw = config::load_hardware("h100-sxm");
  const auto preset = config::workload_preset("dsa-public", "test");
  const auto p = report::resolve_point(point(config::Mode::dsa_offload, 4), 96, hw);
  CHECK(p.run.workload.reuse == preset.reuse);
  CHECK(p.run.workload.cross_layer == preset.cross_layer);
  auto s = point(config::Mode::dsa, 4);
  s.reuse = 0.5;  // a swept reuse keeps the preset's cross-layer overlap
  const auto q = report::resolve_point(s, 96, hw);
  CHECK(q.run.workload.reuse == 0.5);
  CHECK(q.run.workload.cross_layer == preset.cross_layer);
}

TEST_CASE("analytic evaluator: dsa reads KV in HBM, dsa-offload gathers every top-k token inline") {
  const auto hw = config::load_hardware("h100-sxm");
  const report::AnalyticEvaluator ev(config::load_model("minicpm4.1-8b"), {{hw.name, hw}});
  const auto on_gpu = ev.evaluate(point(config::Mode::dsa, 4));
  CHECK(on_gpu.h2d_total_ms == 0);
  CHECK(on_gpu.hit_rate == 1);
  auto s = point(config::Mode::dsa_offload, 4);
  const auto off = ev.evaluate(s);
  CHECK(off.hit_rate == 0);
  CHECK(off.h2d_total_ms > 0);
  CHECK(off.exposed_h2d_ms == off.h2d_total_ms);  // inline: nothing hides it
  // Half the link: the bytes take twice as long (the per-transfer latency stays).
  s.pcie_gbps = hw.h2d_gbps / 2;
  const auto slow = ev.evaluate(s);
  const double latency_ms = 32 * hw.h2d_latency_us * 1e-3;  // one gather per layer
  CHECK(slow.h2d_total_ms - latency_ms == Approx(2 * (off.h2d_total_ms - latency_ms)));
  // Four times the context: the top-k read stays, the indexer scans 4x the keys.
  auto longer = point(config::Mode::dsa, 4);
  longer.context = 4 * 32768;
  const auto l = ev.evaluate(longer);
  CHECK(l.compute_ms > on_gpu.compute_ms);
  CHECK(l.compute_ms < 2 * on_gpu.compute_ms);
}

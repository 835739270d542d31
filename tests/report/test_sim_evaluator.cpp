// The simulator-backed evaluator on synthesized traces of the tiny model:
// metrics present and consistent, what-ifs move them the right way, and the
// plan on it is deterministic whatever the thread count.
#include <algorithm>
#include <cmath>

#include "catch.hpp"
#include "foresight/config/load.hpp"
#include "foresight/report/plan.hpp"
#include "foresight/report/render.hpp"
#include "foresight/report/sim_evaluator.hpp"

using namespace foresight;
using namespace foresight::report;

namespace {
SimEvaluator tiny_evaluator() {
  auto hw = config::load_hardware("h100-sxm");
  return SimEvaluator(config::load_model("tiny"), {{hw.name, hw}}, SimEvaluatorOptions{2, 4, 1, 0, 1});
}
config::Scenario scenario(config::Mode mode, std::int64_t batch) {
  config::Scenario s;
  s.hardware = "h100-sxm";
  s.mode = mode;
  s.context = 2048;
  s.batch = batch;
  s.cache_blocks = 9;
  s.gather_ctas = 16;
  s.reuse = 0.85;
  return s;
}
}  // namespace

TEST_CASE("sim evaluator: steady-state metrics of an offload mode") {
  const auto ev = tiny_evaluator();
  const auto m = ev.evaluate(scenario(config::Mode::sparda_no_prefetch, 2));
  REQUIRE(m.fits);
  REQUIRE(m.tokens_per_s > 0);
  REQUIRE(m.tpot_p50_ms > 0);
  REQUIRE(m.tpot_p99_ms >= m.tpot_p50_ms);
  // tokens/s = batch / mean step; the mean lies between p50-ish bounds.
  REQUIRE(2.0 / (m.tokens_per_s * 1e-3) <= m.tpot_p99_ms * (1 + 1e-9));
  REQUIRE(m.hit_rate > 0);
  REQUIRE(m.hit_rate < 1);
  REQUIRE(m.h2d_total_ms > 0);
  REQUIRE(m.host_bytes() > 0);
  REQUIRE(std::abs(m.bound_compute + m.bound_pcie + m.bound_host - 1) < 1e-6);
  // The mean step = compute + exposed transfer + other; all compute counts,
  // so at least the compute on the critical path.
  REQUIRE(std::abs(m.tpot_mean_ms - 2.0 / (m.tokens_per_s * 1e-3)) < 1e-9 * m.tpot_mean_ms);
  REQUIRE(m.compute_ms > 0);
  REQUIRE(m.compute_ms >= m.bound_compute * m.tpot_mean_ms * (1 - 1e-9));
  REQUIRE(m.compute_ms + m.exposed_h2d_ms <= m.tpot_mean_ms * (1 + 1e-9));
  REQUIRE(std::abs(m.compute_ms + m.exposed_h2d_ms + m.host_ms - m.tpot_mean_ms) < 1e-9 * m.tpot_mean_ms);
  REQUIRE(ev.traces_built() == 1);
}

TEST_CASE("sim evaluator: what-ifs move metrics the right way") {
  const auto ev = tiny_evaluator();
  auto s = scenario(config::Mode::sparda_no_prefetch, 2);
  const auto base = ev.evaluate(s);
  s.pcie_gbps = 5;  // a tenth of the link: transfers, inline, get slower
  const auto slow = ev.evaluate(s);
  REQUIRE(slow.tpot_p50_ms > base.tpot_p50_ms);
  s.pcie_gbps.reset();  // the hardware's again
  s.batch = 8;
  const auto big = ev.evaluate(s);
  REQUIRE(big.tokens_per_s > base.tokens_per_s);
  REQUIRE(big.gpu_bytes() > base.gpu_bytes());
  REQUIRE(ev.traces_built() == 1);  // all what-ifs of one synthesized trace
  s.reuse = 0.5;                    // another locality needs another trace
  REQUIRE(ev.evaluate(s).hit_rate < big.hit_rate);
  REQUIRE(ev.traces_built() == 2);
  // Dense keeps the KV on the GPU: no host memory, hit rate 1.
  const auto dense = ev.evaluate(scenario(config::Mode::dense, 2));
  REQUIRE(dense.host_bytes() == 0);
  REQUIRE(dense.hit_rate == 1);
}

TEST_CASE("sim evaluator: a batch beyond memory is reported out of memory, not an error") {
  const auto ev = tiny_evaluator();
  auto s = scenario(config::Mode::dense, 1);
  s.batch = 1 << 22;  // the tiny model's KV times four million sequences
  const auto m = ev.evaluate(s);
  REQUIRE_FALSE(m.fits);
  REQUIRE(m.gpu_bytes() > m.gpu_capacity_bytes);
}

TEST_CASE("sim evaluator: the plan is deterministic whatever the thread count") {
  const auto ev1 = tiny_evaluator();
  const auto ev2 = tiny_evaluator();
  PlanRequest req;
  req.model = "tiny";
  req.hardware = {"h100-sxm"};
  req.modes = {config::Mode::sparse, config::Mode::sparda};
  req.contexts = {2048};
  req.batches = {1, 2, 4};
  req.cache_factors = {1, 2};
  req.gather_ctas = {8, 16};
  req.reuse = {0.5, 0.85};
  req.threads = 1;
  const auto one = plan_to_json(run_plan(req, ev1)).dump();
  req.threads = 3;
  REQUIRE(plan_to_json(run_plan(req, ev2)).dump() == one);
}

TEST_CASE("sim evaluator: the header names the recorded traces that ship, or says none does") {
  // traces/samples holds real H200 runs of MiniCPM4.1-8B (and synthetic tiny traces).
  const auto h200 = recorded_traces(shipped_traces_dir(), "minicpm4.1-8b", "h200");
  REQUIRE(h200.size() == 6);  // dense, dsa, sparda, sparda-no-offload, sparse, sparse-offload
  CHECK(std::any_of(h200.begin(), h200.end(), [](const auto& p) { return p.filename() == "h200-sparda-b16-32k.h5"; }));
  CHECK(recorded_traces(shipped_traces_dir(), "tiny", "h100-sxm").empty());  // synthetic ones are not named
  auto hw = config::load_hardware("h200");
  const SimEvaluator ev(config::load_model("minicpm4.1-8b"), {{hw.name, hw}});
  const auto label = ev.info().trace;
  CHECK(label.find("h200-sparse-offload-b16-32k.h5") != std::string::npos);
  CHECK(label.find("--trace") != std::string::npos);
  CHECK(label.find("no shipped trace") == std::string::npos);
  // Where none ships, the header says so for that GPU.
  SimEvaluatorOptions o;
  o.samples_dir = std::filesystem::temp_directory_path() / "foresight-no-traces-here";
  std::filesystem::create_directories(o.samples_dir);
  const SimEvaluator none(config::load_model("minicpm4.1-8b"), {{hw.name, hw}}, o);
  CHECK(none.info().trace.find("No recorded trace of minicpm4.1-8b on h200 ships") != std::string::npos);
}

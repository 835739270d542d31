// `profile --extend`: DSA traces add their stage tables to a calibration and
// leave everything else as it was; the tables hold the traces' op times.
#include <cmath>

#include "catch.hpp"
#include "foresight/config/load.hpp"
#include "foresight/sim/calibrate.hpp"
#include "foresight/sim/synth.hpp"
#include "foresight/trace/steps.hpp"

using namespace foresight;
using Catch::Matchers::Contains;

namespace {
// A synthesized DSA trace of the calibration's model on the H200.
trace::Trace dsa_trace(config::Mode mode, std::int64_t batch) {
  sim::SynthOptions o;
  o.model = config::load_model("minicpm4.1-8b");
  o.hardware = config::load_hardware("h200");
  o.run.mode = mode;
  o.run.batch = batch;
  o.run.context_tokens.assign(static_cast<std::size_t>(batch), 8192);
  o.run.decode_steps = 3;
  o.run.warmup_steps = 1;
  o.run.prefill = "none";
  o.run.topk_blocks = o.model.sparse.topk_blocks;
  o.run.workload = config::workload_preset("dsa-public", "test");
  trace::Trace t = sim::synthesize(o);
  t.header.run.backend = "cuda";  // as if recorded by the runtime with CUDA graphs (profile uses only those)
  t.header.run.cuda_graph = true;
  return t;
}

// Mean duration of the steady decode ops of `stage` (back to back on main
// in a synthesized trace, so each op's interval is its duration).
double mean_op_ns(const trace::Trace& t, const std::string& stage) {
  double sum = 0, n = 0;
  for (const auto& op : t.ops)
    if (t.stages[op.stage] == stage && trace::is_steady_step(t.header, op.phase, op.step)) {
      sum += static_cast<double>(op.end_ns - op.start_ns);
      n += 1;
    }
  return sum / n;
}
}  // namespace

TEST_CASE("profile --extend adds the DSA stage tables and keeps the rest", "[sim][calibrate]") {
  // The shipped calibration without its DSA tables, as before they were measured.
  config::Calibration base = config::load_calibration(config::configs_dir() / "calibration" / "h200.json");
  for (const char* k : {"index_score", "token_topk", "attention/dsa", "qkvf_gemm/dsa", "rope/dsa",
                        "d2d_gather/token", "h2d_gather/token"})
    base.stages.erase(k);
  sim::CalibrationInputs in;
  in.traces = {dsa_trace(config::Mode::dsa, 1), dsa_trace(config::Mode::dsa, 4),
               dsa_trace(config::Mode::dsa_offload, 1)};
  in.names = {"dsa-b1", "dsa-b4", "dsa-offload-b1"};
  in.meta.hardware = "h200";
  in.meta.command = "test";
  in.base = base;
  const config::Calibration cal = sim::fit_calibration(in);
  for (const char* k : {"index_score", "token_topk", "attention/dsa", "qkvf_gemm/dsa", "rope/dsa",
                        "d2d_gather/token", "h2d_gather/token"}) {
    INFO(k);
    REQUIRE(cal.stages.count(k) == 1);
    CHECK(base.stages.count(k) == 0);
  }
  for (const auto& [k, table] : base.stages) {
    INFO(k);
    REQUIRE(cal.stages.count(k) == 1);
    CHECK(cal.stages.at(k).ns == table.ns);  // o_proj, mlp, ... run in DSA too: the base's grid stays
  }
  CHECK(cal.step_overhead.ns == base.step_overhead.ns);
  CHECK(cal.gather.gbps == base.gather.gbps);
  CHECK(cal.eager_launch_ns == base.eager_launch_ns);
  CHECK(cal.gather_slowdown.ns == base.gather_slowdown.ns);
  // The tables hold the traces' own op times at their (batch, context).
  const double idx = mean_op_ns(in.traces[1], "index_score");
  CHECK(cal.stages.at("index_score").at(4, 8192) == Approx(idx).epsilon(0.01));
  const double h2d = mean_op_ns(in.traces[2], "h2d_gather");
  CHECK(cal.stages.at("h2d_gather/token").at(1, 8192) == Approx(h2d).epsilon(0.01));
}

TEST_CASE("profile --extend refuses a calibration of another model", "[sim][calibrate]") {
  sim::CalibrationInputs in;
  in.traces = {dsa_trace(config::Mode::dsa, 1)};
  in.meta.hardware = "h200";
  in.base = config::load_calibration(config::configs_dir() / "calibration" / "h200.json");
  in.base->model = "llama3.1-8b";
  CHECK_THROWS_WITH(sim::fit_calibration(in), Contains("--extend") && Contains("llama3.1-8b"));
}

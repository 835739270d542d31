// `run`, `replay` and `plan` agree on what fits in memory: over every mode x
// contexts 8K..128K x batches 1..128 on every shipped hardware config, each
// module is asked through its own public entry point (the runtime's memory
// plan, the simulator's memory model and replay, the capacity plan's
// evaluators), so a second copy of the footprint in any of them shows here.
// No GPU needed.
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "catch.hpp"
#include "foresight/config/load.hpp"
#include "foresight/report/analytic_evaluator.hpp"
#include "foresight/report/sim_evaluator.hpp"
#include "foresight/runtime/memory_plan.hpp"
#include "foresight/sim/memory_model.hpp"
#include "foresight/sim/replay.hpp"
#include "foresight/sim/synth.hpp"

using namespace foresight;

namespace {
const std::vector<std::int64_t> kContexts = {8192, 16384, 32768, 65536, 131072};
const std::vector<std::int64_t> kBatches = {1, 2, 4, 8, 16, 32, 64, 128};

std::vector<config::HardwareConfig> shipped_hardware() {
  std::vector<config::HardwareConfig> hw;
  for (const auto& e : std::filesystem::directory_iterator(std::string(FORESIGHT_TEST_CONFIGS) + "/hardware"))
    if (e.path().extension() == ".toml") hw.push_back(config::load_hardware(e.path().string()));
  return hw;
}

// The RunConfig `foresight run --mode M --batch B --context C` builds (cli/cmd_run.cpp defaults).
config::RunConfig cli_run(const config::ModelConfig& m, config::Mode mode, std::int64_t batch, std::int64_t ctx) {
  config::RunConfig r;
  r.mode = mode;
  r.backend = "cuda";
  r.batch = batch;
  r.context_tokens.assign(static_cast<std::size_t>(batch), ctx);
  r.decode_steps = 4;
  r.warmup_steps = 1;
  r.prefill = "real";
  r.prefill_chunk_tokens = 512;
  r.topk_blocks = m.sparse.topk_blocks;
  r.gather_ctas = config::default_gather_ctas(batch);
  return r;
}

// A plan point as `foresight run` without --gather-ctas or --cache-blocks
// would run it: those knobs unset (report::resolve_point's defaults).
config::Scenario plan_scenario(const std::string& hw, config::Mode mode, std::int64_t batch, std::int64_t ctx) {
  config::Scenario s;
  s.hardware = hw;
  s.mode = mode;
  s.batch = batch;
  s.context = ctx;
  return s;
}

// A trace recorded the way `foresight run` would (batch 1), for replay what-ifs.
trace::Trace recorded(const config::ModelConfig& m, const config::HardwareConfig& hw, config::Mode mode) {
  sim::SynthOptions o;
  o.model = m;
  o.hardware = hw;
  o.run = cli_run(m, mode, 1, 8192);
  o.run.backend = "synth";
  o.run.selection_source = "workload";
  o.run.prefetch = config::mode_traits(mode).prefetch;
  return sim::synthesize(o);
}
}  // namespace

TEST_CASE("run, replay and plan agree on feasibility over the grid", "[agreement]") {
  const auto m = config::load_model("minicpm4.1-8b");
  const auto all_hw = shipped_hardware();
  REQUIRE(all_hw.size() >= 4);
  std::size_t points = 0, fitting = 0;
  for (const auto& hw : all_hw) {
    const report::AnalyticEvaluator plan(m, {{hw.name, hw}});
    for (config::Mode mode : config::kAllModes) {
      for (auto ctx : kContexts) {
        for (auto batch : kBatches) {
          INFO(hw.name << " " << config::to_string(mode) << " context " << ctx << " batch " << batch);
          const auto r = cli_run(m, mode, batch, ctx);
          const bool run_fits = runtime::plan_memory(m, r, hw).fits();
          CHECK(sim::plan_memory(m, hw, r).fits == run_fits);
          CHECK(plan.evaluate(plan_scenario(hw.name, mode, batch, ctx)).fits == run_fits);
          ++points;
          fitting += run_fits ? 1 : 0;
        }
      }
    }
  }
  // The grid is only a test if it has both sides.
  CHECK(fitting > points / 10);
  CHECK(fitting < points * 9 / 10);
}

TEST_CASE("at the runtime's largest batch, replay and the simulator-backed plan agree", "[agreement]") {
  const auto m = config::load_model("minicpm4.1-8b");
  const auto all_hw = shipped_hardware();
  std::map<std::string, config::HardwareConfig> by_name;
  for (const auto& hw : all_hw) by_name[hw.name] = hw;
  report::SimEvaluatorOptions so;
  so.synth_batch = 1;
  so.decode_steps = 2;
  const report::SimEvaluator plan(m, by_name, so);
  for (config::Mode mode : config::kAllModes) {
    // One recording per mode on the first hardware; the others are what-ifs.
    const sim::Replayer replay(recorded(m, all_hw.front(), mode), "recorded",
                               [&](const std::string& name) { return by_name.at(name); });
    for (const auto& hw : all_hw) {
      for (std::int64_t ctx : {std::int64_t{8192}, std::int64_t{131072}}) {
        const std::int64_t best = runtime::largest_feasible_batch(m, cli_run(m, mode, 1, ctx), hw, mode, ctx);
        for (std::int64_t batch : {best, best + 1}) {
          if (batch < 1) continue;
          INFO(hw.name << " " << config::to_string(mode) << " context " << ctx << " batch " << batch);
          const bool run_fits = batch == best;
          config::Scenario w;
          w.hardware = hw.name;
          w.batch = batch;
          w.context = ctx;
          w.gather_ctas = config::default_gather_ctas(batch);
          CHECK((replay.run(w).status == "ok") == run_fits);
          CHECK(plan.evaluate(plan_scenario(hw.name, mode, batch, ctx)).fits == run_fits);
        }
      }
    }
  }
}

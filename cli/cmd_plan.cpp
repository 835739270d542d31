// `foresight plan`: capacity report. Evaluates a grid of what-if scenarios
// (mode x batch x cache size x gather CTAs, plus PCIe and locality
// sensitivities) for one model on one or more GPUs, searches it, and writes
// report.html, report.md and plan.json.
#include <chrono>
#include <map>
#include <memory>
#include <stdexcept>

#include <fmt/core.h>

#include "command.hpp"
#include "progress.hpp"
#include "sizes.hpp"
#include "foresight/config/load.hpp"
#include "foresight/config/scenario.hpp"
#include "foresight/report/analytic_evaluator.hpp"
#include "foresight/report/render.hpp"
#ifdef FORESIGHT_REPORT_HAS_SIM
#include "foresight/report/sim_evaluator.hpp"
#include "foresight/trace/reader.hpp"
#endif

namespace foresight::cli {
namespace {

struct PlanOptions {
  std::string model = "minicpm4.1-8b";
  std::vector<std::string> hardware = {"h200"};  // the GPU with a shipped calibration
  std::string trace;
  std::vector<std::string> contexts = {"32K", "64K", "96K", "128K"};
  double slo_tpot_ms = 50;
  std::vector<std::string> modes = {"dense", "sparse", "sparse-offload", "sparda-no-prefetch",
                                    "sparda"};
  std::vector<std::int64_t> batches = {1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128};
#ifdef FORESIGHT_REPORT_HAS_SIM
  std::string evaluator = "sim";
#else
  std::string evaluator = "analytic";
#endif
  std::int64_t synth_batch = 4;
  std::int64_t steps = 8;
  int threads = 0;
  std::string out = "foresight-plan";
};

// The request from the options; throws std::invalid_argument or
// config::ConfigError naming the option.
report::PlanRequest plan_request(const PlanOptions& o) {
  using namespace foresight::report;
  PlanRequest req;
  req.model = o.model;
  req.hardware = o.hardware;
  req.slo_tpot_ms = o.slo_tpot_ms;
  req.batches = o.batches;
  req.threads = o.threads;
  req.contexts.clear();
  req.modes.clear();
  for (const auto& c : o.contexts)  // "128K", "32768,65536": the parsing every command shares
    for (auto v : parse_token_list(c, "--context")) req.contexts.push_back(v);
  for (const auto& m : o.modes) req.modes.push_back(config::parse_mode(m, "--modes"));
  if (!(o.slo_tpot_ms > 0)) throw std::invalid_argument("--slo-tpot-ms must be positive");
  for (auto b : o.batches) {  // the batch knob's own check (1-65536), as in replay and sweep
    config::Scenario probe;
    config::set_knob(probe, "batch", b, "--batches", config::KnobScope::plan);
  }
  if (o.evaluator != "sim" && o.evaluator != "analytic")
    throw std::invalid_argument("--evaluator '" + o.evaluator + "': expected sim or analytic");
#ifndef FORESIGHT_REPORT_HAS_SIM
  if (o.evaluator == "sim" || !o.trace.empty())
    throw std::invalid_argument("this build has no simulator: use --evaluator analytic and no --trace");
#endif
  if (!o.trace.empty() && o.evaluator != "sim") throw std::invalid_argument("--trace needs --evaluator sim");
  if (o.synth_batch <= 0 || o.steps <= 0)
    throw std::invalid_argument("--synth-batch and --steps must be positive");
  return req;
}

// The evaluator the options ask for; with --trace it also fixes the request's
// mode and the model.
std::unique_ptr<report::Evaluator> make_evaluator(const PlanOptions& o, report::PlanRequest& req,
                                                  config::ModelConfig& model,
                                                  const std::map<std::string, config::HardwareConfig>& hw) {
  using namespace foresight::report;
#ifdef FORESIGHT_REPORT_HAS_SIM
  if (!o.trace.empty()) {
    auto sim = std::make_unique<SimEvaluator>(o.trace, hw);
    // A recorded trace fixes the mode and the workload's locality.
    req.modes = {*sim->recorded_mode()};
    model = sim->model();
    req.reuse.clear();
    return sim;
  }
  if (o.evaluator == "sim") {
    SimEvaluatorOptions so;
    so.synth_batch = o.synth_batch;
    so.decode_steps = o.steps;
    return std::make_unique<SimEvaluator>(model, hw, so);
  }
#else
  (void)o;
  (void)req;
#endif
  return std::make_unique<AnalyticEvaluator>(model, hw);
}

// A plan option's help: the knob's own text (config::scenario_knobs()), then
// what the plan does with several values and its default.
std::string plan_help(const char* knob, const char* plan) { return config::knob(knob).help + "; " + plan; }

int run_plan_command(const PlanOptions& o) {
  using namespace foresight::report;
  PlanRequest req = plan_request(o);
  config::ModelConfig model = config::load_model(o.model);
  std::map<std::string, config::HardwareConfig> hw;
  req.hardware.clear();
  for (const auto& h : o.hardware) {
    auto cfg = config::load_hardware(h);
    req.hardware.push_back(cfg.name);
    hw[cfg.name] = std::move(cfg);
  }
  const auto ev = make_evaluator(o, req, model, hw);
  req.model = model.name;
  for (auto c : req.contexts)
    if (c > model.max_context)
      throw std::invalid_argument(
          fmt::format("--context {} exceeds {}'s max_context {}", c, model.name, model.max_context));
  const auto t0 = std::chrono::steady_clock::now();
  const Plan plan = run_plan(req, *ev, progress_bar("plan"));
  write_reports(plan, o.out);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (const auto& r : plan.recommendations) fmt::print("{}\n", r.sentence);
  fmt::print("wrote {0}/report.html, {0}/report.md, {0}/plan.json in {1:.2f} s\n", o.out, s);
  return kExitOk;
}

const CommandRegistrar reg{Command{
    "plan", 40, [](CLI::App& app) -> std::function<int()> {
      auto opts = std::make_shared<PlanOptions>();
      auto* sub = app.add_subcommand(
          "plan",
          "Capacity report: which mode, batch, GPU cache size and gather setting give the "
          "most decode throughput within a per-token latency target and within memory, "
          "and whether a GPU L2 reservation for KV pays (simulated, beside the real runs "
          "measured on that GPU). Writes report.html, report.md and plan.json.");
      sub->add_option("--model", opts->model,
                      "Model config: a name in configs/models, a .toml or a HF config.json "
                      "(default: minicpm4.1-8b; ignored with --trace, which carries its model)");
      sub->add_option("--hardware", opts->hardware,
                      plan_help("hardware", "several compare GPUs in one report (default: h200, the GPU "
                                            "with a shipped calibration)"));
      sub->add_option("--trace", opts->trace,
                      "Recorded trace (.h5) to replay in the simulator; fixes the mode and the "
                      "workload locality (default: none = synthesize a trace per mode and context)");
      sub->add_option("--context", opts->contexts,
                      plan_help("context", "several, or a comma list, are compared (default: 32K "
                                           "64K 96K 128K)"));
      sub->add_option("--slo-tpot-ms", opts->slo_tpot_ms,
                      "Target p99 per-token latency, milliseconds (default: 50)");
      sub->add_option("--modes", opts->modes,
                      plan_help("mode",
                                "the modes compared (default: dense sparse sparse-offload "
                                "sparda-no-prefetch sparda; add dsa dsa-offload to weigh "
                                "DeepSeek-style top-k token attention, with its [dsa] model "
                                "config and the dsa-public token locality)"));
      sub->add_option("--batches", opts->batches,
                      plan_help("batch", "the batch sizes searched (default: 1 2 4 8 16 24 32 48 "
                                         "64 96 128)"));
      sub->add_option("--evaluator", opts->evaluator,
                      "What evaluates a scenario: sim (trace-driven simulator; default when built "
                      "in) or analytic (closed-form roofline, instant)");
      sub->add_option("--synth-batch", opts->synth_batch,
                      "Sequences per synthesized trace; other batches are replay what-ifs "
                      "(default: 4)");
      sub->add_option("--steps", opts->steps,
                      "Timed decode steps per synthesized trace, after one warm-up step (cold "
                      "block cache) the metrics leave out (default: 8)");
      sub->add_option("--threads", opts->threads, "Worker threads (default: 0 = all cores)");
      sub->add_option("--out", opts->out, "Output folder (default: foresight-plan)");
      return [opts] { return run_plan_command(*opts); };
    }}};

}  // namespace
}  // namespace foresight::cli

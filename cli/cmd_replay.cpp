// `foresight replay TRACE [what-ifs] --out DIR`: re-time a trace under a
// what-if scenario (or reproduce it with --validate) and write a run folder.
#include <cmath>
#include <filesystem>
#include <optional>

#include <fmt/core.h>

#include "command.hpp"
#include "format.hpp"
#include "foresight/common/files.hpp"
#include "sizes.hpp"
#include "foresight/config/calibration.hpp"
#include "foresight/config/load.hpp"
#include "foresight/sim/output.hpp"
#include "foresight/sim/replay.hpp"
#include "foresight/trace/reader.hpp"

namespace foresight::cli {
namespace {

struct ReplayArgs {
  std::string trace, out;
  bool validate = false, timeline = false;
  std::optional<double> pcie_gbps, compute_scale;
  std::optional<std::string> hardware, policy, prefetch, calibration, mode;
  std::optional<std::int64_t> gather_ctas, cache_blocks, batch, context;
  std::optional<std::uint64_t> seed;
};

// The what-ifs of the options; errors name the option ("--gather-ctas: ...").
sim::Scenario scenario_from(const ReplayArgs& a) {
  sim::Scenario s;
  const std::string where = "replay options";
  if (a.hardware) sim::set_scenario_key(s, "hardware", *a.hardware, where);
  if (a.pcie_gbps) sim::set_scenario_key(s, "pcie-gbps", *a.pcie_gbps, where);
  if (a.gather_ctas) sim::set_scenario_key(s, "gather-ctas", *a.gather_ctas, where);
  if (a.compute_scale) sim::set_scenario_key(s, "compute-scale", *a.compute_scale, where);
  if (a.cache_blocks) sim::set_scenario_key(s, "cache-blocks", *a.cache_blocks, where);
  if (a.policy) sim::set_scenario_key(s, "policy", *a.policy, where);
  if (a.prefetch) sim::set_scenario_key(s, "prefetch", *a.prefetch, where);
  if (a.mode) sim::set_scenario_key(s, "mode", *a.mode, where);
  if (a.batch) sim::set_scenario_key(s, "batch", *a.batch, where);
  if (a.context) sim::set_scenario_key(s, "context", *a.context, where);
  if (a.seed) sim::set_scenario_key(s, "seed", static_cast<std::int64_t>(*a.seed), where);
  return s;
}

// Every metric but the per-layer hit rates, in readable units (full
// precision is in metrics.json).
void print_metrics(const sim::Metrics& m) {
  for (const auto& [name, value] : m)
    if (name.rfind("cache.layer_hit_rate.", 0) != 0) fmt::print("  {:<28} {}\n", name, format_metric(name, value));
}

// A ratio as a percentage, "-" when undefined (NaN: a group without steps).
std::string percent(double x) { return std::isnan(x) ? "-" : fmt::format("{:.2f}%", 100.0 * x); }

// One line per step group, steady decode first; no total over mixed groups
// (prefill and the warm-up step would hide the steady error).
void print_validate(const sim::ValidateResult& v) {
  fmt::print("validate: {} steps replayed{}\n", v.steps.size(), v.exact ? " (exact)" : "");
  const auto line = [](const char* label, const char* unit, const sim::ValidateResult::Group& g,
                       bool per_step) {
    fmt::print("  {:<15} {:>4} {:<7} recorded {:.3f} ms, simulated {:.3f} ms, mean step error {}", label,
               g.steps, std::string(unit) + ":", static_cast<double>(g.recorded_ns) * 1e-6,
               static_cast<double>(g.simulated_ns) * 1e-6, percent(g.mean_step_rel_error));
    if (per_step)
      fmt::print(", per-step error mean {} max {}", percent(g.mean_rel_error), percent(g.max_rel_error));
    fmt::print("\n");
  };
  line("steady decode", "steps", v.steady, true);
  line("warm-up decode", "steps", v.warmup, false);
  line("prefill", "chunks", v.prefill, false);
}

int run_replay(const ReplayArgs& a) {
  const sim::Scenario s = scenario_from(a);
  sim::Replayer rp(trace::read_trace(a.trace), a.trace);
  if (a.calibration)
    rp.set_calibration(*a.calibration == "none" ? std::nullopt
                                                : std::optional(config::load_calibration(*a.calibration)));
  const std::filesystem::path dir = a.out;
  if (a.validate) {
    if (!sim::to_json(s).empty() || s.compute_scale != 1.0)
      throw std::invalid_argument("--validate replays the trace as recorded; drop the what-if options");
    const auto v = rp.validate(a.timeline);
    sim::write_replay_folder(dir, v.result, a.timeline);
    common::write_json_atomic(dir / "validate.json", v.to_json());
    print_validate(v);
    return kExitOk;
  }
  const auto r = rp.run(s, a.timeline);
  sim::write_replay_folder(dir, r, a.timeline);
  fmt::print("scenario {}: {}\n", sim::scenario_label(s), r.status);
  if (r.status != "ok") fmt::print("  {}\n", r.scenario.value("status_reason", ""));
  print_metrics(r.metrics);
  return kExitOk;
}

const CommandRegistrar reg{{"replay", 50, [](CLI::App& app) {
  auto a = std::make_shared<ReplayArgs>();
  CLI::App* sub = app.add_subcommand(
      "replay", "Replay a trace in the simulator under what-if settings; writes scenario.json,\n"
                "metrics.json (docs/metrics.md) and optionally timeline.json to --out.");
  sub->add_option("trace", a->trace, "Trace file (.h5) to replay")->required();
  sub->add_option("--out", a->out, "Output folder (required)")->required();
  sub->add_flag("--validate", a->validate, "Replay the recorded op graph with recorded durations and report the error of steady decode steps, warm-up decode steps and prefill separately (validate.json)");
  sub->add_flag("--timeline", a->timeline, "Also write timeline.json (Perfetto) of the simulated run (default off)");
  sub->add_option("--calibration", a->calibration,
                  "GPU calibration file for the trace's hardware, or none for roofline-based costs "
                  "(default: configs/calibration/<hardware>.json when it exists)");
  sub->add_option("--hardware", a->hardware, "Another hardware config (name or path); compute re-timed by the roofline ratio (default: the trace's)");
  sub->add_option("--pcie-gbps", a->pcie_gbps, "PCIe H2D ceiling in GB/s; every PCIe curve is scaled to it (default: the hardware's h2d_gbps)");
  sub->add_option("--gather-ctas", a->gather_ctas, "CTAs of the zero-copy gather kernel, 1-1024 (default: the trace's)");
  sub->add_option("--compute-scale", a->compute_scale, "Compute ops run this many times faster, > 0 (default 1)");
  sub->add_option("--cache-blocks", a->cache_blocks, "GPU slots per (layer, KV head) incl. the tail slot, >= top-k + 1 (default: the trace's)");
  sub->add_option("--policy", a->policy, "Eviction: sparda, lru, lfu, fifo, arc or opt (default: the trace's)");
  sub->add_option("--mode", a->mode,
                  "Another mode that selects blocks (sparse, sparse-offload, sparda-no-prefetch, sparda, "
                  "sparda-no-offload); the recorded selections stand in for the new mode's (default: the trace's)");
  sub->add_option("--prefetch", a->prefetch, "Offload traces: none (fetch inline) or lookahead (fetch one layer ahead on a side stream) (default: the trace's)");
  sub->add_option("--batch", a->batch, "Batch size; extra sequences resample recorded selection streams (default: the trace's)");
  sub->add_option("--context", a->context, "Context tokens per sequence (default: the trace's)")->transform(tokens_transform());
  sub->add_option("--seed", a->seed, "Seed for --batch resampling (default 1)");
  return [a] { return run_replay(*a); };
}}};

}  // namespace
}  // namespace foresight::cli

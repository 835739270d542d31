// `foresight replay TRACE [what-ifs] --out DIR`: re-time a trace under a
// what-if scenario (or reproduce it with --validate) and write a run folder.
#include <cmath>
#include <filesystem>
#include <map>
#include <optional>

#include <fmt/core.h>

#include "command.hpp"
#include "format.hpp"
#include "foresight/common/files.hpp"
#include "sizes.hpp"
#include "foresight/config/calibration.hpp"
#include "foresight/config/load.hpp"
#include "foresight/config/scenario.hpp"
#include "foresight/sim/output.hpp"
#include "foresight/sim/replay.hpp"
#include "foresight/trace/reader.hpp"

namespace foresight::cli {
namespace {

struct ReplayArgs {
  std::string trace, out;
  bool validate = false, timeline = false;
  std::optional<std::string> calibration;
  std::map<std::string, std::string> what_if;  // knob option name -> text as given
};

// The what-ifs of the options; errors name the option ("--gather-ctas: ...").
config::Scenario scenario_from(const ReplayArgs& a) {
  config::Scenario s;
  for (const auto& [option, text] : a.what_if)
    config::set_knob_text(s, "--" + option, text, "replay options");
  return s;
}

// The value's name in the help ("--batch INT").
const char* type_name(config::KnobKind kind) {
  switch (kind) {
    case config::KnobKind::integer: return "INT";
    case config::KnobKind::tokens: return "TOKENS";
    case config::KnobKind::number: return "FLOAT";
    case config::KnobKind::name: return "NAME";
    case config::KnobKind::text: break;
  }
  return "TEXT";
}

// One option per what-if knob of config::scenario_knobs(), its help from the table.
void add_what_if_options(CLI::App* sub, ReplayArgs& a) {
  for (const auto& k : config::scenario_knobs()) {
    if (!k.replays) continue;
    CLI::Option* opt = sub->add_option_function<std::string>(
        "--" + k.option, [&a, name = k.option](const std::string& v) { a.what_if[name] = v; },
        config::replay_help(k));
    if (k.kind == config::KnobKind::tokens) opt->transform(tokens_transform());
    opt->type_name(type_name(k.kind));
  }
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
  const config::Scenario s = scenario_from(a);
  sim::Replayer rp(trace::read_trace(a.trace), a.trace);
  if (a.calibration)
    rp.set_calibration(*a.calibration == "none" ? std::nullopt
                                                : std::optional(config::load_calibration(*a.calibration)));
  const std::filesystem::path dir = a.out;
  if (a.validate) {
    if (!config::to_json(s).empty())
      throw std::invalid_argument("--validate replays the trace as recorded; drop the what-if options");
    const auto v = rp.validate(a.timeline);
    sim::write_replay_folder(dir, v.result, a.timeline);
    common::write_json_atomic(dir / "validate.json", v.to_json());
    print_validate(v);
    return kExitOk;
  }
  const auto r = rp.run(s, true);  // the simulated run materialised: its stage times (stages_ms.*) too
  sim::write_replay_folder(dir, r, a.timeline);
  fmt::print("scenario {}: {}\n", config::scenario_label(s), r.status);
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
  add_what_if_options(sub, *a);
  return [a] { return run_replay(*a); };
}}};

}  // namespace
}  // namespace foresight::cli

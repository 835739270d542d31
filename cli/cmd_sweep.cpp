// `foresight sweep TRACE --study STUDY.toml --out DIR`: run a grid of what-if
// scenarios over one trace in parallel; results.csv + results.json in DIR.
#include <stdexcept>

#include <fmt/core.h>

#include "command.hpp"
#include "format.hpp"
#include "progress.hpp"
#include "foresight/config/scenario.hpp"
#include "foresight/sim/sweep.hpp"
#include "foresight/trace/reader.hpp"

namespace foresight::cli {
namespace {

struct SweepArgs {
  std::string trace, study, out;
  unsigned jobs = 0;
  std::uint64_t max_scenarios = sim::kDefaultMaxScenarios;
};

// What the sweep found: counts by outcome, the range of the mean decode
// step, and a warning when the what-ifs changed nothing.
void print_summary(const sim::Study& study, const sim::SweepSummary& s, const std::string& out) {
  fmt::print("{} scenarios: {} fit in memory, {} out of memory, {} failed ({} simulated now, {} done "
             "before); {:.2f} s, {} events ({:.1f} M events/s)\n",
             study.scenarios.size(), s.ok, s.out_of_memory, s.failed, s.ran, s.skipped, s.seconds,
             s.events, s.seconds > 0 ? static_cast<double>(s.events) / s.seconds / 1e6 : 0.0);
  if (s.ok == 1)
    fmt::print("mean decode step: {} ({})\n", format_ms(s.fastest.step_ms), s.fastest.label);
  else if (s.ok > 1 && !s.same_step_time)
    fmt::print("mean decode step: fastest {} ({}), slowest {} ({})\n", format_ms(s.fastest.step_ms),
               s.fastest.label, format_ms(s.slowest.step_ms), s.slowest.label);
  if (s.ok == 0 && s.out_of_memory > 0)
    fmt::print(stderr, "foresight sweep: warning: no scenario fits in memory; see memory.* in results.json\n");
  if (s.same_step_time)
    fmt::print(stderr,
               "foresight sweep: warning: the mean decode step is {} in all {} scenarios that fit: the "
               "what-ifs do not change this trace's timing (a CPU trace has no PCIe transfers to re-time)\n",
               format_ms(s.fastest.step_ms), s.ok);
  fmt::print("wrote {}/results.csv and {}/results.json\n", out, out);
}

// The study keys, one line each with the replay option's help (the knob table's).
std::string study_keys_help() {
  std::string out = "Study keys (in [base], [grid] and [[scenarios]]; unset keys keep the trace's value):\n";
  for (const auto& k : config::scenario_knobs())
    if (k.replays) out += fmt::format("  {:<14} {}\n", k.option, config::replay_help(k));
  return out;
}

int run_sweep_cmd(const SweepArgs& a) {
  if (a.out.empty()) throw std::invalid_argument("--out: an output folder is required (the path is empty)");
  const sim::Study study = sim::load_study(a.study, a.max_scenarios);
  for (const auto& note : study.notes) fmt::print(stderr, "foresight sweep: note: {}\n", note);
  sim::Replayer rp(trace::read_trace(a.trace), a.trace);
  sim::SweepOptions o;
  o.out_dir = a.out;
  o.jobs = a.jobs;
  o.trace_file = a.trace;
  o.progress = progress_bar("sweep");
  const auto s = sim::run_sweep(rp, study, o);
  if (s.stale)
    fmt::print(stderr,
               "foresight sweep: note: {} scenario(s) done before in {} came from other inputs (trace, hardware "
               "or calibration, or tool version) and were simulated again\n", s.stale, a.out);
  print_summary(study, s, a.out);
  if (s.failed) {
    fmt::print(stderr, "foresight sweep: {} scenario(s) failed; see \"error\" in results.json\n", s.failed);
    return kExitBadInput;
  }
  return kExitOk;
}

const CommandRegistrar reg{{"sweep", 55, [](CLI::App& app) {
  auto a = std::make_shared<SweepArgs>();
  CLI::App* sub = app.add_subcommand(
      "sweep", "Run a study (grid of what-if scenarios, configs/studies/*.toml) over one trace\n"
               "in parallel; writes results.csv and results.json. A rerun skips finished scenarios made\n"
               "from the same trace bytes, hardware, calibration and tool version; one sweep per --out at a time.");
  sub->add_option("trace", a->trace, "Trace file (.h5)")->required();
  sub->add_option("--study", a->study, "Study TOML: [base], [grid] and [[scenarios]] of replay what-ifs, keys named as the replay options (pcie-gbps, ...) (required)")->required();
  sub->add_option("--out", a->out, "Output folder (required); scenarios/ inside keeps finished ones")->required();
  sub->add_option("--jobs", a->jobs, "Worker threads (default 0 = all cores)");
  sub->add_option("--max-scenarios", a->max_scenarios,
                  fmt::format("Refuse a study of more scenarios than this, before any work (default {})",
                              sim::kDefaultMaxScenarios));
  sub->footer(study_keys_help());
  return [a] { return run_sweep_cmd(*a); };
}}};

}  // namespace
}  // namespace foresight::cli

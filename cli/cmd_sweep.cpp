// `foresight sweep TRACE --study STUDY.toml --out DIR`: run a grid of what-if
// scenarios over one trace in parallel; results.csv + results.json in DIR.
#include <thread>

#include <fmt/core.h>

#include "command.hpp"
#include "foresight/sim/sweep.hpp"
#include "foresight/trace/reader.hpp"

namespace foresight::cli {
namespace {

struct SweepArgs {
  std::string trace, study, out;
  unsigned jobs = 0;
  bool quiet = false;
};

int run_sweep_cmd(const SweepArgs& a) {
  sim::Study study;
  trace::Trace t;
  try {
    study = sim::load_study(a.study);
    t = trace::read_trace(a.trace);
  } catch (const std::exception& e) {
    fmt::print(stderr, "foresight sweep: error: {}\n", e.what());
    return kExitBadInput;
  }
  sim::Replayer rp(std::move(t), a.trace);
  sim::SweepOptions o;
  o.out_dir = a.out;
  o.jobs = a.jobs;
  o.progress = !a.quiet;
  const auto s = sim::run_sweep(rp, study, o);
  fmt::print("{} scenarios: {} ran, {} already done, {} failed; {:.2f} s, {} events ({:.1f} M events/s)\n",
             study.scenarios.size(), s.ran, s.skipped, s.failed, s.seconds, s.events,
             s.seconds > 0 ? static_cast<double>(s.events) / s.seconds / 1e6 : 0.0);
  fmt::print("wrote {}/results.csv and {}/results.json\n", a.out, a.out);
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
               "in parallel; writes results.csv and results.json. A rerun skips finished scenarios.");
  sub->add_option("trace", a->trace, "Trace file (.h5)")->required();
  sub->add_option("--study", a->study, "Study TOML: [base], [grid] and [[scenarios]] of replay what-if keys (required)")->required();
  sub->add_option("--out", a->out, "Output folder (required); scenarios/ inside keeps finished ones")->required();
  sub->add_option("--jobs", a->jobs, "Worker threads (default 0 = all cores)");
  sub->add_flag("--quiet", a->quiet, "No progress bar on stderr (default off)");
  return [a] { return run_sweep_cmd(*a); };
}}};

}  // namespace
}  // namespace foresight::cli

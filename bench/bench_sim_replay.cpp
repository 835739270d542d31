// Simulator performance: engine events per second on one core, one full
// replay, and a 1000-scenario sweep (with cache replay) over a
// MiniCPM4.1-8B-shaped synthesized trace (32 layers, batch 16, 128K context,
// 64 decode steps). Usage: bench_sim_replay [jobs=2] [out_dir=/tmp/foresight-bench-sweep]
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>

#include <fmt/core.h>

#include "foresight/config/load.hpp"
#include "foresight/sim/engine.hpp"
#include "foresight/sim/replay.hpp"
#include "foresight/sim/sweep.hpp"
#include "foresight/sim/synth.hpp"
#include "foresight/sim/timeline.hpp"

using namespace foresight;
using Clock = std::chrono::steady_clock;

static double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

int main(int argc, char** argv) {
  const unsigned jobs = argc > 1 ? static_cast<unsigned>(std::atoi(argv[1])) : 2;
  const std::filesystem::path out = argc > 2 ? argv[2] : "/tmp/foresight-bench-sweep";

  sim::SynthOptions o;
  o.model = config::load_model("minicpm4.1-8b");
  o.hardware = config::load_hardware("h200");  // replays use its shipped GPU calibration
  o.run.mode = config::Mode::sparda;
  o.run.batch = 16;
  o.run.context_tokens.assign(16, 131072);
  o.run.decode_steps = 64;
  o.run.warmup_steps = 0;
  o.run.prefill = "none";
  o.run.topk_blocks = o.model.sparse.topk_blocks;
  auto t0 = Clock::now();
  const trace::Trace t = sim::synthesize(o);
  const double synth_s = since(t0);
  fmt::print("trace: {} ops, {} selection rows; synthesized in {:.2f} s\n", t.ops.size(),
             t.selection_keys.size(), synth_s);

  // 1. Engine alone, one thread.
  const sim::SimGraph g = sim::graph_from_trace(t);
  sim::Engine engine;
  std::uint64_t events = 0;
  int reps = 0;
  t0 = Clock::now();
  while (since(t0) < 2.0 || reps < 5) {
    events += engine.run(g, {o.hardware.gather_compute_slowdown, o.hardware.sm_count}).events;
    ++reps;
  }
  const double eng_s = since(t0);
  fmt::print("engine: {} runs, {} events in {:.2f} s = {:.1f} M events/s (1 thread)\n", reps, events,
             eng_s, static_cast<double>(events) / eng_s / 1e6);

  // 2. One full what-if replay (schedule build + engine + metrics incl. critical paths).
  sim::Replayer rp(t, "bench");
  config::Scenario base;
  base.pcie_gbps = 32;
  (void)rp.run(base);  // warm the cache-replay memo
  t0 = Clock::now();
  int n = 0;
  std::uint64_t ev = 0;
  while (since(t0) < 2.0 || n < 3) {
    ev += rp.run(base).events;
    ++n;
  }
  const double rep_s = since(t0) / n;
  fmt::print("replay: {:.1f} ms per scenario ({:.1f} M events/s end to end, 1 thread)\n", rep_s * 1e3,
             static_cast<double>(ev) / since(t0) / 1e6);

  // 3. 1000-scenario sweep: 10 links x 4 CTA counts x 5 policies x 5 cache sizes.
  const std::string study = R"(
name = "bench-1000"
[grid]
pcie-gbps = [4, 8, 12, 16, 24, 32, 40, 48, 56, 64]
gather-ctas = [8, 16, 32, 64]
policy = ["sparda", "lru", "fifo", "arc", "opt"]
cache-blocks = [97, 105, 113, 129, 161]
)";
  std::filesystem::remove_all(out);
  sim::Replayer fresh(t, "bench");  // empty memo: the sweep pays for every cache replay
  sim::SweepOptions so;
  so.out_dir = out;
  so.jobs = jobs;  // no progress callback: silent
  const auto st = sim::parse_study(study, "bench-1000");
  const auto s = sim::run_sweep(fresh, st, so);
  fmt::print("sweep: {} scenarios ({} failed) on {} threads in {:.2f} s incl. 25 cache replays; {:.1f} M events/s\n",
             st.scenarios.size(), s.failed, jobs, s.seconds,
             static_cast<double>(s.events) / s.seconds / 1e6);
  std::filesystem::remove_all(out);
  return s.failed ? 1 : 0;
}

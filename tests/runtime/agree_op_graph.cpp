// One op graph per mode (issue #13): the runtime's engine and the simulator's
// schedule both follow config::decode_layer_plan, so a CPU run's decode ops
// and the schedule built for the same configuration name the same stages for
// the same layers in the same order, in every mode; so do their prefills
// (config::prefill_layer_plan).
#include <string>
#include <vector>

#include "catch.hpp"
#include "foresight/runtime/run.hpp"
#include "foresight/sim/schedule.hpp"
#include "foresight/trace/reader.hpp"
#include "tiny_model.hpp"

using namespace foresight;

namespace {

// "stage@layer" of every per-layer op of (phase, step), in issue order.
// Waits are left out: the CPU backend has one stream, so it runs a prefetch
// in place and never waits for it. So are the prefill's KV offloads, which
// the runtime issues once per chunk and the schedule once per layer.
std::vector<std::string> layer_ops(const trace::Trace& t, trace::Phase phase, std::int32_t step) {
  std::vector<std::string> out;
  for (const auto& op : t.ops) {
    if (op.phase != phase || op.step != step || op.layer < 0) continue;
    if (op.kind == trace::OpKind::wait || op.kind == trace::OpKind::d2h) continue;
    out.push_back(t.stages[op.stage] + "@" + std::to_string(op.layer));
  }
  return out;
}

std::size_t offloads(const trace::Trace& t) {
  std::size_t n = 0;
  for (const auto& op : t.ops) n += op.kind == trace::OpKind::d2h ? 1 : 0;
  return n;
}

sim::ScheduleConfig schedule_config(const trace::Trace& t) {
  const auto& r = t.header.run;
  sim::ScheduleConfig c;
  c.model = t.header.model;
  c.hardware = t.header.hardware;
  c.mode = r.mode;
  c.prefetch = config::mode_traits(r.mode).prefetch;
  c.batch = r.batch;
  c.context_tokens = r.context_tokens;
  c.decode_steps = r.warmup_steps + r.decode_steps;
  c.topk_blocks = r.topk_blocks;
  c.fused_layer_norms = true;  // the runtime's projections include their RMSNorm
  c.fused_kv_write = true;     // and its rope op writes the new token's K/V
  return c;
}

}  // namespace

TEST_CASE("runtime and simulator run the same per-layer op graph in every mode") {
  for (const config::Mode mode : config::kAllModes) {
    const std::string name = config::to_string(mode);
    CAPTURE(name);
    runtime::RunRequest r = testing::tiny_cpu_request("agree_op_graph_" + name, mode, {300, 200}, 2, 128);
    r.trace = true;
    runtime::run_to_folder(r);
    const trace::Trace real = trace::read_trace(r.out_dir / "trace.h5");
    const sim::ScheduleSkeleton sk = sim::build_skeleton(schedule_config(real));
    for (std::int32_t step = 0; step < 3; ++step) {
      CAPTURE(step);
      const auto ran = layer_ops(real, trace::Phase::decode, step);
      REQUIRE(!ran.empty());
      CHECK(ran == layer_ops(sk.trace, trace::Phase::decode, step));
    }
  }
}

TEST_CASE("runtime and simulator run the same prefill per layer in every mode") {
  for (const config::Mode mode : config::kAllModes) {
    const std::string name = config::to_string(mode);
    CAPTURE(name);
    // One sequence in one chunk: the runtime's chunk is then the schedule's.
    runtime::RunRequest r = testing::tiny_cpu_request("agree_prefill_" + name, mode, {300}, 1, 512);
    r.trace = true;
    runtime::run_to_folder(r);
    const trace::Trace real = trace::read_trace(r.out_dir / "trace.h5");
    sim::ScheduleConfig c = schedule_config(real);
    c.prefill = true;
    const sim::ScheduleSkeleton sk = sim::build_skeleton(c);
    const auto ran = layer_ops(real, trace::Phase::prefill, 0);
    REQUIRE(!ran.empty());
    CHECK(ran == layer_ops(sk.trace, trace::Phase::prefill, 0));
    CHECK((offloads(real) > 0) == (offloads(sk.trace) > 0));
    CHECK((offloads(real) > 0) == config::mode_traits(mode).kv_on_host());
  }
}

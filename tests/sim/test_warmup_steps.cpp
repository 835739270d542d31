// Warm-up decode steps (run.warmup_steps) are left out of the metrics and
// reported apart by --validate: prefill, warm-up and steady groups.
#include <algorithm>
#include <cmath>

#include "catch.hpp"
#include "foresight/sim/metrics.hpp"
#include "foresight/sim/replay.hpp"
#include "foresight/sim/timeline.hpp"
#include "sim_fixtures.hpp"

using namespace foresight;
using testing::metric;
using testing::tiny_synth;

namespace {
trace::StepSpan& span(trace::Trace& t, trace::Phase phase, std::int32_t step) {
  auto it = std::find_if(t.steps.begin(), t.steps.end(),
                         [&](const trace::StepSpan& s) { return s.phase == phase && s.step == step; });
  REQUIRE(it != t.steps.end());
  return *it;
}
}  // namespace

TEST_CASE("synthesized traces mark their warm-up steps in the header", "[sim][warmup]") {
  auto o = tiny_synth(config::Mode::sparda);
  o.run.warmup_steps = 2;
  const trace::Trace t = sim::synthesize(o);
  CHECK(t.header.run.warmup_steps == 2);
  CHECK(trace::steady_decode_steps(t).size() == 4u);
  CHECK(trace::steps_in_group(t, trace::StepGroup::warmup).size() == 2u);
}

TEST_CASE("metrics leave a slow warm-up step out", "[sim][warmup][metrics]") {
  trace::Trace t = sim::synthesize(tiny_synth(config::Mode::sparda));
  REQUIRE(t.header.run.warmup_steps == 1);
  const sim::MemoryPlan mem;
  const sim::Metrics base = sim::compute_metrics(t, mem, false);
  span(t, trace::Phase::decode, 0).end_ns += 1'000'000'000;  // a 1 s warm-up step
  const sim::Metrics slow = sim::compute_metrics(t, mem, false);
  CHECK(metric(slow, "decode.steps") == 4);
  CHECK(metric(slow, "decode.step_ms.mean") == metric(base, "decode.step_ms.mean"));
  CHECK(metric(slow, "decode.step_ms.p99") == metric(base, "decode.step_ms.p99"));
  CHECK(metric(slow, "decode.tokens_per_s") == metric(base, "decode.tokens_per_s"));
  // Counted as a steady step, the same step dominates.
  t.header.run.warmup_steps = 0;
  const sim::Metrics counted = sim::compute_metrics(t, mem, false);
  CHECK(metric(counted, "decode.steps") == 5);
  CHECK(metric(counted, "decode.step_ms.mean") > 100 * metric(base, "decode.step_ms.mean"));
}

TEST_CASE("warm-up is run.warmup_steps even when the run was cut short", "[sim][warmup][metrics]") {
  // Truncated after 3 of 1 + 4 steps: step 0 is still warm-up.
  trace::Trace t = sim::synthesize(tiny_synth(config::Mode::dense));
  std::erase_if(t.steps, [](const trace::StepSpan& s) { return s.phase == trace::Phase::decode && s.step >= 3; });
  span(t, trace::Phase::decode, 0).end_ns += 1'000'000'000;
  const sim::Metrics m = sim::compute_metrics(t, {}, false);
  CHECK(metric(m, "decode.steps") == 2);
  CHECK(metric(m, "decode.step_ms.mean") < 1000);
}

TEST_CASE("a replay leaves out the same warm-up steps", "[sim][warmup][replay]") {
  trace::Trace t = sim::synthesize(tiny_synth(config::Mode::sparda));
  const auto r = sim::Replayer(t).run({}, true);
  REQUIRE(r.timeline);
  CHECK(r.timeline->header.run.warmup_steps == 1);
  CHECK(metric(r.metrics, "decode.steps") == 4);
}

TEST_CASE("validate reports prefill, warm-up and steady steps apart", "[sim][warmup][validate]") {
  auto o = tiny_synth(config::Mode::sparda);
  o.run.prefill = "synthetic";
  trace::Trace t = sim::synthesize(o);
  // The recorded warm-up step ran 1 ms longer than its op graph explains.
  span(t, trace::Phase::decode, 0).end_ns += 1'000'000;
  auto v = sim::Replayer(t).validate();
  CHECK(v.steps.size() == 6u);
  CHECK(v.prefill.steps == 1u);
  CHECK(v.warmup.steps == 1u);
  CHECK(v.steady.steps == 4u);
  CHECK(v.warmup_steps == 1);
  CHECK(v.steady.mean_step_rel_error == 0);
  CHECK(v.steady.max_rel_error == 0);
  CHECK(v.steady.recorded_ns == v.steady.simulated_ns);
  CHECK(v.prefill.mean_step_rel_error == 0);
  CHECK(v.warmup.recorded_ns - v.warmup.simulated_ns == 1'000'000);
  CHECK(v.warmup.mean_step_rel_error > 0);
  CHECK_FALSE(v.exact);
  CHECK(v.total_rel_error > 0);  // the old all-steps number mixes the groups

  // One steady step 10% off: the per-step max shows it, the mean spreads it.
  trace::StepSpan& s2 = span(t, trace::Phase::decode, 2);
  s2.end_ns += (s2.end_ns - s2.start_ns) / 10;
  v = sim::Replayer(t).validate();
  CHECK(v.steady.max_rel_error == Approx(1.0 / 11.0).epsilon(1e-3));
  CHECK(v.steady.mean_rel_error == Approx(v.steady.max_rel_error / 4).epsilon(1e-6));
  CHECK(v.steady.mean_step_rel_error > 0);

  const auto j = v.to_json();
  for (const char* g : {"steady", "warmup", "prefill"})
    for (const char* k :
         {"steps", "recorded_ns", "simulated_ns", "mean_step_rel_error", "mean_rel_error", "max_rel_error"})
      CHECK(j.at(g).contains(k));
  for (const char* k : {"max_abs_error_ns", "mean_rel_error", "total_rel_error", "exact", "steps", "warmup_steps"})
    CHECK(j.contains(k));
  CHECK(j.at("steps").at(0).at("group") == "prefill");
  CHECK(metric(v.result.metrics, "validate.steady.max_rel_error") == v.steady.max_rel_error);
  CHECK(metric(v.result.metrics, "validate.warmup.steps") == 1);
  CHECK(metric(v.result.metrics, "decode.steps") == 4);  // simulated metrics: steady steps only
}

TEST_CASE("validate of a trace without prefill or warm-up has empty groups", "[sim][warmup][validate]") {
  auto o = tiny_synth(config::Mode::dense);
  o.run.warmup_steps = 0;
  const auto v = sim::Replayer(sim::synthesize(o)).validate();
  CHECK(v.exact);
  CHECK(v.steady.steps == 4u);
  CHECK(v.warmup.steps == 0u);
  CHECK(std::isnan(v.warmup.mean_step_rel_error));
  CHECK(v.to_json().at("warmup").at("mean_step_rel_error").is_null());
  CHECK(v.to_json().at("prefill").at("steps") == 0);
}

TEST_CASE("validate keeps the recorded launch gaps and wait lags", "[sim][validate]") {
  trace::Trace t = sim::synthesize(tiny_synth(config::Mode::sparda));
  // As on a GPU: the host launched the 3rd decode op of the main stream
  // 40 us late, and every cross-stream wait fired 8 us after its event;
  // everything from each such point on moves later.
  const std::uint32_t main_stream = t.ops.front().stream;
  std::size_t late = 0;
  for (std::size_t i = 0, seen = 0; i < t.ops.size(); ++i)
    if (t.ops[i].phase == trace::Phase::decode && t.ops[i].stream == main_stream && ++seen == 3) late = i;
  REQUIRE(late > 0);
  std::vector<std::pair<std::int64_t, std::int64_t>> delays{{t.ops[late].start_ns, 40'000}};  // (from, ns)
  for (const auto& op : t.ops)
    if (op.kind == trace::OpKind::wait) delays.emplace_back(op.end_ns, 8'000);
  REQUIRE(delays.size() > 1);
  auto shifted = [&](std::int64_t ns, bool at_or_after) {  // ops starting at `from` move, ops ending there do not
    std::int64_t d = 0;
    for (const auto& [from, by] : delays)
      if (at_or_after ? ns >= from : ns > from) d += by;
    return ns + d;
  };
  for (auto& op : t.ops) {
    const bool wait = op.kind == trace::OpKind::wait;
    const std::int64_t own_lag = wait ? 8'000 : 0;  // a wait's own end is its event plus the lag
    op.start_ns = shifted(op.start_ns, !wait);
    op.end_ns = shifted(op.end_ns, false) + own_lag;
  }
  t.steps = sim::step_spans(t);
  const sim::SimGraph plain = sim::graph_from_trace(t);
  sim::SimGraph kept = plain;
  sim::keep_recorded_gaps(t, kept);
  REQUIRE(kept.lead_ns.size() == t.ops.size());
  CHECK(kept.lead_ns[late] >= 40'000);
  // Without the gaps the replay runs short; with them every op runs where
  // it was recorded.
  const auto p = sim::simulate(plain, sim::EngineParams{0.0, 1}, t.ops.front().start_ns);
  const auto k = sim::simulate(kept, sim::EngineParams{0.0, 1}, t.ops.front().start_ns);
  CHECK(p.end_ns.back() < t.ops.back().end_ns);
  for (std::size_t i = 0; i < t.ops.size(); ++i) {
    INFO("op " << i);
    CHECK(k.end_ns[i] == t.ops[i].end_ns);
  }
  const auto v = sim::Replayer(t).validate();
  CHECK(v.exact);
}

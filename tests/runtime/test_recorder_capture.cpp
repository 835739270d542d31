// Recorder bookkeeping for CUDA-graph replays with timed ops: the ops
// recorded while a graph is captured come back, with the same stages, layers
// and handles, at every replayed step. On the CPU backend nothing is
// captured, so these tests exercise the recorder's side only.
#include <stdexcept>

#include "catch.hpp"
#include "foresight/runtime/backend.hpp"
#include "foresight/runtime/recorder.hpp"

using namespace foresight;
using namespace foresight::runtime;

namespace {
void host_op(Recorder& rec) { rec.op({"host"}, [] {}); }
}  // namespace

TEST_CASE("replay_captured repeats the captured ops with their handles") {
  auto be = make_cpu_backend();
  MemoryTraceSink sink({}, 4);
  Recorder rec(*be, &sink);

  rec.begin_step(trace::Phase::decode, 0);
  host_op(rec);
  rec.end_step();
  // Captured between steps: the ops belong to the steps that replay the graph.
  rec.begin_capture(0, 1);
  const int a = rec.op({"rmsnorm", 0}, [] {});
  const int b = rec.op({"attention", 0, -1, 100}, [] {});
  rec.end_capture(0);

  for (int step = 1; step <= 2; ++step) {
    rec.begin_step(trace::Phase::decode, step);
    host_op(rec);
    rec.replay_captured(0);
    rec.patch(b, 100u * static_cast<unsigned>(step + 1), static_cast<std::uint32_t>(step));  // the same handle per step
    rec.end_step();
  }
  rec.close(trace::RunStatus::complete);

  const auto& t = sink.trace();
  CHECK(a == 1);  // after the replaying step's host op
  CHECK(b == 2);
  REQUIRE(t.ops.size() == 7);
  CHECK(t.ops[0].step == 0);
  CHECK(t.stages[t.ops[0].stage] == "host");
  for (int step = 1; step <= 2; ++step) {
    const auto* o = &t.ops[static_cast<std::size_t>(1 + 3 * (step - 1))];
    CHECK(o[0].step == step);
    CHECK(t.stages[o[0].stage] == "host");
    CHECK(t.stages[o[1].stage] == "rmsnorm");
    CHECK(o[1].layer == 0);
    CHECK(t.stages[o[2].stage] == "attention");
    CHECK(o[2].step == step);
    CHECK(o[2].bytes == 100u * static_cast<unsigned>(step + 1));  // patched per step, not shared with the capture
    CHECK(o[2].chunks == static_cast<std::uint32_t>(step));
  }
  CHECK(t.steps.size() == 3);
}

TEST_CASE("replay_captured rejects a step whose earlier ops differ") {
  auto be = make_cpu_backend();
  MemoryTraceSink sink({}, 4);
  Recorder rec(*be, &sink);
  rec.begin_capture(1, 1);
  rec.op({"rmsnorm", 0}, [] {});
  rec.end_capture(1);

  rec.begin_step(trace::Phase::decode, 1);
  host_op(rec);
  host_op(rec);  // one op more than the graph's handles assume
  CHECK_THROWS_AS(rec.replay_captured(1), std::logic_error);
  CHECK_THROWS_AS(rec.end_capture(0), std::logic_error);  // nothing being captured
}

TEST_CASE("capture bookkeeping is inert when ops are not timed") {
  auto be = make_cpu_backend();
  Recorder rec(*be, nullptr, false);
  rec.begin_capture(0, 0);
  CHECK(rec.op({"rmsnorm", 0}, [] {}) == -1);
  rec.end_capture(0);
  rec.begin_step(trace::Phase::decode, 1);
  CHECK_NOTHROW(rec.replay_captured(0));
  CHECK(rec.end_step() >= 0);
}

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
  rec.begin_capture(0);
  const int a = rec.op({"rmsnorm", 0}, [] {});
  const int b = rec.op({"attention", 0, -1, 100}, [] {});
  rec.end_capture(0);
  rec.patch(b, 200, 3);
  rec.end_step();

  rec.begin_step(trace::Phase::decode, 1);
  host_op(rec);
  rec.replay_captured(0);
  rec.patch(b, 300, 5);  // the same handle names the replayed op
  rec.end_step();
  rec.close(trace::RunStatus::complete);

  const auto& t = sink.trace();
  REQUIRE(a == 1);
  REQUIRE(b == 2);
  REQUIRE(t.ops.size() == 6);
  for (int step = 0; step < 2; ++step) {
    const auto* o = &t.ops[static_cast<std::size_t>(3 * step)];
    CHECK(o[0].step == step);
    CHECK(t.stages[o[0].stage] == "host");
    CHECK(t.stages[o[1].stage] == "rmsnorm");
    CHECK(o[1].layer == 0);
    CHECK(t.stages[o[2].stage] == "attention");
    CHECK(o[2].step == step);
  }
  CHECK(t.ops[2].bytes == 200);
  CHECK(t.ops[2].chunks == 3);
  CHECK(t.ops[5].bytes == 300);  // patched per step, not shared with the capture
  CHECK(t.ops[5].chunks == 5);
}

TEST_CASE("replay_captured rejects a step whose earlier ops differ") {
  auto be = make_cpu_backend();
  MemoryTraceSink sink({}, 4);
  Recorder rec(*be, &sink);
  rec.begin_step(trace::Phase::decode, 0);
  host_op(rec);
  rec.begin_capture(0);
  rec.op({"rmsnorm", 0}, [] {});
  rec.end_capture(0);
  rec.end_step();

  rec.begin_step(trace::Phase::decode, 1);
  host_op(rec);
  host_op(rec);  // one op more than the capturing step had before its graph
  CHECK_THROWS_AS(rec.replay_captured(0), std::logic_error);
}

TEST_CASE("capture bookkeeping is inert when ops are not timed") {
  auto be = make_cpu_backend();
  Recorder rec(*be, nullptr, false);
  rec.begin_step(trace::Phase::decode, 0);
  rec.begin_capture(0);
  CHECK(rec.op({"rmsnorm", 0}, [] {}) == -1);
  rec.end_capture(0);
  rec.end_step();
  rec.begin_step(trace::Phase::decode, 1);
  CHECK_NOTHROW(rec.replay_captured(0));
  CHECK(rec.end_step() >= 0);
}

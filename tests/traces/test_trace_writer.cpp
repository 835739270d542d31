// Atomic writing: nothing appears under the final name unless close() ran;
// truncated runs say so; misuse is rejected.
#include <filesystem>
#include <stdexcept>

#include "catch.hpp"
#include "foresight/trace/reader.hpp"
#include "foresight/trace/writer.hpp"
#include "sample_traces.hpp"
#include "trace_test_util.hpp"

using namespace foresight;
namespace fs = std::filesystem;

namespace {
trace::Trace sample() { return samples::build_sample(samples::default_samples()[0]); }

// Streams the first `n_ops` ops of `t` into `w`.
void feed(trace::TraceWriter& w, const trace::Trace& t, std::size_t n_ops) {
  for (const auto& s : t.stages) w.stage(s);
  for (const auto& s : t.streams) w.stream(s.name, s.kind);
  for (std::size_t i = 0; i < n_ops && i < t.ops.size(); ++i) {
    const auto& op = t.ops[i];
    w.add_op(op, std::span(t.deps).subspan(op.dep_offset, op.dep_count));
  }
}
}  // namespace

TEST_CASE("a writer destroyed without close() leaves no final file", "[trace][writer]") {
  const auto dir = testing::scratch_dir("destroyed");
  const trace::Trace t = sample();
  const auto path = dir / "run.h5";
  {
    trace::WriterOptions o;
    o.buffer_records = 4;  // data really reached the file before the "crash"
    trace::TraceWriter w(path, t.header, t.selection_width, o);
    feed(w, t, 50);
    CHECK(fs::exists(dir / "run.h5.partial"));
  }
  CHECK_FALSE(fs::exists(path));
  CHECK(fs::exists(dir / "run.h5.partial"));
  // The leftover is not mistaken for a trace either.
  try {
    trace::read_trace(dir / "run.h5.partial");
    FAIL("read an unclosed file");
  } catch (const trace::TraceError& e) {
    CHECK(std::string(e.what()).find("the writer never closed this file") != std::string::npos);
  }
}

TEST_CASE("after checkpoint() the partial file reads as a truncated trace of the records so far", "[trace][writer]") {
  const auto dir = testing::scratch_dir("checkpoint");
  const trace::Trace t = sample();
  REQUIRE(t.ops.size() > 20);
  trace::TraceWriter w(dir / "run.h5", t.header, t.selection_width);
  feed(w, t, t.ops.size());
  for (const auto& s : t.steps) w.add_step(s);
  w.checkpoint();
  w.checkpoint();  // nothing new: the names are not rewritten
  // What a SIGKILL now would leave: the .partial as it is on disk.
  fs::copy_file(dir / "run.h5.partial", dir / "killed.h5");
  const auto r = trace::read_trace(dir / "killed.h5");
  CHECK(r.header.status == trace::RunStatus::truncated);
  CHECK(r.header.status_reason.rfind("the run ended without closing its trace", 0) == 0);
  CHECK(r.ops.size() == t.ops.size());
  CHECK(r.steps.size() == t.steps.size());
  CHECK(r.stages == t.stages);
  // A stage named after a checkpoint reaches the next one; close() still completes the file.
  w.stage("late_stage");
  w.checkpoint();
  fs::copy_file(dir / "run.h5.partial", dir / "killed2.h5");
  CHECK(trace::read_trace(dir / "killed2.h5").stages.back() == "late_stage");
  w.close();
  CHECK(trace::read_trace(dir / "run.h5").header.status == trace::RunStatus::complete);
}

TEST_CASE("a partial trace that does not read is named unrecoverable", "[trace][writer]") {
  const auto dir = testing::scratch_dir("unrecoverable");
  const trace::Trace t = sample();
  {
    trace::TraceWriter w(dir / "run.h5", t.header, t.selection_width);
    feed(w, t, 10);
    w.checkpoint();
  }
  // A kill before the first checkpoint reached the disk: the first bytes only.
  fs::resize_file(dir / "run.h5.partial", 48);
  CHECK_THROWS_WITH(trace::read_trace(dir / "run.h5.partial"),
                    Catch::Matchers::Contains("run.h5.partial") && Catch::Matchers::Contains("cannot be recovered"));
}

TEST_CASE("an exception mid-run leaves no final file", "[trace][writer]") {
  const auto dir = testing::scratch_dir("exception");
  const trace::Trace t = sample();
  try {
    trace::TraceWriter w(dir / "run.h5", t.header, t.selection_width);
    feed(w, t, 10);
    throw std::runtime_error("simulated failure");
  } catch (const std::runtime_error&) {
  }
  CHECK_FALSE(fs::exists(dir / "run.h5"));
}

TEST_CASE("close(truncated, reason) round trips the status", "[trace][writer]") {
  const auto dir = testing::scratch_dir("truncated");
  const trace::Trace t = sample();
  {
    trace::TraceWriter w(dir / "run.h5", t.header, t.selection_width);
    feed(w, t, t.ops.size());
    for (const auto& s : t.steps) w.add_step(s);
    w.close(trace::RunStatus::truncated, "out of memory at step 3");
    CHECK(w.final_path() == dir / "run.h5");
    CHECK_THROWS_AS(w.add_step(t.steps[0]), trace::TraceError);
  }
  CHECK_FALSE(fs::exists(dir / "run.h5.partial"));
  const auto r = trace::read_trace(dir / "run.h5");
  CHECK(r.header.status == trace::RunStatus::truncated);
  CHECK(r.header.status_reason == "out of memory at step 3");
  CHECK(r.ops.size() == t.ops.size());
}

TEST_CASE("close() replaces an older file of the same name", "[trace][writer]") {
  const auto dir = testing::scratch_dir("replace");
  trace::Trace t = sample();
  trace::write_trace(dir / "run.h5", t);
  t.header.clock = "steady_clock";
  trace::write_trace(dir / "run.h5", t);
  CHECK(trace::read_trace(dir / "run.h5").header.clock == "steady_clock");
}

TEST_CASE("the writer rejects records that break the schema", "[trace][writer]") {
  const auto dir = testing::scratch_dir("misuse");
  const trace::Trace t = sample();
  trace::TraceWriter w(dir / "run.h5", t.header, t.selection_width);
  feed(w, t, 5);
  trace::Op op = t.ops[5];
  op.id = t.ops[3].id;  // not increasing
  CHECK_THROWS_AS(w.add_op(op), trace::TraceError);
  op = t.ops[5];
  const std::uint64_t later[] = {op.id + 1};
  CHECK_THROWS_AS(w.add_op(op, later), trace::TraceError);
  op.end_ns = op.start_ns - 1;
  CHECK_THROWS_AS(w.add_op(op), trace::TraceError);
  op = t.ops[5];
  op.stage = 999;
  CHECK_THROWS_AS(w.add_op(op), trace::TraceError);
  const std::vector<std::uint32_t> too_many(t.selection_width + 1, 1);
  CHECK_THROWS_AS(w.add_selection({0, 0, 0, 0, 0}, too_many), trace::TraceError);
  const std::uint32_t repeated[] = {3, 3};
  CHECK_THROWS_AS(w.add_selection({0, 0, 0, 0, 0}, repeated), trace::TraceError);
  CHECK_THROWS_AS(w.stage(std::string(100, 'x')), trace::TraceError);
  const std::uint32_t unsorted[] = {7, 2, 5};
  w.add_selection({0, 1, 0, 1, 0}, unsorted);  // stored sorted
  w.close();
  const auto r = trace::read_trace(dir / "run.h5");
  REQUIRE(r.selection_keys.size() == 1);
  CHECK(r.selection_keys[0].count == 3);
  CHECK(r.selection_blocks[0] == 2);
  CHECK(r.selection_blocks[1] == 5);
  CHECK(r.selection_blocks[2] == 7);
  CHECK(r.selection_blocks[3] == trace::Trace::kNoBlock);
}

TEST_CASE("an unwritable path is a TraceError", "[trace][writer]") {
  const trace::Trace t = sample();
  CHECK_THROWS_AS(trace::TraceWriter("/nonexistent-dir/x/run.h5", t.header, 8), trace::TraceError);
}

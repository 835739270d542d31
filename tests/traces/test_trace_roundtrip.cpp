// Write -> read gives back every field; committed samples match the generator.
#include <filesystem>

#include "catch.hpp"
#include "foresight/trace/reader.hpp"
#include "foresight/trace/writer.hpp"
#include "sample_traces.hpp"
#include "trace_test_util.hpp"

using namespace foresight;
using foresight::testing::require_same_trace;

TEST_CASE("round trip of every sample kind, default and tiny buffers", "[trace][roundtrip]") {
  const auto dir = testing::scratch_dir("roundtrip");
  for (const auto& spec : samples::default_samples()) {
    INFO(spec.file);
    const trace::Trace t = samples::build_sample(spec);
    REQUIRE(!t.ops.empty());
    for (std::size_t buffer : {std::size_t{1} << 16, std::size_t{3}}) {
      trace::WriterOptions o;
      o.buffer_records = buffer;  // 3 forces many flushes of every table
      const auto path = dir / spec.file;
      trace::write_trace(path, t, o);
      REQUIRE(std::filesystem::exists(path));
      REQUIRE_FALSE(std::filesystem::exists(path.string() + ".partial"));
      require_same_trace(t, trace::read_trace(path));
    }
  }
}

TEST_CASE("uncompressed files round trip too", "[trace][roundtrip]") {
  const auto dir = testing::scratch_dir("uncompressed");
  const trace::Trace t = samples::build_sample(samples::default_samples()[0]);
  trace::WriterOptions o;
  o.deflate_level = 0;
  trace::write_trace(dir / "u.h5", t, o);
  require_same_trace(t, trace::read_trace(dir / "u.h5"));
}

TEST_CASE("committed samples are what the generator writes", "[trace][samples]") {
  for (const auto& spec : samples::default_samples()) {
    INFO(spec.file);
    const auto path = testing::samples_dir() / spec.file;
    REQUIRE(std::filesystem::exists(path));
    CHECK(std::filesystem::file_size(path) < 300 * 1024);
    // tool_version changes with releases; everything else must match.
    require_same_trace(samples::build_sample(spec), trace::read_trace(path), false);
  }
}

TEST_CASE("read without selections leaves them empty but keeps the width", "[trace][roundtrip]") {
  trace::ReadOptions o;
  o.load_selections = false;
  const auto t = trace::read_trace(testing::samples_dir() / "sparda-tiny.h5", o);
  CHECK(t.selection_keys.empty());
  CHECK(t.selection_blocks.empty());
  CHECK(t.selection_width == 8);
  CHECK(!t.ops.empty());
}

TEST_CASE("block ids >= 65535 switch /selections/blocks to uint32", "[trace][selections]") {
  const auto dir = testing::scratch_dir("wide");
  // One long sequence: 1,100,000 tokens of 16 = 68,750 blocks.
  samples::SampleSpec spec;
  spec.mode = config::Mode::sparda;
  trace::Trace t = samples::build_sample(spec);
  t.header.model.max_context = 2'000'000;
  t.header.run.batch = 1;
  t.header.run.context_tokens = {1'100'000};
  t.ops.clear();
  t.deps.clear();
  t.cache.clear();
  t.selection_keys.clear();
  t.selection_blocks.clear();
  const std::uint32_t small[] = {0, 5, 9, 68'000, 68'748, 68'749};
  for (std::int32_t step = 0; step < 5; ++step) {
    const std::uint16_t count = step < 3 ? 3 : 6;  // first rows fit uint16
    t.selection_keys.push_back({step, 1, 0, 1, count});
    for (std::uint32_t j = 0; j < t.selection_width; ++j)
      t.selection_blocks.push_back(j < count ? small[j] : trace::Trace::kNoBlock);
  }
  trace::WriterOptions o;
  o.buffer_records = 2;  // rows already flushed as uint16 are rewritten
  trace::write_trace(dir / "wide.h5", t, o);
  CHECK(testing::file_type_size(dir / "wide.h5", "/selections/blocks") == 4);
  require_same_trace(t, trace::read_trace(dir / "wide.h5"));
  CHECK(testing::file_type_size(testing::samples_dir() / "sparda-tiny.h5", "/selections/blocks") ==
        2);
}

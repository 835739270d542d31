// Token selections (schema v2, /token_selections): the delta + LEB128 codec by
// hand-computed bytes and damaged input, the writer -> reader round trip of a
// DSA trace, the validator's checks, and v1 files read with no token rows.
#include <cstdint>
#include <filesystem>
#include <vector>

#include "catch.hpp"
#include "foresight/trace/reader.hpp"
#include "foresight/trace/token_codec.hpp"
#include "foresight/trace/writer.hpp"
#include "trace_test_util.hpp"

using namespace foresight;
using Catch::Matchers::Contains;

namespace {

std::vector<std::uint8_t> encode(const std::vector<std::uint32_t>& ids) {
  std::vector<std::uint8_t> out;
  trace::encode_token_row(ids, out, "t");
  return out;
}

std::vector<std::uint32_t> decode(const std::vector<std::uint8_t>& bytes, std::uint32_t count) {
  std::vector<std::uint32_t> out;
  const std::size_t end = trace::decode_token_row(bytes, 0, count, out, "t", 7);
  CHECK(end == bytes.size());
  return out;
}

// A DSA trace: the tiny dense sample's ops and configs, mode dsa, two token
// rows per (step, layer 0) of sequence 0, no block selections or cache rows.
trace::Trace dsa_trace() {
  trace::Trace t = trace::read_trace(testing::samples_dir() / "dense-tiny.h5");
  t.header.run.mode = config::Mode::dsa;
  t.selection_keys.clear();
  t.selection_blocks.clear();
  t.cache.clear();
  const std::uint32_t ctx = static_cast<std::uint32_t>(t.header.run.context_tokens[0]);
  for (std::int32_t step = 0; step < 2; ++step) {
    const std::vector<std::uint32_t> ids = {0, 1, 5, 200, ctx + static_cast<std::uint32_t>(step)};
    t.token_keys.push_back({step, 0, 0, 0, static_cast<std::uint16_t>(ids.size())});
    t.token_ids.insert(t.token_ids.end(), ids.begin(), ids.end());
  }
  return t;
}

}  // namespace

TEST_CASE("token codec: hand-computed bytes", "[trace][tokens]") {
  // first id 3, gaps 1 (4-3-1 = 0), 127 (132-4-1), 128 (261-132-1)
  const std::vector<std::uint32_t> ids = {3, 4, 132, 261};
  const std::vector<std::uint8_t> want = {0x03, 0x00, 0x7F, 0x80, 0x01};
  CHECK(encode(ids) == want);
  CHECK(decode(want, 4) == ids);
  CHECK(encode({}).empty());
  // The largest id (2^32 - 2) takes five bytes.
  const std::vector<std::uint32_t> big = {0xFFFFFFFEu};
  CHECK(encode(big).size() == 5);
  CHECK(decode(encode(big), 1) == big);
}

TEST_CASE("token codec: a dense run of ids costs one byte each", "[trace][tokens]") {
  std::vector<std::uint32_t> ids;
  for (std::uint32_t i = 0; i < 2048; ++i) ids.push_back(16 * i + (i % 7));  // gaps < 128
  const auto bytes = encode(ids);
  CHECK(bytes.size() == 2048);
  CHECK(decode(bytes, 2048) == ids);
}

TEST_CASE("token codec: bad rows are refused, naming the row", "[trace][tokens]") {
  std::vector<std::uint8_t> out;
  CHECK_THROWS_WITH(trace::encode_token_row(std::vector<std::uint32_t>{4, 4}, out, "w"),
                    Contains("strictly ascending"));
  CHECK_THROWS_WITH(trace::encode_token_row(std::vector<std::uint32_t>{trace::Trace::kNoBlock}, out, "w"),
                    Contains("strictly ascending"));
  std::vector<std::uint32_t> ids;
  const std::vector<std::uint8_t> truncated = {0x03, 0x80};
  CHECK_THROWS_WITH(trace::decode_token_row(truncated, 0, 2, ids, "f.h5", 7),
                    Contains("f.h5") && Contains("row 7") && Contains("end after 1 of 2"));
  const std::vector<std::uint8_t> six_bytes = {0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
  CHECK_THROWS_WITH(trace::decode_token_row(six_bytes, 0, 1, ids, "f.h5", 0), Contains("more than 5 bytes"));
  // 0xFFFFFFFE then a gap of 0 gives 2^32 - 1, the reserved value.
  const std::vector<std::uint8_t> overflow = {0xFE, 0xFF, 0xFF, 0xFF, 0x0F, 0x00};
  CHECK_THROWS_WITH(trace::decode_token_row(overflow, 0, 2, ids, "f.h5", 0), Contains("out of range"));
}

TEST_CASE("token selections: write -> read gives back every row", "[trace][tokens]") {
  const auto dir = testing::scratch_dir("tokens-roundtrip");
  const trace::Trace t = dsa_trace();
  for (std::size_t buffer : {std::size_t{1} << 16, std::size_t{1}}) {
    trace::WriterOptions o;
    o.buffer_records = buffer;
    trace::write_trace(dir / "dsa.h5", t, o);
    const trace::Trace back = trace::read_trace(dir / "dsa.h5");
    CHECK(back.header.schema_version == trace::kSchemaVersion);
    testing::require_same_trace(t, back);
  }
  trace::ReadOptions no_sel;
  no_sel.load_selections = false;
  CHECK(trace::read_trace(dir / "dsa.h5", no_sel).token_keys.empty());
}

TEST_CASE("token selections: the validator names the row", "[trace][tokens]") {
  trace::Trace t = dsa_trace();
  t.token_ids[4] = static_cast<std::uint32_t>(t.header.run.context_tokens[0]) + 1;  // step 0 holds ctx + 1 tokens
  CHECK_THROWS_WITH(trace::validate(t, "x.h5"), Contains("x.h5") && Contains("row 0 id 4") && Contains("outside"));
  t = dsa_trace();
  t.token_keys[1].layer = 999;
  CHECK_THROWS_WITH(trace::validate(t, "x.h5"), Contains("/token_selections/keys[1].layer"));
  t = dsa_trace();
  t.token_keys[0].count = 200;
  CHECK_THROWS_WITH(trace::validate(t, "x.h5"), Contains("runs past"));
  t = dsa_trace();
  t.header.run.mode = config::Mode::sparda;
  CHECK_THROWS_WITH(trace::validate(t, "x.h5"), Contains("does not select tokens"));
}

TEST_CASE("a v1 trace reads with no token rows", "[trace][tokens]") {
  const trace::Trace t = trace::read_trace(testing::samples_dir() / "h200-sparda-b16-32k.h5");
  CHECK(t.header.schema_version == 1);
  CHECK(t.token_keys.empty());
  CHECK(t.token_ids.empty());
  CHECK_FALSE(t.selection_keys.empty());
}

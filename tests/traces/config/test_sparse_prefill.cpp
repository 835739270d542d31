// config/sparse_prefill.hpp: names, run checks, op costs and tile scaling.
#include <string>

#include "catch.hpp"
#include "foresight/config/footprint.hpp"
#include "foresight/config/load.hpp"
#include "foresight/config/sparse_prefill.hpp"

using namespace foresight::config;

namespace {
std::string error_of(auto&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

RunConfig sparse_run() {
  RunConfig r;
  r.mode = Mode::dense;
  r.context_tokens = {32768};
  r.prefill_attention = PrefillAttention::dynamic_sparse;
  r.prefill_chunk_tokens = 32767;
  return r;
}
}  // namespace

TEST_CASE("prefill attention names round trip and unknown names are rejected") {
  for (const auto& n : prefill_attention_names()) CHECK(to_string(parse_prefill_attention(n, "f")) == n);
  CHECK_THAT(error_of([] { parse_prefill_attention("dynamic_sparse", "--prefill-attention"); }),
             Catch::Contains("--prefill-attention") && Catch::Contains("dynamic-sparse"));
  CHECK(prefill_pattern_kinds(PrefillAttention::dense) == 0u);
  CHECK(prefill_pattern_kinds(PrefillAttention::dynamic_sparse) == 7u);
  CHECK(prefill_pattern_kinds(PrefillAttention::interval_slash) == 2u);
  CHECK(std::string(prefill_pattern_name(2)) == "block-cluster");
  CHECK(std::string(prefill_pattern_name(9)) == "unknown");
}

TEST_CASE("a sparse prefill run needs real prefill, one chunk and a recall in (0, 1]") {
  const ModelConfig m = load_model("minicpm4.1-8b");
  CHECK_NOTHROW(validate_run(sparse_run(), m, "run"));
  auto r = sparse_run();
  r.prefill_chunk_tokens = 512;
  CHECK_THAT(error_of([&] { validate_run(r, m, "run"); }),
             Catch::Contains("prefill_chunk_tokens") && Catch::Contains("32767"));
  r = sparse_run();
  r.prefill = "synthetic";
  CHECK_THAT(error_of([&] { validate_run(r, m, "run"); }), Catch::Contains("prefill_attention"));
  for (double bad : {0.0, 1.01, -1.0}) {
    r = sparse_run();
    r.prefill_recall = bad;
    CHECK_THAT(error_of([&] { validate_run(r, m, "run"); }), Catch::Contains("prefill_recall"));
  }
  // Round trip through JSON; an old config without the keys reads as dense.
  CHECK(to_json(run_from_json(to_json(sparse_run()), "j")) == to_json(sparse_run()));
  auto j = to_json(sparse_run());
  j.erase("prefill_attention");
  j.erase("prefill_recall");
  j["prefill_chunk_tokens"] = 512;
  CHECK(run_from_json(j, "j").prefill_attention == PrefillAttention::dense);
}

TEST_CASE("sparse prefill op costs follow their formulas") {
  const ModelConfig m = load_model("minicpm4.1-8b");  // 32 heads, 2 KV heads, head_dim 128, bf16
  const std::int64_t T = 8192;
  CHECK(dense_prefill_tiles(T) == 128 * 129 / 2);
  CHECK(dense_prefill_tiles(65) == 3);
  const auto att = prefill_sparse_attention_cost(m, T, 1000);
  CHECK(att.flops == 1000ull * 4 * 64 * 64 * 128);
  CHECK(att.bytes == 1000ull * 64 * 128 * 2 * 2 + 2ull * 8192 * 32 * 128 * 2);
  const auto est = prefill_estimate_cost(m, T);
  CHECK(est.flops == 4ull * 64 * 8192 * 32 * 128);
  CHECK(prefill_choose_cost(m, T, 10).bytes == 2ull * 32 * 8192 * 4 + 40);
  CHECK(prefill_choose_cost(m, T, 10).flops == 0);
  // The layout bound covers every head dense.
  CHECK(prefill_sparse_bytes(m, T) > 4ull * 32 * static_cast<std::uint64_t>(dense_prefill_tiles(T)));
}

TEST_CASE("recorded tiles scale by share or by pattern extents, full coverage stays dense") {
  const auto P = PrefillGrowth::patterns;
  // patterns: a band of 2 tiles per query block at 4096 tokens (64 blocks).
  CHECK(scaled_prefill_tiles(128, false, 4096, 8192, P) == 256);
  CHECK(scaled_prefill_tiles(128, false, 4096, 2048, P) == 64);
  CHECK(scaled_prefill_tiles(128, false, 4096, 4096, P) == 128);
  // share (the default): 1040 of 2080 tiles at 4096 is half of the 8256 at 8192.
  CHECK(scaled_prefill_tiles(1040, false, 4096, 8192) == 4128);
  CHECK(scaled_prefill_tiles(1040, false, 4096, 4096) == 1040);
  // Never past dense, and a full-coverage head is dense at the new length.
  CHECK(scaled_prefill_tiles(2000, false, 4096, 128, P) == static_cast<std::uint64_t>(dense_prefill_tiles(128)));
  CHECK(scaled_prefill_tiles(2080, true, 4096, 8192, P) == static_cast<std::uint64_t>(dense_prefill_tiles(8192)));
  CHECK(std::string(to_string(parse_prefill_growth("patterns", "f"))) == "patterns");
  CHECK_THAT(error_of([] { parse_prefill_growth("linear", "--prefill-growth"); }), Catch::Contains("share"));
}

TEST_CASE("the footprint counts the sparse prefill buffers") {
  const ModelConfig m = load_model("minicpm4.1-8b");
  const HardwareConfig hw = load_hardware("h200");
  auto dense = sparse_run();
  dense.prefill_attention = PrefillAttention::dense;
  CHECK(footprint(m, dense, hw).bytes("prefill_sparse") == 0);
  CHECK(footprint(m, sparse_run(), hw).bytes("prefill_sparse") > 0);
}

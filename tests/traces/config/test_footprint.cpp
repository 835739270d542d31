// config::footprint and config::mode_traits on MiniCPM4.1-8B numbers (KV 1 KiB
// per token per layer), hand-computed from the buffers the runtime allocates.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "foresight/config/footprint.hpp"
#include "foresight/config/load.hpp"

using namespace foresight;
using namespace foresight::config;
using Catch::Matchers::Contains;

namespace {
ModelConfig minicpm() {
  ModelConfig m;
  m.name = "minicpm4.1-8b";
  m.n_layers = 32; m.hidden = 4096; m.n_heads = 32; m.n_kv_heads = 2; m.head_dim = 128;
  m.intermediate = 16384; m.vocab = 73448;
  return m;
}
HardwareConfig h100() {
  HardwareConfig h;
  h.name = "h100-test";
  h.sm_count = 132;
  h.gpu_mem_bytes = 80ll << 30;
  h.host_mem_bytes = 125ll << 30;
  return h;
}
// 4 sequences of 131067 tokens + 1 warm-up + 4 decode steps = 131072 = 2048 blocks.
RunConfig run4(Mode mode, const std::string& prefill) {
  RunConfig r;
  r.mode = mode; r.batch = 4; r.context_tokens.assign(4, 131067);
  r.decode_steps = 4; r.warmup_steps = 1; r.topk_blocks = 96; r.prefill = prefill;
  return r;
}
std::uint64_t at(const Footprint& f, trace::MemoryLocation loc, const std::string& c) {
  for (const auto& i : f.items)
    if (i.location == loc && i.category == c) return i.bytes;
  return 0;
}
struct Expected {
  Mode mode;
  std::uint64_t kv_gpu_layers, kv_host_layers, layer0;  // whole layers of the KV store
  bool selects;
};
}  // namespace

TEST_CASE("mode traits: selection source, KV location and transfer path of every mode") {
  using S = SelectionSource;
  using T = TransferPath;
  REQUIRE(kAllModes.size() == 8);
  CHECK(mode_traits(Mode::dense).selection == S::none);
  CHECK(mode_traits(Mode::sparse).selection == S::query);
  CHECK(mode_traits(Mode::sparse_offload).selection == S::query);
  for (Mode m : {Mode::sparda_no_prefetch, Mode::sparda, Mode::sparda_no_offload})
    CHECK(mode_traits(m).selection == S::forecast);
  CHECK(mode_traits(Mode::sparse).transfer == T::device_gather);
  CHECK(mode_traits(Mode::sparda_no_offload).transfer == T::device_gather);
  CHECK(mode_traits(Mode::sparse_offload).transfer == T::inline_gather);
  CHECK(mode_traits(Mode::sparda_no_prefetch).transfer == T::inline_gather);
  CHECK(mode_traits(Mode::sparda).transfer == T::side_prefetch);
  CHECK(mode_traits(Mode::sparda).prefetch == Prefetch::lookahead);
  // Layers in pinned host memory: sparse-offload all, the SparDA offload modes all but layer 0.
  CHECK(mode_traits(Mode::sparse_offload).host_layers(32) == 32);
  CHECK(mode_traits(Mode::sparda).host_layers(32) == 31);
  CHECK(mode_traits(Mode::sparda_no_prefetch).host_layers(32) == 31);
  CHECK(mode_traits(Mode::sparda_no_offload).host_layers(32) == 0);
  // DSA: the indexer selects tokens; dsa-offload keeps every layer on the host.
  for (Mode m : {Mode::dsa, Mode::dsa_offload}) {
    CHECK(mode_traits(m).selection == S::indexer);
    CHECK(mode_traits(m).selects_tokens());
    CHECK(!mode_traits(m).selects_blocks());
  }
  CHECK(mode_traits(Mode::dsa).transfer == T::device_gather);
  CHECK(mode_traits(Mode::dsa_offload).transfer == T::inline_gather);
  CHECK(mode_traits(Mode::dsa_offload).host_layers(32) == 32);
  CHECK(mode_traits(Mode::dsa).host_layers(32) == 0);
  for (Mode m : kAllModes) {
    INFO(to_string(m));
    CHECK(mode_traits(m).mode == m);
    CHECK(parse_mode(to_string(m), "mode") == m);  // the names round-trip
    CHECK((mode_traits(m).transfer == T::none) == !(mode_traits(m).selects_blocks() || mode_traits(m).selects_tokens()));
    CHECK((mode_traits(m).transfer == T::inline_gather || mode_traits(m).transfer == T::side_prefetch) ==
          mode_traits(m).kv_on_host());
  }
  REQUIRE_THROWS_WITH(parse_mode("sparda-prefetch", "--mode"), Contains("did you mean"));
}

TEST_CASE("footprint: every mode's categories, MiniCPM4.1-8B, 4 x 128K") {
  const auto m = minicpm();
  using L = trace::MemoryLocation;
  const std::uint64_t layer = 4ull * 131072 * 1024;  // one layer's KV store: 512 MiB
  const std::uint64_t ws = 32ull * 4 * 97 * 64 * 1024;  // 32 layers x 4 seqs x (96 + tail) slots
  const std::uint64_t windows = (131072 - 32) / 16 + 1;   // 8191 compressed keys
  const std::uint64_t compressed = 32ull * 4 * (windows + 32) * 512 + 131072ull * 512;
  // Maps and load lists (rows 8 x 96 slots x 3 int32 + load counts) per layer,
  // selected ids [32, 8, 96], scores [8, W], slot lists, list/tail ints, counters.
  const std::uint64_t selection = 32 * (8 * 96 * 12 + 8 * 4) + 32 * 8 * 96 * 4 +
                                  8 * (windows * 4 + 97 * 4 + 96 * 4 + 8) + 32 * 24;
  const std::uint64_t act = (512ull * (2 * 4096 + 4864 + 4096 + 3 * 16384) + 4 * (4096 + 256 + 73448)) * 2;
  const std::uint64_t attn_ws = 4ull * 4 * 32 * (132 / 8) * 130;
  const std::uint64_t query_ws = 4ull * 4 * 32 * (windows + 2 * 32);
  const std::uint64_t weights = 2 * static_cast<std::uint64_t>(m.stored_params());
  const std::vector<Expected> expected = {
      {Mode::dense, 32, 0, 0, false},          {Mode::sparse, 32, 0, 0, true},
      {Mode::sparse_offload, 0, 32, 0, true},  {Mode::sparda_no_prefetch, 0, 31, 1, true},
      {Mode::sparda, 0, 31, 1, true},          {Mode::sparda_no_offload, 32, 0, 0, true},
  };
  for (const auto& e : expected) {
    for (const std::string prefill : {"real", "synthetic"}) {
      INFO(to_string(e.mode) << ", prefill " << prefill);
      const Footprint f = footprint(m, run4(e.mode, prefill), h100());
      const std::uint64_t staging = prefill == "real" ? e.kv_host_layers * 131072 * 1024 : 0;
      const bool query = mode_traits(e.mode).selection == SelectionSource::query;
      const std::uint64_t workspace = (32ull << 20) + (query ? query_ws : attn_ws);
      CHECK(at(f, L::gpu, "weights") == weights);
      CHECK(at(f, L::gpu, "kv_full") == e.kv_gpu_layers * layer);
      CHECK(at(f, L::gpu, "kv_layer0") == e.layer0 * layer);
      CHECK(at(f, L::host_pinned, "kv_full") == e.kv_host_layers * layer);
      CHECK(at(f, L::gpu, "kv_prefill_staging") == staging);
      CHECK(at(f, L::gpu, "kv_working_set") == (e.selects ? ws : 0));
      CHECK(at(f, L::gpu, "compressed_keys") == (e.selects ? compressed : 0));
      CHECK(at(f, L::gpu, "selection") == (e.selects ? selection : 0));
      CHECK(at(f, L::gpu, "activations") == act);
      CHECK(at(f, L::gpu, "workspace") == workspace);
      CHECK(f.host_bytes() == e.kv_host_layers * layer);
      CHECK(f.gpu_bytes() == weights + (e.kv_gpu_layers + e.layer0) * layer + staging +
                                 (e.selects ? ws + compressed + selection : 0) + act + workspace);
    }
  }
}

TEST_CASE("footprint: the DSA modes' categories, MiniCPM4.1-8B, 4 x 128K, top-2048 tokens") {
  const auto m = minicpm();  // dsa: top-2048, 4 indexer heads of 64
  using L = trace::MemoryLocation;
  const std::uint64_t layer = 4ull * 131072 * 1024;  // one layer's KV store: 512 MiB
  const std::uint64_t indexer_rows = 4 * 64 + 64 + 4;  // queries, key, head weights per token
  const std::uint64_t weights = 2 * (static_cast<std::uint64_t>(m.stored_params()) + 32ull * 4096 * indexer_rows);
  const std::uint64_t gathered = 4ull * 2048 * 1024;            // 4 seqs x 2048 tokens x K+V of 8 heads
  const std::uint64_t keys = 32ull * 4 * 131072 * 64 * 2;        // indexer keys, bf16
  const std::uint64_t selection = 4ull * 131072 * 4 + 32ull * 4 * 2049 * 4;
  const std::uint64_t act = (512ull * (2 * 4096 + 4864 + indexer_rows + 4096 + 3 * 16384) +
                             4 * (4096 + 256 + 73448)) * 2;
  for (Mode mode : {Mode::dsa, Mode::dsa_offload}) {
    INFO(to_string(mode));
    const Footprint f = footprint(m, run4(mode, "real"), h100());
    const bool host = mode == Mode::dsa_offload;
    CHECK(at(f, L::gpu, "weights") == weights);
    CHECK(at(f, L::gpu, "kv_full") == (host ? 0 : 32 * layer));
    CHECK(at(f, L::host_pinned, "kv_full") == (host ? 32 * layer : 0));
    CHECK(at(f, L::gpu, "kv_prefill_staging") == (host ? 32ull * 131072 * 1024 : 0));
    CHECK(at(f, L::gpu, "kv_gathered") == gathered);
    CHECK(at(f, L::gpu, "indexer_keys") == keys);
    CHECK(at(f, L::gpu, "selection") == selection);
    CHECK(at(f, L::gpu, "kv_working_set") == 0);
    CHECK(at(f, L::gpu, "compressed_keys") == 0);
    CHECK(at(f, L::gpu, "activations") == act);
  }
}

TEST_CASE("footprint: sizes follow the longest sequence, the chunk and the cache") {
  const auto m = minicpm();
  auto r = run4(Mode::sparse, "real");
  r.context_tokens = {100, 131067, 5, 7};  // every store is as long as the longest
  CHECK(footprint(m, r, h100()).bytes("kv_full") == 32ull * 4 * 131072 * 1024);
  r.context_tokens = {131067};  // shorter than batch: the rest repeat it
  CHECK(footprint(m, r, h100()).bytes("kv_full") == 32ull * 4 * 131072 * 1024);
  r.context_tokens = {131068, 131068, 131068, 131068};  // one token more: a block more
  CHECK(footprint(m, r, h100()).bytes("kv_full") == 32ull * 4 * 131136 * 1024);
  // Activations scale with the prefill chunk (rows = max(batch, chunk)).
  auto c = run4(Mode::dense, "real");
  const auto a512 = footprint(m, c, h100()).bytes("activations");
  c.prefill_chunk_tokens = 2048;
  CHECK(footprint(m, c, h100()).bytes("activations") - a512 == 1536ull * 66304 * 2);
  // cache_blocks counts the tail slot: 200 slots per (layer, seq, KV head).
  auto o = run4(Mode::sparse_offload, "real");
  o.cache_blocks = 200;
  CHECK(footprint(m, o, h100()).bytes("kv_working_set") == 32ull * 4 * 200 * 64 * 1024);
}

TEST_CASE("footprint: capacities come from the hardware config") {
  const auto m = minicpm();
  auto hw = h100();
  const auto r = run4(Mode::sparda, "synthetic");
  Footprint f = footprint(m, r, hw);
  CHECK(f.gpu_capacity_bytes == 80ull << 30);
  CHECK(f.host_capacity_bytes == 113ull << 30);  // 125 GiB less the 12 GiB default reserve
  CHECK(f.fits());
  CHECK(f.shortfall().empty());
  hw.host_reserve_bytes = 110ll << 30;  // 15 GiB left: 15.5 GiB of pinned KV no longer fits
  f = footprint(m, r, hw);
  CHECK_FALSE(f.fits());
  CHECK_THAT(f.shortfall(), Contains("pinned host memory: needs 15.50 GiB of 15.00 GiB"));
  CHECK_THAT(f.breakdown(), Contains("DOES NOT FIT") && Contains("kv_full"));
  hw.gpu_workspace_bytes = 1ll << 30;
  CHECK(footprint(m, r, hw).bytes("workspace") - footprint(m, r, h100()).bytes("workspace") ==
        (1ull << 30) - (32ull << 20));
}

TEST_CASE("hardware: workspace and host reserve are optional, with provenance when given") {
  const auto h = load_hardware(std::string(FORESIGHT_TEST_CONFIGS) + "/hardware/h100-sxm.toml");
  CHECK(h.gpu_workspace_bytes == 32ll << 20);
  CHECK(h.host_reserve_bytes == 12ll << 30);
  CHECK(h.provenance.count("host_reserve_bytes") == 0);  // a default needs no source
  auto j = to_json(h);
  CHECK(to_json(hardware_from_json(j, "h.json")) == j);  // exact round trip
  j["host_reserve_bytes"] = 8ll << 30;
  j["provenance"].erase("host_reserve_bytes");
  REQUIRE_THROWS_WITH(hardware_from_json(j, "h.json"), Contains("'host_reserve_bytes' has no provenance"));
  j["provenance"]["host_reserve_bytes"] = "measured: free -g";
  CHECK(hardware_from_json(j, "h.json").host_reserve_bytes == 8ll << 30);
  j.erase("host_reserve_bytes");
  j.erase("gpu_workspace_bytes");
  j["provenance"].erase("host_reserve_bytes");
  CHECK(hardware_from_json(j, "old trace").host_reserve_bytes == 12ll << 30);  // files before the field
}

TEST_CASE("hardware: the bulk-copy gather curve is optional, with provenance when given") {
  auto j = to_json(load_hardware(std::string(FORESIGHT_TEST_CONFIGS) + "/hardware/h100-sxm.toml"));
  REQUIRE(j.contains("bulk_gather_by_ctas_16k"));
  CHECK(hardware_from_json(j, "h.json").bulk_gather_by_ctas_16k.at(4) == 50.8);
  j["provenance"].erase("bulk_gather_by_ctas_16k");
  REQUIRE_THROWS_WITH(hardware_from_json(j, "h.json"), Contains("'bulk_gather_by_ctas_16k' has no provenance"));
  j["provenance"]["bulk_gather_by_ctas_16k"] = "measured: here";
  j["bulk_gather_by_ctas_16k"]["gbps"] = nlohmann::json::array({1, 2});
  REQUIRE_THROWS_WITH(hardware_from_json(j, "h.json"), Contains("bulk_gather_by_ctas_16k"));
  j.erase("bulk_gather_by_ctas_16k");
  j["provenance"].erase("bulk_gather_by_ctas_16k");
  const auto old = hardware_from_json(j, "old trace");  // files before the curve
  CHECK(old.bulk_gather_by_ctas_16k.x.empty());
  CHECK_FALSE(to_json(old).contains("bulk_gather_by_ctas_16k"));
  // The gather rate by path: each its own curve; without a bulk curve, the link.
  const auto h100 = load_hardware(std::string(FORESIGHT_TEST_CONFIGS) + "/hardware/h100-sxm.toml");
  CHECK(gather_gbps_16k(h100, true, 1) == 17.7);
  CHECK(gather_gbps_16k(h100, true, 0) == 17.7);  // at least one CTA
  CHECK(gather_gbps_16k(h100, false, 16) == h100.gather_by_ctas_16k.at(16));
  CHECK(gather_gbps_16k(old, true, 4) == old.h2d_gbps);
}

TEST_CASE("run config: prefill_chunk_tokens is optional in JSON (512) and checked") {
  RunConfig r = run4(Mode::dense, "real");
  r.backend = "cuda";
  auto j = to_json(r);
  CHECK(j["prefill_chunk_tokens"] == 512);
  j.erase("prefill_chunk_tokens");
  CHECK(run_from_json(j, "old trace").prefill_chunk_tokens == 512);
  j["prefill_chunk_tokens"] = 0;
  REQUIRE_THROWS_WITH(run_from_json(j, "run.json"), Contains("prefill_chunk_tokens"));
}

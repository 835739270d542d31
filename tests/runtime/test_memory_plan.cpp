// Memory planner on MiniCPM4.1-8B numbers (KV 1 KiB per token per layer).
#include "catch.hpp"
#include "foresight/runtime/memory_plan.hpp"

using namespace foresight;
using namespace foresight::runtime;
using Catch::Matchers::Contains;

namespace {
config::ModelConfig minicpm() {
  config::ModelConfig m;
  m.name = "minicpm4.1-8b";
  m.n_layers = 32; m.hidden = 4096; m.n_heads = 32; m.n_kv_heads = 2; m.head_dim = 128;
  m.intermediate = 16384; m.vocab = 73448;
  return m;
}
config::HardwareConfig h100() {
  config::HardwareConfig h;
  h.name = "h100-test";
  h.gpu_mem_bytes = 80ll << 30;
  h.host_mem_bytes = 125ll << 30;
  return h;
}
std::uint64_t item(const MemoryPlan& p, const std::string& c) {
  for (const auto& i : p.items) if (i.category == c) return i.bytes;
  return 0;
}
config::RunConfig run(config::Mode mode, std::int64_t batch, std::int64_t ctx) {
  config::RunConfig r;
  r.mode = mode; r.batch = batch; r.context_tokens.assign(static_cast<std::size_t>(batch), ctx);
  r.decode_steps = 0; r.warmup_steps = 0; r.topk_blocks = 96;
  return r;
}
}  // namespace

TEST_CASE("KV bytes follow 1 KiB per token per layer") {
  auto m = minicpm();
  REQUIRE(m.kv_bytes_per_token_layer() == 1024);
  auto p = plan_memory(m, run(config::Mode::dense, 2, 4096), h100());
  CHECK(item(p, "kv_full") == 2ull * 4096 * 32 * 1024);  // 256 MiB
  CHECK(item(p, "compressed_keys") == 0);                 // dense keeps none
  // ~8.2e9 parameters in bf16, incl. the 0.4% Forecast.
  CHECK(item(p, "weights") > 16'000'000'000ull);
  CHECK(item(p, "weights") < 17'000'000'000ull);
  // Context not a multiple of the block rounds up to whole blocks.
  auto q = plan_memory(m, run(config::Mode::sparse, 1, 4097), h100());
  CHECK(item(q, "kv_full") == 4160ull * 32 * 1024);
  CHECK(item(q, "compressed_keys") == ((4097 - 32) / 16 + 1) * 32ull * 256 * 2);
  CHECK(item(q, "kv_working_set") == 32ull * 97 * 64 * 1024);  // slots for the GPU-to-GPU gather
  CHECK(item(p, "kv_working_set") == 0);
}

TEST_CASE("offload modes keep the full KV on the host and working sets on the GPU") {
  auto m = minicpm();
  auto p = plan_memory(m, run(config::Mode::sparda, 4, 131072), h100());
  // Layers 1..31 on the host (layer 0 stays resident on the GPU): 15.5 GiB pinned.
  CHECK(item(p, "kv_full") == 4ull * 131072 * 31 * 1024);
  CHECK(p.host_bytes() == 31ull << 29);
  // 32 layers x 4 seqs x 97 slots x 64 tokens x 1 KiB (layer 0's KV stays
  // resident, and its selected blocks are copied GPU-to-GPU into its slots).
  CHECK(item(p, "kv_working_set") == 32ull * 4 * 97 * 64 * 1024);
  CHECK(item(p, "kv_layer0") == 4ull * 131072 * 1024);
  auto r = run(config::Mode::sparse_offload, 4, 131072);
  r.cache_blocks = 200;  // counts the tail slot (config: 0 = topk + 1)
  auto q = plan_memory(m, r, h100());
  CHECK(item(q, "kv_working_set") == 32ull * 4 * 200 * 64 * 1024);
  CHECK(item(q, "kv_layer0") == 0);
  CHECK(q.host_bytes() == 16ull << 30);  // all 32 layers
}

namespace {
struct Expected {
  config::Mode mode;
  std::uint64_t kv_full_gpu, kv_full_host, working_set, layer0, compressed, staging;
};
}  // namespace

TEST_CASE("every mode's categories and bytes, MiniCPM4.1-8B, 4 x 128K, real prefill") {
  auto m = minicpm();
  // Hand-computed: 131072 tokens = 2048 blocks per sequence, KV 1 KiB per token
  // per layer, 32 layers, top-k 96 (+1 tail slot) blocks of 64 tokens.
  const std::uint64_t seq_layer = 131072ull * 1024;                   // 128 MiB
  const std::uint64_t ws_layer = 4ull * 97 * 64 * 1024;               // 4 seqs x 97 slots
  const std::uint64_t windows = (131072 - 32) / 16 + 1;               // 8191 compressed keys
  const std::uint64_t compressed = 4 * windows * 32 * (2 * 128) * 2;  // all layers, bf16
  const std::uint64_t staging = 131072ull * 32 * 1024;                // one sequence, all layers: 4 GiB
  const std::uint64_t staging31 = 131072ull * 31 * 1024;              // sparda modes: layers 1..31
  const std::vector<Expected> expected = {
      {config::Mode::dense, 4 * 32 * seq_layer, 0, 0, 0, 0, 0},
      {config::Mode::sparse, 4 * 32 * seq_layer, 0, 32 * ws_layer, 0, compressed, 0},
      {config::Mode::sparse_offload, 0, 4 * 32 * seq_layer, 32 * ws_layer, 0, compressed, staging},
      {config::Mode::sparda_no_prefetch, 0, 4 * 31 * seq_layer, 32 * ws_layer, 4 * seq_layer, compressed, staging31},
      {config::Mode::sparda, 0, 4 * 31 * seq_layer, 32 * ws_layer, 4 * seq_layer, compressed, staging31},
      {config::Mode::sparda_no_offload, 4 * 32 * seq_layer, 0, 32 * ws_layer, 0, compressed, 0},
  };
  // Weights: embed + lm_head, final norm, selector, 32 x (2 norms, QKVF, O, gate/up/down).
  const std::uint64_t per_layer = 2 * 4096 + (4096 + 3 * 256) * 4096 + 4096 * 4096 + 3 * 16384ull * 4096;
  const std::uint64_t weights = 2 * (2 * 73448ull * 4096 + 4096 + 256 * 4096 + 32 * per_layer);
  // Activations of 4 decode rows + a 2048-token prefill chunk, 70400 values per row.
  const std::uint64_t act = (4 + 2048) * (3 * 4096 + 38 * 128 + 32 * 128 + 3 * 16384ull) * 2;
  const std::uint64_t workspace = (32ull << 20) + 4 * 32 * 32 * 130 * 4;
  const std::uint64_t logits = 4 * 73448ull * 6;
  for (const auto& e : expected) {
    for (const std::string prefill : {"real", "synthetic"}) {
      INFO(config::to_string(e.mode) << ", prefill " << prefill);
      auto r = run(e.mode, 4, 131072);
      r.prefill = prefill;
      const auto p = plan_memory(m, r, h100());
      std::uint64_t kv_gpu = 0, kv_host = 0;
      for (const auto& i : p.items) {
        if (i.category == "kv_full") (i.location == trace::MemoryLocation::gpu ? kv_gpu : kv_host) += i.bytes;
      }
      CHECK(kv_gpu == e.kv_full_gpu);
      CHECK(kv_host == e.kv_full_host);
      CHECK(p.host_bytes() == e.kv_full_host);
      CHECK(item(p, "kv_working_set") == e.working_set);
      CHECK(item(p, "kv_layer0") == e.layer0);
      CHECK(item(p, "compressed_keys") == e.compressed);
      CHECK(item(p, "kv_prefill_staging") == (prefill == "real" ? e.staging : 0));
      const std::uint64_t selection = e.mode == config::Mode::dense ? 0 : 4 * 2 * (windows * 4 + 96 * 8);
      CHECK(item(p, "selection") == selection);
      CHECK(item(p, "weights") == weights);
      CHECK(item(p, "activations") == act);
      CHECK(item(p, "workspace") == workspace);
      CHECK(item(p, "logits") == logits);
      CHECK(p.gpu_bytes() == weights + e.kv_full_gpu + e.working_set + e.layer0 + e.compressed +
                                 (prefill == "real" ? e.staging : 0) + selection + act + workspace + logits);
    }
  }
}

TEST_CASE("a run that does not fit fails with the breakdown") {
  auto m = minicpm();
  auto p = plan_memory(m, run(config::Mode::dense, 17, 131072), h100());  // 68 GiB of KV + 15.3 GiB weights
  REQUIRE_FALSE(p.fits());
  REQUIRE_THROWS_WITH(require_fits(p), Contains("does not fit") && Contains("kv_full") &&
                                           Contains("DOES NOT FIT") && Contains("weights"));
  CHECK_NOTHROW(require_fits(plan_memory(m, run(config::Mode::dense, 1, 4096), h100())));
}

TEST_CASE("largest feasible batch: offload beats resident KV") {
  auto m = minicpm();
  auto hw = h100();
  auto base = run(config::Mode::dense, 1, 131072);
  const auto dense = largest_feasible_batch(m, base, hw, config::Mode::dense, 131072);
  const auto sparda = largest_feasible_batch(m, base, hw, config::Mode::sparda, 131072);
  // Dense: (80 GiB - 15.3 GiB weights - ~0.3 GiB overhead) / 4 GiB per sequence.
  CHECK(dense == 16);
  CHECK(sparda > dense);
  // And the answer is tight: one more does not fit.
  auto r = run(config::Mode::sparda, sparda + 1, 131072);
  CHECK_FALSE(plan_memory(m, r, hw).fits());
  r = run(config::Mode::sparda, sparda, 131072);
  CHECK(plan_memory(m, r, hw).fits());
  hw.gpu_mem_bytes = 1ll << 30;  // weights alone do not fit
  CHECK(largest_feasible_batch(m, base, hw, config::Mode::dense, 4096) == 0);
}

TEST_CASE("feasibility table: every mode at 128K on an 80 GiB GPU with 125 GiB pinned host") {
  auto m = minicpm();
  auto base = run(config::Mode::dense, 1, 131072);
  base.prefill = "real";
  const auto rows = feasibility_table(m, base, h100(), 131072);
  REQUIRE(rows.size() == 6);
  const config::Mode order[] = {config::Mode::dense, config::Mode::sparse, config::Mode::sparse_offload,
                                config::Mode::sparda_no_prefetch, config::Mode::sparda,
                                config::Mode::sparda_no_offload};
  for (std::size_t i = 0; i < rows.size(); ++i) {
    INFO(config::to_string(rows[i].mode));
    CHECK(rows[i].mode == order[i]);
    REQUIRE(rows[i].largest_batch > 0);
    auto at = run(rows[i].mode, rows[i].largest_batch, 131072);
    at.prefill = "real";
    const auto p = plan_memory(m, at, h100());
    CHECK(p.fits());
    CHECK(rows[i].gpu_bytes == p.gpu_bytes());
    CHECK(rows[i].host_bytes == p.host_bytes());
    at = run(rows[i].mode, rows[i].largest_batch + 1, 131072);
    at.prefill = "real";
    CHECK_FALSE(plan_memory(m, at, h100()).fits());
  }
  CHECK(rows[0].largest_batch == 16);
  // Offload modes are bound by pinned host memory: (125 - 12 reserved) GiB /
  // 4 GiB per sequence (all 32 layers) = 28; / 3.875 GiB (31 layers, SparDA) = 29.
  CHECK(rows[2].largest_batch == 28);
  CHECK(rows[3].largest_batch == 29);
  CHECK(rows[4].largest_batch == 29);
  CHECK(rows[4].host_bytes == 29ull * 31 * 131072 * 1024);

  const auto j = to_json(rows);
  REQUIRE(j.size() == 6);
  CHECK(j[4]["mode"] == "sparda");
  CHECK(j[4]["largest_batch"] == 29);
  CHECK(j[4]["host_bytes"].get<std::uint64_t>() == rows[4].host_bytes);
  const auto text = format_feasibility_table(rows);
  CHECK_THAT(text, Contains("sparda-no-prefetch") && Contains("largest batch") && Contains("112.3"));

  auto small = h100();
  small.gpu_mem_bytes = 1ll << 30;  // weights alone do not fit
  for (const auto& r : feasibility_table(m, base, small, 131072)) {
    CHECK(r.largest_batch == 0);
    CHECK(r.gpu_bytes == 0);
    CHECK(r.host_bytes == 0);
  }
  CHECK_THAT(format_feasibility_table(feasibility_table(m, base, small, 131072)), Contains("none fits"));
}

TEST_CASE("largest feasible batch stays exact and cheap for huge capacities") {
  auto m = minicpm();
  auto hw = h100();
  hw.gpu_mem_bytes = 1ll << 50;  // 1 PiB: the search goes past a million sequences
  const auto b = largest_feasible_batch(m, run(config::Mode::dense, 1, 131072), hw, config::Mode::dense, 131072);
  CHECK(b > 200'000);
  auto r = run(config::Mode::dense, 1, 131072);
  r.context_tokens = {131072};  // shorter than batch: the rest repeat it
  r.batch = b;
  CHECK(plan_memory(m, r, hw).fits());
  r.batch = b + 1;
  CHECK_FALSE(plan_memory(m, r, hw).fits());
}

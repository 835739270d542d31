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
  CHECK(item(p, "kv_full") == 4ull * 131072 * 32 * 1024);  // 16 GiB pinned
  CHECK(p.host_bytes() == 16ull << 30);
  // 31 layers x 4 seqs x 97 slots x 64 tokens x 1 KiB; layer 0 stays resident.
  CHECK(item(p, "kv_working_set") == 31ull * 4 * 97 * 64 * 1024);
  CHECK(item(p, "kv_layer0") == 4ull * 131072 * 1024);
  auto r = run(config::Mode::sparse_offload, 4, 131072);
  r.cache_blocks = 200;
  auto q = plan_memory(m, r, h100());
  CHECK(item(q, "kv_working_set") == 32ull * 4 * 200 * 64 * 1024);
  CHECK(item(q, "kv_layer0") == 0);
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

// Memory planner on MiniCPM4.1-8B numbers (KV 1 KiB per token per layer).
#include "catch.hpp"
#include "foresight/config/load.hpp"
#include "foresight/runtime/device_weights.hpp"
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
  h.sm_count = 132;
  h.gpu_mem_bytes = 80ll << 30;
  h.host_mem_bytes = 125ll << 30;
  return h;
}
config::RunConfig run(config::Mode mode, std::int64_t batch, std::int64_t ctx) {
  config::RunConfig r;
  r.mode = mode; r.batch = batch; r.context_tokens.assign(static_cast<std::size_t>(batch), ctx);
  r.decode_steps = 0; r.warmup_steps = 0; r.topk_blocks = 96;
  return r;
}
}  // namespace

TEST_CASE("the plan is config::footprint, weights as DeviceWeights uploads them") {
  // Category formulas: tests/traces/config/test_footprint.cpp. Here: the runtime's
  // plan is that footprint, and its weight bytes are what the engine uploads.
  auto m = minicpm();
  const auto r = run(config::Mode::sparda, 4, 131072);
  CHECK(plan_memory(m, r, h100()).items.size() == config::footprint(m, r, h100()).items.size());
  CHECK(plan_memory(m, r, h100()).gpu_bytes() == config::footprint(m, r, h100()).gpu_bytes());
  const auto tiny = config::load_model("tiny");
  auto be = make_backend("cpu", {});
  const DeviceWeights dw(tiny, make_synthetic_weights(tiny, 1), *be);
  CHECK(plan_memory(tiny, run(config::Mode::dense, 1, 100), h100()).bytes("weights") == dw.bytes);
}

TEST_CASE("a run that does not fit fails with the breakdown") {
  auto m = minicpm();
  auto p = plan_memory(m, run(config::Mode::dense, 17, 131072), h100());  // 68 GiB of KV + 15.3 GiB weights
  REQUIRE_FALSE(p.fits());
  REQUIRE_THROWS_WITH(require_fits(p), Contains("does not fit") && Contains("kv_full") &&
                                           Contains("DOES NOT FIT") && Contains("weights"));
  CHECK_NOTHROW(require_fits(plan_memory(m, run(config::Mode::dense, 1, 4096), h100())));
}

TEST_CASE("a CPU-backend run must fit in the host's RAM: device and pinned bytes together, weights twice") {
  auto m = minicpm();
  // Planned for the H100 (it fits there), run on a 24 GiB host with a 6 GiB reserve.
  config::HardwareConfig host;
  host.host_mem_bytes = 24ll << 30;
  host.host_reserve_bytes = 6ll << 30;
  const auto p = plan_memory(m, run(config::Mode::sparda, 1, 8192), h100());
  REQUIRE(p.fits());
  const std::uint64_t weights = p.bytes("weights");  // ~15.3 GiB of bf16
  CHECK(p.cpu_backend_host_bytes() == std::max(p.gpu_bytes() + p.host_bytes(), 2 * weights));
  CHECK(p.cpu_backend_host_bytes() == 2 * weights);  // the upload is the peak here
  REQUIRE_THROWS_AS(require_host_ram(p, host), MemoryError);
  REQUIRE_THROWS_WITH(require_host_ram(p, host), Contains("host's RAM") && Contains("18.00 GiB") &&
                                                     Contains("weights twice"));
  // The tiny model fits the same host; a larger RAM takes the 8B model.
  const auto tiny = config::load_model("tiny");
  CHECK_NOTHROW(require_host_ram(plan_memory(tiny, run(config::Mode::sparda, 1, 8192), h100()), host));
  host.host_mem_bytes = 64ll << 30;
  CHECK_NOTHROW(require_host_ram(p, host));
  // Beyond the upload, the KV counts: resident KV of 16 x 128K sequences (64 GiB) plus weights.
  const auto big = plan_memory(m, run(config::Mode::sparda_no_offload, 16, 131072), h100());
  CHECK(big.cpu_backend_host_bytes() == big.gpu_bytes() + big.host_bytes());
  CHECK_THROWS_AS(require_host_ram(big, host), MemoryError);
}

TEST_CASE("largest feasible batch: offload beats resident KV") {
  auto m = minicpm();
  auto hw = h100();
  auto base = run(config::Mode::dense, 1, 131072);
  const auto dense = largest_feasible_batch(m, base, hw, config::Mode::dense, 131072);
  const auto sparda = largest_feasible_batch(m, base, hw, config::Mode::sparda, 131072);
  // Dense: (80 GiB - 15.3 GiB weights - ~0.1 GiB overhead) / 4 GiB per sequence.
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
  // 4 GiB per sequence (all 32 layers; 2049 blocks: 128K plus the decode
  // step's token) = 28; / 3.88 GiB (31 layers, SparDA) = 29.
  CHECK(rows[2].largest_batch == 28);
  CHECK(rows[3].largest_batch == 29);
  CHECK(rows[4].largest_batch == 29);
  CHECK(rows[4].host_bytes == 29ull * 31 * 131136 * 1024);

  const auto j = to_json(rows);
  REQUIRE(j.size() == 6);
  CHECK(j[4]["mode"] == "sparda");
  CHECK(j[4]["largest_batch"] == 29);
  CHECK(j[4]["host_bytes"].get<std::uint64_t>() == rows[4].host_bytes);
  const auto text = format_feasibility_table(rows);
  CHECK_THAT(text, Contains("sparda-no-prefetch") && Contains("largest batch") && Contains("112.43"));

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

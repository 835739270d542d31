// Canonical JSON forms: exact round trips, type and unknown-key errors, the
// run enums and the derived model sizes.
#include <string>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "config_error.hpp"
#include "foresight/config/load.hpp"

using namespace foresight::config;
using nlohmann::json;

namespace {
ModelConfig sample_model() {
  ModelConfig m;
  m.name = "llama-like";
  m.n_layers = 32;
  m.hidden = 4096;
  m.n_heads = 32;
  m.n_kv_heads = 8;
  m.head_dim = 128;
  m.intermediate = 14336;
  m.vocab = 128256;
  m.rope_theta = 500000.0;
  m.rms_eps = 1e-5;
  m.rope_scaling = {"llama3", 8.0, 1.0, 4.0, 8192};
  m.sparse.topk_blocks = 80;
  return m;
}

RunConfig sample_run() {
  RunConfig r;
  r.mode = Mode::sparse_offload;
  r.backend = "cpu";
  r.batch = 3;
  r.context_tokens = {4096, 32768, 100001};
  r.cache_blocks = 200;
  r.eviction = Eviction::arc;
  r.prefetch = Prefetch::none;
  r.workload = {0.333333333333333314829616256247, 0.1, 1.25};
  r.seed = 18446744073709551615ull;  // uint64 max survives
  return r;
}

std::string error_of(auto&& f) { return foresight::testing::config_error_of(f); }
}  // namespace

TEST_CASE("model JSON round trip is exact, also through text") {
  ModelConfig m = sample_model();
  json j = to_json(m);
  ModelConfig back = model_from_json(json::parse(j.dump()), "mem");
  CHECK(to_json(back) == j);
  CHECK(back.rope_scaling.type == "llama3");
  CHECK(back.rope_scaling.original_max_position == 8192);
  CHECK(back.sparse.topk_blocks == 80);
  CHECK(back.rms_eps == 1e-5);
  CHECK(back.rope_theta == 500000.0);
}

TEST_CASE("run JSON round trip is exact, also through text") {
  RunConfig r = sample_run();
  json j = to_json(r);
  CHECK(j["mode"] == "sparse-offload");
  CHECK(j["eviction"] == "arc");
  RunConfig back = run_from_json(json::parse(j.dump()), "mem");
  CHECK(to_json(back) == j);
  CHECK(back.seed == r.seed);
  CHECK(back.workload.reuse == r.workload.reuse);
  CHECK(back.context_tokens == r.context_tokens);
  CHECK(back.mode == Mode::sparse_offload);
  CHECK(back.prefetch == Prefetch::none);
}

TEST_CASE("run enums: every name parses back; unknown names fail with a hint") {
  for (Mode m : {Mode::dense, Mode::sparse, Mode::sparse_offload, Mode::sparda_no_prefetch,
                 Mode::sparda, Mode::sparda_no_offload})
    CHECK(parse_mode(to_string(m), "mode") == m);
  for (Eviction e : {Eviction::sparda, Eviction::lru, Eviction::lfu, Eviction::fifo, Eviction::arc,
                     Eviction::opt})
    CHECK(parse_eviction(to_string(e), "eviction") == e);
  for (Prefetch p : {Prefetch::none, Prefetch::lookahead, Prefetch::lookahead2})
    CHECK(parse_prefetch(to_string(p), "prefetch") == p);
  std::string msg = error_of([] { parse_mode("sparda_no_prefetch", "--mode"); });
  CHECK(msg.find("--mode") != std::string::npos);
  CHECK(msg.find("did you mean 'sparda-no-prefetch'") != std::string::npos);
}

TEST_CASE("JSON errors name the source and the key") {
  json j = to_json(sample_model());
  json bad = j;
  bad["n_layers"] = "32";
  CHECK(error_of([&] { model_from_json(bad, "trace.h5:/config/model"); }) ==
        "trace.h5:/config/model: 'n_layers' must be an integer, got string");
  bad = j;
  bad["sparse"]["top_k"] = 4;
  CHECK(error_of([&] { model_from_json(bad, "t"); }) ==
        "t: unknown key 'sparse.top_k' (did you mean 'sparse.topk_blocks'?)");
  bad = j;
  bad["window_blocks"] = 8;  // belongs in [sparse]
  CHECK(error_of([&] { model_from_json(bad, "t"); }) ==
        "t: unknown key 'window_blocks' (did you mean 'sparse.window_blocks'?)");
  bad = j;
  bad["hidden"] = 4096.0;
  CHECK(error_of([&] { model_from_json(bad, "t"); }) ==
        "t: 'hidden' must be an integer, got float");
  bad = j;
  bad["vocab"] = 1LL << 40;
  CHECK(error_of([&] { model_from_json(bad, "t"); }) ==
        "t: 'vocab' must be at most 1048576, got 1099511627776");
  bad.erase("vocab");
  CHECK(error_of([&] { model_from_json(bad, "t"); }) == "t: 'vocab' is required but missing");

  json r = to_json(sample_run());
  r["workload"]["reuse"] = 1.5;
  CHECK(error_of([&] { run_from_json(r, "run.json"); }) ==
        "run.json: 'workload.reuse' must be in [0, 1], got 1.5");
  r = to_json(sample_run());
  r["mdoe"] = "dense";
  CHECK(error_of([&] { run_from_json(r, "run.json"); }) ==
        "run.json: unknown key 'mdoe' (did you mean 'mode'?)");
}

TEST_CASE("weight_params counts Llama-3.1-8B exactly") {
  // 8,030,261,248 parameters: the published count of Llama-3.1-8B (untied).
  CHECK(sample_model().weight_params() == 8030261248LL);
  ModelConfig tied = sample_model();
  tied.tie_embeddings = true;
  CHECK(tied.weight_params() == 8030261248LL - 128256LL * 4096);
}

TEST_CASE("stored_params adds the Forecast rows of every layer and layer 0's selector") {
  // Llama-3.1-8B: 8 KV heads x 128 = 1024 rows of 4096 per Forecast/selector.
  const ModelConfig m = sample_model();
  CHECK(m.forecast_params() == 32LL * 1024 * 4096);
  CHECK(m.selector_params() == 1024LL * 4096);
  CHECK(m.stored_params() == 8030261248LL + 33LL * 1024 * 4096);
}

TEST_CASE("BandwidthCurve interpolates linearly in log2(x) and clamps") {
  BandwidthCurve c{{4096, 65536, 1048576}, {1.5, 16.8, 46.0}};
  CHECK(c.at(4096) == 1.5);
  CHECK(c.at(1048576) == 46.0);
  CHECK(c.at(1) == 1.5);  // clamped below
  CHECK(c.at(0) == 1.5);
  CHECK(c.at(1e12) == 46.0);  // clamped above
  // 16 KiB is halfway between 4 KiB and 64 KiB in log2.
  CHECK(c.at(16384) == Approx((1.5 + 16.8) / 2));
  // 256 KiB: halfway between 64 KiB and 1 MiB.
  CHECK(c.at(262144) == Approx((16.8 + 46.0) / 2));
  // 8 KiB: a quarter of the way from 4 KiB to 64 KiB.
  CHECK(c.at(8192) == Approx(1.5 + 0.25 * (16.8 - 1.5)));
  BandwidthCurve one{{16}, {51.0}};
  CHECK(one.at(1) == 51.0);
  CHECK(one.at(1000) == 51.0);
  CHECK(BandwidthCurve{}.at(5) == 0.0);
}

namespace {
HardwareConfig sample_hardware() {
  HardwareConfig h;
  h.name = "test-gpu";
  h.gpu_name = "Test GPU";
  h.sm_count = 132;
  h.gpu_mem_bytes = 83751862272;
  h.l2_bytes = 52428800;
  h.persisting_l2_max_bytes = 32768000;
  h.hbm_gbps = 3000.0;
  h.bf16_tflops = 989.0;
  h.fp32_tflops = 67.0;
  h.kernel_launch_us = 2.5;
  h.pcie_gen = 5;
  h.pcie_width = 16;
  h.h2d_gbps = 52.2;
  h.d2h_gbps = 54.0;
  h.h2d_latency_us = 2.8;
  h.h2d_memcpy_by_size = {{4096, 65536}, {1.5, 16.8}};
  h.gather_by_ctas_16k = {{8, 16, 32}, {38, 51, 50.7}};
  h.gather_compute_slowdown = 0.5;
  h.cpu_name = "Xeon";
  h.host_mem_bytes = 134217728000;
  h.host_memcpy_gbps = 6.0;
  for (const char* k :
       {"sm_count", "gpu_mem_bytes", "l2_bytes", "persisting_l2_max_bytes", "hbm_gbps",
        "bf16_tflops", "fp32_tflops", "kernel_launch_us", "pcie_gen", "pcie_width", "h2d_gbps",
        "d2h_gbps", "h2d_latency_us", "h2d_memcpy_by_size", "gather_by_ctas_16k",
        "gather_compute_slowdown", "host_mem_bytes", "host_memcpy_gbps"})
    h.provenance[k] = std::string("estimate: test value for ") + k;
  return h;
}
}  // namespace

TEST_CASE("hardware JSON round trip is exact; provenance is required") {
  HardwareConfig h = sample_hardware();
  json j = to_json(h);
  HardwareConfig back = hardware_from_json(json::parse(j.dump()), "mem");
  CHECK(to_json(back) == j);
  CHECK(back.provenance == h.provenance);
  CHECK(back.gather_by_ctas_16k.gbps == h.gather_by_ctas_16k.gbps);

  json bad = j;
  bad["provenance"].erase("hbm_gbps");
  std::string msg = error_of([&] { hardware_from_json(bad, "hw.json"); });
  CHECK(msg.rfind("hw.json: 'hbm_gbps' has no provenance", 0) == 0);
  bad = j;
  bad["provenance"]["l2_bytes"] = "from a blog";
  msg = error_of([&] { hardware_from_json(bad, "hw.json"); });
  CHECK(msg.rfind("hw.json: 'provenance.l2_bytes' must start with", 0) == 0);
  bad = j;
  bad["h2d_memcpy_by_size"]["x"] = json::array({65536, 4096});
  msg = error_of([&] { hardware_from_json(bad, "hw.json"); });
  CHECK(msg.rfind("hw.json: 'h2d_memcpy_by_size.x[1]' must be greater", 0) == 0);
}

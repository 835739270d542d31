// Kernel options (config/kernel_options.hpp): defaults, KEY=VALUE, the
// FORESIGHT_* variables, JSON both ways (inside RunConfig too) and errors
// that name the key, its values and its variable.
#include <cstdlib>

#include "catch.hpp"
#include "config_error.hpp"
#include "foresight/config/kernel_options.hpp"
#include "foresight/config/load.hpp"
#include "foresight/config/run.hpp"

using namespace foresight::config;

namespace {
std::string error_of(auto&& f) { return foresight::testing::config_error_of(f); }
}  // namespace

TEST_CASE("kernel options: KEY=VALUE sets one, the rest keep their defaults") {
  KernelOptions k;
  set_kernel_option(k, "decode_attention=pipe6", "--kernel");
  set_kernel_option(k, "linear_pdl=0", "--kernel");
  set_kernel_option(k, "attn_sm_reserve=8", "--kernel");
  CHECK(k.decode_attention == "pipe6");
  CHECK(!k.linear_pdl);
  CHECK(k.attn_sm_reserve == 8);
  KernelOptions d;
  d.decode_attention = "pipe6";
  d.linear_pdl = false;
  d.attn_sm_reserve = 8;
  CHECK(k == d);
  // Every option has a row, a variable, and a JSON key.
  const auto j = to_json(KernelOptions{});
  CHECK(j.size() == kernel_option_infos().size());
  for (const auto& i : kernel_option_infos()) CHECK(j.contains(i.key));
}

TEST_CASE("kernel options: bad keys and values are refused by name") {
  KernelOptions k;
  const auto unknown = error_of([&] { set_kernel_option(k, "decode_atention=pipe2", "--kernel"); });
  CHECK_THAT(unknown, Catch::Contains("--kernel") && Catch::Contains("decode_atention") &&
                          Catch::Contains("did you mean 'decode_attention'"));
  const auto value = error_of([&] { set_kernel_option(k, "decode_attention=pipe4", "--kernel"); });
  CHECK_THAT(value, Catch::Contains("pipe4") && Catch::Contains("warp|pipe2|pipe3|pipe6|flat3") &&
                        Catch::Contains("FORESIGHT_DECODE_KERNEL"));
  CHECK_THAT(error_of([&] { set_kernel_option(k, "gemm_tune=yes", "--kernel"); }), Catch::Contains("0|1"));
  CHECK_THAT(error_of([&] { set_kernel_option(k, "attn_min_tiles=0", "--kernel"); }),
             Catch::Contains("attn_min_tiles"));
  CHECK_THAT(error_of([&] { set_kernel_option(k, "attn_sm_reserve=4x", "--kernel"); }),
             Catch::Contains("4x"));
  CHECK_THAT(error_of([&] { set_kernel_option(k, "decode_attention", "--kernel"); }),
             Catch::Contains("KEY=VALUE"));
  CHECK_THAT(error_of([&] { set_kernel_option(k, "kv_gather=tma", "--kernel"); }),
             Catch::Contains("sm_loads|bulk") && Catch::Contains("FORESIGHT_KV_GATHER"));
  CHECK_THAT(error_of([&] { set_kernel_option(k, "gather_stages=-1", "--kernel"); }),
             Catch::Contains("gather_stages"));
  CHECK(k == KernelOptions{});  // nothing half-set
}

TEST_CASE("kernel options: the FORESIGHT_* variables set them, a bad one is named") {
  setenv("FORESIGHT_DECODE_KERNEL", "warp", 1);
  setenv("FORESIGHT_GEMM_TUNE", "0", 1);
  const auto k = kernel_options_from_env();
  CHECK(k.decode_attention == "warp");
  CHECK(!k.gemm_tune);
  const auto env = kernel_option_env(k);
  CHECK(env.at("FORESIGHT_DECODE_KERNEL") == "warp");
  CHECK(env.at("FORESIGHT_GEMM_TUNE") == "0");
  CHECK(env.at("FORESIGHT_LINEAR_FUSED") == "1");
  CHECK(env.at("FORESIGHT_ATTN_SM_RESERVE") == "-1");
  setenv("FORESIGHT_GEMM_TUNE", "2", 1);
  CHECK_THAT(error_of([] { kernel_options_from_env(); }), Catch::Contains("environment variable FORESIGHT_GEMM_TUNE"));
  unsetenv("FORESIGHT_DECODE_KERNEL");
  unsetenv("FORESIGHT_GEMM_TUNE");
  CHECK(kernel_options_from_env() == KernelOptions{});
}

TEST_CASE("kernel options: JSON round trip, inside a run's config too; absent reads as the defaults of then") {
  KernelOptions k;
  k.prefill_attention = "mma";
  k.graph_marks = "inline";
  k.linear_fused = false;
  CHECK(kernel_options_from_json(to_json(k), "t") == k);
  RunConfig r;
  r.context_tokens = {4096};
  r.kernels = k;
  const auto j = to_json(r);
  CHECK(j["kernels"]["prefill_attention"] == "mma");
  CHECK(run_from_json(j, "run").kernels == k);
  auto old = j;
  old.erase("kernels");  // traces before the kernel options were recorded
  KernelOptions before = KernelOptions{};
  before.kv_gather = "sm_loads";  // the only gather kernel then, whatever the default is now
  CHECK(run_from_json(old, "run").kernels == before);
  CHECK(kernel_options_from_json({{"decode_attention", "pipe2"}}, "t").kv_gather == "sm_loads");
  CHECK(kernel_options_from_json({{"kv_gather", "bulk"}}, "t").kv_gather == "bulk");
  old["kernels"] = {{"side_priority", "low"}};
  CHECK_THAT(error_of([&] { run_from_json(old, "trace.h5"); }),
             Catch::Contains("trace.h5") && Catch::Contains("side_priority") && Catch::Contains("high|normal"));
}

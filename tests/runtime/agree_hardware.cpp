// A CPU-backend run is labelled with the hardware it ran on: its trace header
// and config.json carry the host CPU (runtime::host_cpu_hardware), not the GPU
// config its memory plan was made for; the trace has one stream and
// `inspect` says both; replay keeps workload what-ifs but refuses the ones
// that would re-time the CPU's op times onto a GPU or a PCIe link.
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "foresight/config/load.hpp"
#include "foresight/kernels/cpu_threads.hpp"
#include "foresight/runtime/backend.hpp"
#include "foresight/runtime/run.hpp"
#include "foresight/sim/replay.hpp"
#include "foresight/trace/export.hpp"
#include "foresight/trace/reader.hpp"
#include "tiny_model.hpp"

using namespace foresight;
using Catch::Matchers::Contains;

namespace {
nlohmann::json read_config(const std::filesystem::path& dir) {
  std::ifstream in(dir / "config.json");
  return nlohmann::json::parse(in);
}
}  // namespace

TEST_CASE("host_cpu_hardware passes the contract's hardware checks") {
  const config::HardwareConfig h = runtime::host_cpu_hardware();
  CHECK(h.name == "cpu");
  CHECK(h.sm_count == kernels::cpu_threads());
  CHECK(h.host_mem_bytes > h.host_reserve_bytes);
  CHECK_NOTHROW(config::hardware_from_json(config::to_json(h), "host_cpu_hardware"));
}

TEST_CASE("a CPU run planned for a GPU records the host CPU and one stream") {
  runtime::RunRequest req = testing::tiny_cpu_request("hw_cpu", config::Mode::sparda, {300, 200}, 2, 128);
  REQUIRE(req.hardware.name == "h100-sxm");  // the memory plan's hardware
  runtime::run_to_folder(req);
  const trace::Trace t = trace::read_trace(req.out_dir / "trace.h5");
  CHECK(t.header.hardware.name == "cpu");
  CHECK_THAT(t.header.hardware.gpu_name, Contains("no GPU") && Contains("one stream"));
  REQUIRE(t.streams.size() == 1);
  CHECK(t.streams[0].name == "main");
  const auto c = read_config(req.out_dir);
  CHECK(c["hardware"]["name"] == "cpu");
  CHECK(c["memory_plan_hardware"]["name"] == "h100-sxm");
  std::ostringstream summary;
  trace::print_summary(t, summary);
  CHECK_THAT(summary.str(), Contains("hardware   cpu (no GPU") && Contains("streams    1: main (compute)"));

  sim::Replayer replayer(t, "cpu-trace");
  CHECK_NOTHROW(replayer.run(config::Scenario{}));
  config::Scenario cache;
  cache.cache_blocks = t.header.run.topk_blocks + 4;
  CHECK_NOTHROW(replayer.run(cache));
  config::Scenario gpu;
  gpu.hardware = "h100-sxm";
  CHECK_THROWS_WITH(replayer.run(gpu), Contains("--hardware h100-sxm") && Contains("ran on the CPU backend") &&
                                           Contains("one stream"));
  config::Scenario pcie;
  pcie.pcie_gbps = 25.0;
  CHECK_THROWS_WITH(replayer.run(pcie), Contains("--pcie-gbps") && Contains("CPU backend"));
}

TEST_CASE("a CPU run planned for the host records no second hardware") {
  runtime::RunRequest req = testing::tiny_cpu_request("hw_host", config::Mode::dense, {100}, 1, 64);
  req.hardware = runtime::host_cpu_hardware();
  runtime::run_to_folder(req);
  const auto c = read_config(req.out_dir);
  CHECK(c["hardware"]["name"] == "cpu");
  CHECK_FALSE(c.contains("memory_plan_hardware"));
}

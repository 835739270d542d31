// host_cpu_hardware(): the hardware description a CPU-backend run records
// (see backend.hpp). The simulator reads it from the trace header; replay
// refuses GPU what-ifs on a trace whose backend is "cpu" (sim/src/replay.cpp).
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "foresight/kernels/cpu_threads.hpp"
#include "foresight/runtime/backend.hpp"

namespace foresight::runtime {
namespace {

// "model name" of the first processor in /proc/cpuinfo, or "unknown CPU".
std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos) break;
    const auto first = line.find_first_not_of(" \t", colon + 1);
    if (first != std::string::npos) return line.substr(first);
  }
  return "unknown CPU";
}

std::int64_t physical_ram_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  return pages > 0 && page > 0 ? std::int64_t{pages} * page : std::int64_t{8} << 30;
}

// Last-level cache in bytes (L3, else L2); 1 MiB when sysconf does not say.
std::int64_t last_level_cache_bytes() {
  for (int name : {_SC_LEVEL3_CACHE_SIZE, _SC_LEVEL2_CACHE_SIZE}) {
    const long v = ::sysconf(name);
    if (v > 0) return v;
  }
  return std::int64_t{1} << 20;
}

// The rates a CPU run does not measure: one curve point so the contract's
// checks hold; the simulator never re-times a CPU trace by them.
void set_unmeasured_rates(config::HardwareConfig& h, int cores) {
  const std::string why = "estimate: not measured on the CPU backend (the run records its own op times)";
  h.hbm_gbps = 10.0;
  h.fp32_tflops = 0.05 * cores;  // about 50 GFLOP/s per core with AVX2 FMA
  h.bf16_tflops = h.fp32_tflops;  // bf16 is computed in fp32 on the CPU
  h.kernel_launch_us = 0;         // a CPU kernel is a function call
  h.pcie_gen = 1;
  h.pcie_width = 1;
  h.h2d_gbps = h.d2h_gbps = h.host_memcpy_gbps = 5.0;
  h.h2d_latency_us = 0;
  h.h2d_memcpy_by_size = {{4096}, {5.0}};
  h.gather_by_ctas_16k = {{1}, {5.0}};
  h.gather_compute_slowdown = 0;
  h.persisting_l2_max_bytes = 0;
  for (const char* k : {"hbm_gbps", "bf16_tflops", "fp32_tflops", "h2d_gbps", "d2h_gbps", "h2d_memcpy_by_size",
                        "gather_by_ctas_16k", "host_memcpy_gbps"})
    h.provenance[k] = why;
  h.provenance["kernel_launch_us"] = "estimate: a CPU kernel is a function call, no launch";
  h.provenance["pcie_gen"] = h.provenance["pcie_width"] =
      "estimate: no PCIe link; host-to-device copies are memcpy within host memory";
  h.provenance["h2d_latency_us"] = "estimate: a memcpy has no launch latency";
  h.provenance["gather_compute_slowdown"] = "estimate: a CPU run has one stream, nothing overlaps a gather";
  h.provenance["persisting_l2_max_bytes"] = "estimate: a CPU has no persisting-L2 window";
}

}  // namespace

config::HardwareConfig host_cpu_hardware() {
  config::HardwareConfig h;
  const int cores = std::max(1, kernels::cpu_threads());
  const std::string model = cpu_model_name();
  h.name = "cpu";
  h.gpu_name = fmt::format("no GPU: CPU backend, one stream, {} threads on {}", cores, model);
  h.cpu_name = fmt::format("{} ({} threads)", model, cores);
  h.sm_count = cores;
  h.host_mem_bytes = h.gpu_mem_bytes = physical_ram_bytes();
  h.host_reserve_bytes = std::min(config::kDefaultHostReserveBytes, h.host_mem_bytes / 4);
  h.l2_bytes = last_level_cache_bytes();
  set_unmeasured_rates(h, cores);
  h.provenance["sm_count"] = "measured: kernels::cpu_threads() on the run's host (OpenMP threads of the CPU kernels)";
  h.provenance["gpu_mem_bytes"] = "measured: physical RAM (sysconf); the CPU backend's device memory is host memory";
  h.provenance["host_mem_bytes"] = "measured: physical RAM (sysconf _SC_PHYS_PAGES x _SC_PAGESIZE)";
  h.provenance["host_reserve_bytes"] =
      "estimate: the runtime's 12 GiB host reserve, capped at a quarter of RAM on small hosts";
  h.provenance["l2_bytes"] = "measured: last-level cache (sysconf _SC_LEVEL3_CACHE_SIZE, else L2)";
  return h;
}

}  // namespace foresight::runtime

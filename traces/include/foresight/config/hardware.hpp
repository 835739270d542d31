// A GPU + host machine description, from configs/hardware/*.toml. Every number
// in the TOML states where it comes from (measured or datasheet); the loader
// keeps that provenance so reports can say what was modelled.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace foresight::config {

// Bandwidth as a function of a size or count: piecewise linear in log2(x),
// clamped at the ends. x: bytes per transfer, or CTAs for the gather engine.
struct BandwidthCurve {
  std::vector<double> x;
  std::vector<double> gbps;             // GB/s = 1e9 bytes/s
  double at(double xq) const;           // interpolated GB/s
};

inline constexpr std::int64_t kDefaultGpuWorkspaceBytes = std::int64_t{32} << 20;  // 32 MiB
inline constexpr std::int64_t kDefaultHostReserveBytes = std::int64_t{12} << 30;   // 12 GiB
// About 5.5 TB/s: the L2 read bandwidth Chips and Cheese measured on an H100
// PCIe (2023-07-02); an estimate for every GPU until measured on it.
inline constexpr double kDefaultL2Gbps = 5500.0;

struct HardwareConfig {
  std::string name;                     // e.g. "h100-sxm"
  std::string gpu_name;
  std::int64_t sm_count = 0;
  std::int64_t gpu_mem_bytes = 0;       // usable device memory
  std::int64_t l2_bytes = 0;
  std::int64_t persisting_l2_max_bytes = 0;
  double hbm_gbps = 0;                  // achievable HBM bandwidth (read+write counted)
  // L2 read bandwidth, GB/s, of KV hits in the simulator's L2 reservation
  // model (sim/l2_model.hpp). Optional in the TOML; the default is a public
  // Hopper figure (configs/README.md).
  double l2_gbps = kDefaultL2Gbps;
  double bf16_tflops = 0;               // dense bf16 tensor-core rate
  double fp32_tflops = 0;
  double kernel_launch_us = 0;          // per kernel launch, host side
  std::int64_t pcie_gen = 0;
  std::int64_t pcie_width = 0;
  double h2d_gbps = 0;                  // bulk pinned H2D ceiling
  double d2h_gbps = 0;
  double h2d_latency_us = 0;            // per cudaMemcpyAsync call
  BandwidthCurve h2d_memcpy_by_size;    // x = bytes per cudaMemcpyAsync
  BandwidthCurve gather_by_ctas_16k;    // zero-copy gather, 16 KiB blocks, x = CTAs
  // Bulk-copy (TMA) gather, 16 KiB blocks, x = one-warp CTAs. Optional in
  // the TOML; empty: the link ceiling h2d_gbps at any CTA count.
  BandwidthCurve bulk_gather_by_ctas_16k;
  double gather_compute_slowdown = 0;   // fraction concurrent compute slows per gather CTA share
  std::string cpu_name;
  std::int64_t host_mem_bytes = 0;
  double host_memcpy_gbps = 0;          // single-thread host memcpy
  // Memory the footprint (config/footprint.hpp) sets aside; optional in the
  // TOML, these defaults are the runtime's (configs/README.md).
  std::int64_t gpu_workspace_bytes = kDefaultGpuWorkspaceBytes;  // fixed GPU scratch: the cuBLAS workspace
  std::int64_t host_reserve_bytes = kDefaultHostReserveBytes;    // host RAM never pinned: OS, process, page cache
  std::map<std::string, std::string> provenance;  // key -> "measured: ..." / "datasheet: ..."
};

// The host KV gather's rate in GB/s with `ctas` CTAs (at least 1) on 16 KiB
// blocks: gather_by_ctas_16k for the SM-load kernel, bulk_gather_by_ctas_16k
// for the bulk-copy one (h2d_gbps where the file has no such curve). One
// rule for the simulator's cost model and the plan's analytic evaluator.
double gather_gbps_16k(const HardwareConfig& h, bool bulk_copy, double ctas);

}  // namespace foresight::config

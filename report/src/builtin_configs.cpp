// Built-in model and hardware configs (see builtin_configs.hpp for sources).
#include "foresight/report/builtin_configs.hpp"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace foresight::report {

namespace {
constexpr std::int64_t kGiB = 1024LL * 1024 * 1024;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// The measured H100 host: PCIe Gen5 x16, 125 GiB RAM, zero-copy gather curve.
config::HardwareConfig h100_sxm() {
  config::HardwareConfig h;
  h.name = "h100-sxm";
  h.gpu_name = "NVIDIA H100 80GB HBM3 (SXM)";
  h.sm_count = 132;
  h.gpu_mem_bytes = 79 * kGiB;
  h.l2_bytes = 52428800;
  h.persisting_l2_max_bytes = 32768000;
  h.hbm_gbps = 3000;
  h.bf16_tflops = 989;
  h.fp32_tflops = 67;
  h.kernel_launch_us = 4;
  h.pcie_gen = 5;
  h.pcie_width = 16;
  h.h2d_gbps = 54;
  h.d2h_gbps = 54;
  h.h2d_latency_us = 2.8;
  h.gather_by_ctas_16k = {{8, 16, 32}, {38, 51, 50.7}};
  h.gather_compute_slowdown = 0.5;
  h.cpu_name = "16-core Xeon";
  h.host_mem_bytes = 125 * kGiB;
  h.host_memcpy_gbps = 6;
  h.provenance = {
      {"hbm_gbps", "measured: device-to-device cudaMemcpy, 256 MiB (measured-h100.md)"},
      {"h2d_gbps", "measured: pinned cudaMemcpyAsync 16 MiB (measured-h100.md)"},
      {"gather_by_ctas_16k", "measured: zero-copy gather, 16 KiB blocks (measured-h100.md)"},
      {"bf16_tflops", "datasheet: H100 SXM dense bf16"},
      {"gpu_mem_bytes", "datasheet: 80 GB, about 79 GiB usable"},
      {"host_mem_bytes", "measured: 125 GiB RAM on the lent machine"},
      {"gather_compute_slowdown", "modelled: assumption, not measured"}};
  return h;
}
}  // namespace

std::vector<std::string> builtin_hardware_names() {
  return {"h100-sxm", "h200-sxm", "a100-sxm-80g", "h100-pcie-gen4"};
}

config::HardwareConfig builtin_hardware(const std::string& name) {
  const auto n = lower(name);
  auto h = h100_sxm();
  if (n == "h100-sxm") return h;
  if (n == "h200-sxm" || n == "h200") {
    h.name = "h200-sxm";
    h.gpu_name = "NVIDIA H200 141GB HBM3e (SXM)";
    h.gpu_mem_bytes = 140 * kGiB;
    h.hbm_gbps = 4300;  // datasheet 4.8 TB/s x the H100's measured/datasheet ratio (3.0/3.35)
    h.provenance["hbm_gbps"] = "datasheet: 4.8 TB/s scaled by the H100's measured ratio 0.9";
    h.provenance["gpu_mem_bytes"] = "datasheet: 141 GB";
    h.provenance["h2d_gbps"] = "assumed: same PCIe Gen5 host as the measured H100";
    return h;
  }
  if (n == "a100-sxm-80g" || n == "a100") {
    h.name = "a100-sxm-80g";
    h.gpu_name = "NVIDIA A100 80GB (SXM)";
    h.sm_count = 108;
    h.gpu_mem_bytes = 79 * kGiB;
    h.l2_bytes = 41943040;
    h.hbm_gbps = 1800;  // datasheet 2.0 TB/s x 0.9
    h.bf16_tflops = 312;
    h.fp32_tflops = 19.5;
    h.pcie_gen = 4;
    h.h2d_gbps = 26;
    h.gather_by_ctas_16k = {{8, 16, 32}, {19, 25.5, 25.4}};
    h.provenance["hbm_gbps"] = "datasheet: 2.0 TB/s scaled by 0.9";
    h.provenance["bf16_tflops"] = "datasheet: A100 dense bf16";
    h.provenance["h2d_gbps"] = "assumed: PCIe Gen4 x16, half the measured Gen5 figures";
    h.provenance["gather_by_ctas_16k"] = "assumed: measured H100 curve halved (Gen4)";
    return h;
  }
  if (n == "h100-pcie-gen4") {
    h.name = "h100-pcie-gen4";
    h.pcie_gen = 4;
    h.h2d_gbps = 26;
    h.gather_by_ctas_16k = {{8, 16, 32}, {19, 25.5, 25.4}};
    h.provenance["h2d_gbps"] = "assumed: PCIe Gen4 x16, half the measured Gen5 figures";
    h.provenance["gather_by_ctas_16k"] = "assumed: measured H100 curve halved (Gen4)";
    return h;
  }
  std::string known;
  for (const auto& k : builtin_hardware_names()) known += (known.empty() ? "" : ", ") + k;
  throw std::invalid_argument("unknown hardware '" + name + "' (built-in: " + known + ")");
}

config::ModelConfig builtin_model(const std::string& name) {
  const auto n = lower(name);
  if (n != "minicpm4.1-8b")
    throw std::invalid_argument("unknown model '" + name + "' (built-in: minicpm4.1-8b)");
  config::ModelConfig m;  // shape from the SparDA paper / MiniCPM4.1-8B config.json
  m.name = "minicpm4.1-8b";
  m.n_layers = 32;
  m.hidden = 4096;
  m.n_heads = 32;
  m.n_kv_heads = 2;
  m.head_dim = 128;
  m.intermediate = 16384;
  m.vocab = 73448;
  m.max_context = 131072;
  m.sparse = config::SparseConfig{};  // block 64, top-k 96, sink 1, window 32
  return m;
}

}  // namespace foresight::report

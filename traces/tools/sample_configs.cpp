// Configs of the synthetic sample traces, built in code (no TOML files).
#include "sample_traces.hpp"

namespace foresight::samples {

config::ModelConfig tiny_model() {
  config::ModelConfig m;
  m.name = "tiny-4l";
  m.n_layers = 4;
  m.hidden = 256;
  m.n_heads = 4;
  m.n_kv_heads = 2;
  m.head_dim = 64;
  m.intermediate = 768;
  m.vocab = 2048;
  m.max_context = 4096;
  m.sparse.block_tokens = 16;
  m.sparse.compress_kernel = 8;
  m.sparse.compress_stride = 4;
  m.sparse.topk_blocks = 8;
  m.sparse.sink_blocks = 1;
  m.sparse.window_blocks = 2;
  m.sparse.pool_kernel = 5;
  m.sparse.pool_stride = 4;
  m.sparse.pool_padding = 1;
  return m;
}

config::HardwareConfig h100_hardware() {
  config::HardwareConfig h;
  h.name = "h100-sxm";
  h.gpu_name = "NVIDIA H100 80GB HBM3";
  h.sm_count = 132;
  h.gpu_mem_bytes = 80LL << 30;
  h.l2_bytes = 52428800;
  h.persisting_l2_max_bytes = 32768000;
  h.hbm_gbps = 3000;
  h.bf16_tflops = 989;
  h.fp32_tflops = 67;
  h.kernel_launch_us = 2.5;
  h.pcie_gen = 5;
  h.pcie_width = 16;
  h.h2d_gbps = 52.2;
  h.d2h_gbps = 54.0;
  h.h2d_latency_us = 2.8;
  h.h2d_memcpy_by_size = {{4096, 65536, 1048576, 16777216}, {1.5, 16.8, 46.0, 52.2}};
  h.gather_by_ctas_16k = {{8, 16, 32}, {38, 51, 50.7}};
  h.gather_compute_slowdown = 0.1;
  h.cpu_name = "16-core Xeon";
  h.host_mem_bytes = 125LL << 30;
  h.host_memcpy_gbps = 6;
  const char* measured = "measured: shared/reference/measured-h100.md";
  const char* datasheet = "datasheet: NVIDIA H100 SXM";
  const char* estimate = "estimate: synthetic sample value";
  for (const char* k : {"sm_count", "l2_bytes", "persisting_l2_max_bytes", "pcie_gen", "pcie_width",
                        "h2d_gbps", "d2h_gbps", "h2d_latency_us", "h2d_memcpy_by_size",
                        "gather_by_ctas_16k", "hbm_gbps", "host_mem_bytes", "host_memcpy_gbps"})
    h.provenance[k] = measured;
  for (const char* k : {"gpu_mem_bytes", "bf16_tflops", "fp32_tflops"}) h.provenance[k] = datasheet;
  for (const char* k : {"kernel_launch_us", "gather_compute_slowdown", "gpu_workspace_bytes", "host_reserve_bytes"})
    h.provenance[k] = estimate;
  return h;
}

config::RunConfig run_config(const SampleSpec& s) {
  config::RunConfig r;
  r.mode = s.mode;
  r.backend = "synth";
  r.batch = static_cast<std::int64_t>(s.context_tokens.size());
  r.context_tokens = s.context_tokens;
  r.decode_steps = s.decode_steps;
  r.warmup_steps = 0;
  r.prefill = "synthetic";
  r.topk_blocks = 8;
  r.cache_blocks = 0;
  r.gather_ctas = 16;
  r.kernels.kv_gather = "sm_loads";  // the samples' gathers are zero_copy_gather ops
  r.selection_source = "workload";
  r.workload = config::workload_preset("assumed");  // what the shipped samples were made with
  r.seed = s.seed;
  return r;
}

std::vector<SampleSpec> default_samples() {
  std::vector<SampleSpec> v(4);
  v[0].file = "sparda-tiny.h5";
  v[1].file = "dense-tiny.h5";
  v[1].mode = config::Mode::dense;
  v[2].file = "sparse-offload-tiny.h5";
  v[2].mode = config::Mode::sparse_offload;
  v[3].file = "sparda-truncated-tiny.h5";
  v[3].stop_after_steps = 2;
  return v;
}

}  // namespace foresight::samples

// Range and consistency checks for model and hardware configs; messages name
// the source and the key path.
#include <cmath>
#include <utility>

#include <fmt/format.h>

#include "config_internal.hpp"

namespace foresight::config::detail {

namespace {
void positive(const std::string& where, const std::string& key, std::int64_t v) {
  if (v <= 0) fail(where, key, fmt::format("must be positive, got {}", v));
}
void positive(const std::string& where, const std::string& key, double v) {
  if (!(v > 0.0)) fail(where, key, fmt::format("must be positive, got {}", v));
}
// Upper bounds far above any real model, so derived sizes cannot overflow.
void at_most(const std::string& where, const std::string& key, std::int64_t v, std::int64_t max) {
  if (v > max) fail(where, key, fmt::format("must be at most {}, got {}", max, v));
}
void non_negative(const std::string& where, const std::string& key, std::int64_t v) {
  if (v < 0) fail(where, key, fmt::format("must be >= 0, got {}", v));
}
}  // namespace

void validate_model(const ModelConfig& m, const std::string& where) {
  if (m.name.empty()) fail(where, "name", "must not be empty");
  positive(where, "n_layers", m.n_layers);
  positive(where, "hidden", m.hidden);
  positive(where, "n_heads", m.n_heads);
  positive(where, "n_kv_heads", m.n_kv_heads);
  positive(where, "head_dim", m.head_dim);
  positive(where, "intermediate", m.intermediate);
  positive(where, "vocab", m.vocab);
  positive(where, "max_context", m.max_context);
  at_most(where, "n_layers", m.n_layers, 1024);
  at_most(where, "n_heads", m.n_heads, 1024);
  at_most(where, "head_dim", m.head_dim, 1024);
  for (auto [key, v] : {std::pair{"hidden", m.hidden}, std::pair{"intermediate", m.intermediate},
                        std::pair{"vocab", m.vocab}})
    at_most(where, key, v, std::int64_t{1} << 20);
  at_most(where, "max_context", m.max_context, std::int64_t{1} << 26);
  if (m.n_heads % m.n_kv_heads != 0)
    fail(where, "n_kv_heads",
         fmt::format("must divide n_heads ({}) into equal query groups, got {}", m.n_heads,
                     m.n_kv_heads));
  if (m.head_dim % 2 != 0)
    fail(where, "head_dim", fmt::format("must be even (RoPE rotates pairs), got {}", m.head_dim));
  positive(where, "rope_theta", m.rope_theta);
  if (!(m.rms_eps > 0.0 && m.rms_eps < 1.0))
    fail(where, "rms_eps", fmt::format("must be in (0, 1), got {}", m.rms_eps));
  if (m.dtype_bytes != 1 && m.dtype_bytes != 2 && m.dtype_bytes != 4)
    fail(where, "dtype_bytes", fmt::format("must be 1, 2 or 4, got {}", m.dtype_bytes));

  const auto& r = m.rope_scaling;
  if (r.type != "none" && r.type != "llama3")
    fail(where, "rope_scaling.type",
         fmt::format("must be \"none\" or \"llama3\", got \"{}\"", r.type));
  if (r.type == "llama3") {
    if (!(r.factor >= 1.0))
      fail(where, "rope_scaling.factor", fmt::format("must be >= 1, got {}", r.factor));
    positive(where, "rope_scaling.low_freq_factor", r.low_freq_factor);
    if (!(r.high_freq_factor > r.low_freq_factor))
      fail(where, "rope_scaling.high_freq_factor",
           fmt::format("must exceed low_freq_factor ({}), got {}", r.low_freq_factor,
                       r.high_freq_factor));
    positive(where, "rope_scaling.original_max_position", r.original_max_position);
  }

  const auto& s = m.sparse;
  positive(where, "sparse.block_tokens", s.block_tokens);
  positive(where, "sparse.compress_kernel", s.compress_kernel);
  positive(where, "sparse.compress_stride", s.compress_stride);
  if (s.compress_stride > s.compress_kernel)
    fail(where, "sparse.compress_stride",
         fmt::format("must be <= compress_kernel ({}), got {}", s.compress_kernel,
                     s.compress_stride));
  if (s.block_tokens % s.compress_stride != 0)
    fail(where, "sparse.compress_stride",
         fmt::format("must divide block_tokens ({}), got {}", s.block_tokens, s.compress_stride));
  // Pooling maps compressed positions onto blocks: one pooled output per
  // block, so the pool stride is the number of compressed keys per block.
  if (s.pool_stride != s.block_tokens / s.compress_stride)
    fail(where, "sparse.pool_stride",
         fmt::format("must equal block_tokens / compress_stride = {} (one pooled score per "
                     "block), got {}",
                     s.block_tokens / s.compress_stride, s.pool_stride));
  if (s.pool_kernel < s.pool_stride)
    fail(where, "sparse.pool_kernel",
         fmt::format("must be >= pool_stride ({}), got {}", s.pool_stride, s.pool_kernel));
  non_negative(where, "sparse.pool_padding", s.pool_padding);
  if (s.pool_padding >= s.pool_kernel)
    fail(where, "sparse.pool_padding",
         fmt::format("must be < pool_kernel ({}), got {}", s.pool_kernel, s.pool_padding));
  non_negative(where, "sparse.sink_blocks", s.sink_blocks);
  positive(where, "sparse.window_blocks", s.window_blocks);
  if (s.topk_blocks <= s.sink_blocks + s.window_blocks)
    fail(where, "sparse.topk_blocks",
         fmt::format("must exceed sink_blocks + window_blocks = {}, got {}",
                     s.sink_blocks + s.window_blocks, s.topk_blocks));
  if (s.topk_blocks * s.block_tokens > m.max_context)
    fail(where, "sparse.topk_blocks",
         fmt::format("selects {} tokens, more than max_context {}", s.topk_blocks * s.block_tokens,
                     m.max_context));
  validate_dsa(m, where);
}

void validate_dsa(const ModelConfig& m, const std::string& where) {
  const auto& d = m.dsa;
  non_negative(where, "dsa.sink_tokens", d.sink_tokens);
  positive(where, "dsa.local_tokens", d.local_tokens);
  if (d.topk_tokens <= d.sink_tokens + d.local_tokens)
    fail(where, "dsa.topk_tokens",
         fmt::format("must exceed sink_tokens + local_tokens = {}, got {}", d.sink_tokens + d.local_tokens,
                     d.topk_tokens));
  if (d.topk_tokens > 65535)
    fail(where, "dsa.topk_tokens", fmt::format("must be <= 65535 (a trace row's count), got {}", d.topk_tokens));
  if (d.indexer_heads < 1 || d.indexer_heads > 64)
    fail(where, "dsa.indexer_heads", fmt::format("must be in [1, 64], got {}", d.indexer_heads));
  if (d.indexer_dim != 64 && d.indexer_dim != 128)
    fail(where, "dsa.indexer_dim", fmt::format("must be 64 or 128, got {}", d.indexer_dim));
}

namespace {
void check_curve(const BandwidthCurve& c, const std::string& where, const std::string& key) {
  if (c.x.empty()) fail(where, key + ".x", "must have at least one point");
  if (c.x.size() != c.gbps.size())
    fail(where, key + ".gbps",
         fmt::format("must have as many entries as x ({}), got {}", c.x.size(), c.gbps.size()));
  for (std::size_t i = 0; i < c.x.size(); ++i) {
    positive(where, fmt::format("{}.x[{}]", key, i), c.x[i]);
    positive(where, fmt::format("{}.gbps[{}]", key, i), c.gbps[i]);
    if (i > 0 && !(c.x[i] > c.x[i - 1]))
      fail(where, fmt::format("{}.x[{}]", key, i),
           fmt::format("must be greater than the previous x ({}), got {}", c.x[i - 1], c.x[i]));
  }
}
}  // namespace

void validate_hardware(const HardwareConfig& h, const std::string& where) {
  if (h.name.empty()) fail(where, "name", "must not be empty");
  positive(where, "sm_count", h.sm_count);
  positive(where, "gpu_mem_bytes", h.gpu_mem_bytes);
  positive(where, "l2_bytes", h.l2_bytes);
  non_negative(where, "persisting_l2_max_bytes", h.persisting_l2_max_bytes);
  if (h.persisting_l2_max_bytes > h.l2_bytes)
    fail(where, "persisting_l2_max_bytes",
         fmt::format("must be <= l2_bytes ({}), got {}", h.l2_bytes, h.persisting_l2_max_bytes));
  positive(where, "hbm_gbps", h.hbm_gbps);
  positive(where, "l2_gbps", h.l2_gbps);
  positive(where, "bf16_tflops", h.bf16_tflops);
  positive(where, "fp32_tflops", h.fp32_tflops);
  if (!(h.kernel_launch_us >= 0.0))
    fail(where, "kernel_launch_us", fmt::format("must be >= 0, got {}", h.kernel_launch_us));
  if (h.pcie_gen < 1 || h.pcie_gen > 7)
    fail(where, "pcie_gen", fmt::format("must be in [1, 7], got {}", h.pcie_gen));
  const std::int64_t w = h.pcie_width;
  if (w != 1 && w != 2 && w != 4 && w != 8 && w != 16)
    fail(where, "pcie_width", fmt::format("must be 1, 2, 4, 8 or 16 lanes, got {}", w));
  positive(where, "h2d_gbps", h.h2d_gbps);
  positive(where, "d2h_gbps", h.d2h_gbps);
  if (!(h.h2d_latency_us >= 0.0))
    fail(where, "h2d_latency_us", fmt::format("must be >= 0, got {}", h.h2d_latency_us));
  check_curve(h.h2d_memcpy_by_size, where, "h2d_memcpy_by_size");
  check_curve(h.gather_by_ctas_16k, where, "gather_by_ctas_16k");
  if (!h.bulk_gather_by_ctas_16k.x.empty()) check_curve(h.bulk_gather_by_ctas_16k, where, "bulk_gather_by_ctas_16k");
  if (!(h.gather_compute_slowdown >= 0.0 && h.gather_compute_slowdown <= 1.0))
    fail(where, "gather_compute_slowdown",
         fmt::format("must be in [0, 1], got {}", h.gather_compute_slowdown));
  positive(where, "host_mem_bytes", h.host_mem_bytes);
  positive(where, "host_memcpy_gbps", h.host_memcpy_gbps);
  non_negative(where, "gpu_workspace_bytes", h.gpu_workspace_bytes);
  non_negative(where, "host_reserve_bytes", h.host_reserve_bytes);
  if (h.host_reserve_bytes >= h.host_mem_bytes)
    fail(where, "host_reserve_bytes",
         fmt::format("must be below host_mem_bytes ({}), got {}", h.host_mem_bytes, h.host_reserve_bytes));
}

}  // namespace foresight::config::detail

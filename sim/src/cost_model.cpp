// Roofline op costs and the transfer-time model (formulas: docs/simulator.md).
#include "foresight/sim/cost_model.hpp"

#include <algorithm>
#include <cmath>

#include "foresight/trace/stages.hpp"

namespace foresight::sim {

namespace st = trace::stage;
using u64 = std::uint64_t;

OpCost stage_cost(const config::ModelConfig& m, std::string_view stage, const StepShape& s) {
  const u64 dt = static_cast<u64>(m.dtype_bytes), H = static_cast<u64>(m.hidden);
  const u64 nq = static_cast<u64>(m.n_heads), nkv = static_cast<u64>(m.n_kv_heads);
  const u64 hd = static_cast<u64>(m.head_dim), I = static_cast<u64>(m.intermediate);
  const u64 V = static_cast<u64>(m.vocab), B = static_cast<u64>(s.batch);
  const u64 n = static_cast<u64>(s.new_tokens), T = static_cast<u64>(s.tokens_total);
  const u64 A = static_cast<u64>(s.attended_tokens);
  const u64 nf = s.forecast ? nkv : 0;
  const u64 n_c = T / static_cast<u64>(std::max<std::int64_t>(1, m.sparse.compress_stride));
  const u64 n_b = T / static_cast<u64>(std::max<std::int64_t>(1, m.sparse.block_tokens));
  const u64 score_heads = s.forecast ? nkv : nq;
  const u64 ih = static_cast<u64>(m.dsa.indexer_heads), id = static_cast<u64>(m.dsa.indexer_dim);
  const u64 idx_rows = s.indexer ? ih * id + id + ih : 0;  // DSA indexer: queries, key, head weights
  OpCost c;
  if (stage == st::embed) {
    c.bytes = 2 * n * H * dt;
  } else if (stage == st::rmsnorm) {
    c.bytes = 2 * n * H * dt + H * dt;
    c.flops = 4 * n * H;
  } else if (stage == st::qkvf_gemm) {
    const u64 out = (nq + 2 * nkv + nf) * hd + idx_rows;
    c.bytes = H * out * dt + n * (H + out) * dt;
    c.flops = 2 * n * H * out;
  } else if (stage == st::rope) {
    c.bytes = 2 * n * (nq + nkv + nf) * hd * dt;
    c.flops = 6 * n * (nq + nkv + nf) * hd;
  } else if (stage == st::compress) {
    const u64 kernel = static_cast<u64>(m.sparse.compress_kernel);
    c.bytes = s.prefill ? 2 * n * nkv * hd * dt : B * nkv * (kernel + 1) * hd * dt;
    c.flops = s.prefill ? n * nkv * hd * kernel / 8 : B * nkv * kernel * hd;
  } else if (stage == st::score) {
    c.bytes = n_c * nkv * hd * dt + n_c * score_heads * 4;
    c.flops = 2 * n_c * score_heads * hd;
  } else if (stage == st::pool_topk) {
    c.bytes = n_c * score_heads * 4 + n_b * nkv * 4;
    c.flops = n_c * score_heads * static_cast<u64>(m.sparse.pool_kernel);
  } else if (stage == st::ws_update) {
    c.bytes = B * nkv * static_cast<u64>(s.topk_blocks) * 8;
  } else if (stage == st::index_score) {
    // append the new keys, read every cached indexer key, write fp32 scores
    c.bytes = n * id * dt + T * (id * dt + 4) + n * (ih * id * dt + ih * 4);
    c.flops = 2 * T * ih * id;
  } else if (stage == st::token_topk) {
    const u64 k = static_cast<u64>(m.dsa.topk_tokens);
    c.bytes = 2 * T * 4 + B * k * 4;  // two passes over the scores (threshold, then pick)
    c.flops = 2 * T;
  } else if (stage == st::kv_write) {
    c.bytes = 2 * n * nkv * hd * 2 * dt + (s.indexer ? n * id * dt : 0);
  } else if (stage == st::attention || stage == st::prefill_attention) {
    // decode: read the attended K and V; prefill: causal, A = sum ctx*(ctx+1)/2.
    c.bytes = s.prefill ? T * (nq + 2 * nkv) * hd * dt * 2 : A * nkv * hd * 2 * dt + 2 * n * nq * hd * dt;
    c.flops = 4 * A * nq * hd;
  } else if (stage == st::o_proj) {
    c.bytes = nq * hd * H * dt + n * (nq * hd + H) * dt;
    c.flops = 2 * n * nq * hd * H;
  } else if (stage == st::mlp) {
    c.bytes = 3 * H * I * dt + n * (2 * H + 3 * I) * dt;
    c.flops = 6 * n * H * I;
  } else if (stage == st::lm_head) {
    c.bytes = H * V * dt + B * (H + V) * dt;
    c.flops = 2 * B * H * V;
  } else if (stage == st::argmax) {
    c.bytes = B * V * dt;
    c.flops = B * V;
  }
  return c;
}

OpCost selector_cost(const config::ModelConfig& m, const StepShape& s) {
  const u64 dt = static_cast<u64>(m.dtype_bytes), H = static_cast<u64>(m.hidden);
  const u64 out = static_cast<u64>(m.n_kv_heads * m.head_dim), n = static_cast<u64>(s.new_tokens);
  OpCost c;
  c.bytes = H * out * dt + n * (H + out) * dt;
  c.flops = 2 * n * H * out;
  return c;
}

bool stage_uses_tensor_cores(std::string_view stage) {
  return stage == st::qkvf_gemm || stage == st::o_proj || stage == st::mlp ||
         stage == st::lm_head || stage == st::attention || stage == st::prefill_attention ||
         stage == st::score || stage == st::prefill_estimate || stage == st::prefill_sparse_attention;
}

bool op_timed_by_cost(trace::OpKind kind, std::string_view stage) {
  return kind == trace::OpKind::compute || (kind == trace::OpKind::host && stage == st::prefill_choose);
}

bool stage_runs_on_gpu(std::string_view stage) { return stage != st::prefill_choose; }

std::int64_t token_bytes(const config::ModelConfig& m) { return m.kv_bytes_per_token_layer(); }

std::int64_t gather_unit_bytes(const config::ModelConfig& m, config::Mode mode) {
  return config::mode_traits(mode).selects_tokens() ? token_bytes(m) : kv_block_bytes(m);
}

std::int64_t roofline_ns(const config::HardwareConfig& hw, const OpCost& c, bool tensor) {
  const double mem_ns = hw.hbm_gbps > 0 ? static_cast<double>(c.bytes) / hw.hbm_gbps : 0.0;
  const double rate = tensor ? hw.bf16_tflops : hw.fp32_tflops;
  const double math_ns = rate > 0 ? static_cast<double>(c.flops) / (rate * 1e3) : 0.0;
  return std::llround(hw.kernel_launch_us * 1e3 + std::max(mem_ns, math_ns));
}

std::int64_t kv_block_bytes(const config::ModelConfig& m) {
  return m.sparse.block_tokens * m.head_dim * 2 * m.dtype_bytes;
}

namespace {
double curve_or(const config::BandwidthCurve& c, double x, double fallback) {
  return c.x.empty() ? fallback : c.at(x);
}
}  // namespace

std::int64_t transfer_ns(const config::HardwareConfig& hw, trace::OpKind kind,
                         trace::Engine engine, std::uint64_t bytes, std::uint32_t chunks,
                         std::uint16_t ctas, double pcie_scale) {
  const double b = static_cast<double>(bytes);
  if (kind == trace::OpKind::d2d)
    return std::llround(hw.kernel_launch_us * 1e3 + (hw.hbm_gbps > 0 ? 2 * b / hw.hbm_gbps : 0));
  const double dir = kind == trace::OpKind::d2h && hw.h2d_gbps > 0 ? hw.d2h_gbps / hw.h2d_gbps : 1.0;
  const double lat_ns = hw.h2d_latency_us * 1e3;
  const double ceiling = hw.h2d_gbps;
  double gbps = ceiling;
  switch (engine) {
    case trace::Engine::zero_copy_gather:
    case trace::Engine::bulk_copy_gather:
      gbps = config::gather_gbps_16k(hw, engine == trace::Engine::bulk_copy_gather, ctas) * dir * pcie_scale;
      return std::llround(lat_ns + (gbps > 0 ? b / gbps : 0));
    case trace::Engine::memcpy_per_block: {
      const std::uint32_t k = std::max<std::uint32_t>(1, chunks);
      const double chunk = b / k;
      gbps = curve_or(hw.h2d_memcpy_by_size, std::max(1.0, chunk), ceiling) * dir * pcie_scale;
      return std::llround(k * (lat_ns + (gbps > 0 ? chunk / gbps : 0)));
    }
    case trace::Engine::cpu_memcpy:
      return std::llround(hw.host_memcpy_gbps > 0 ? b / hw.host_memcpy_gbps : 0);
    case trace::Engine::memcpy_bulk:
    case trace::Engine::none:
    default:
      gbps = curve_or(hw.h2d_memcpy_by_size, std::max(1.0, b), ceiling) * dir * pcie_scale;
      return std::llround(lat_ns + (gbps > 0 ? b / gbps : 0));
  }
}

}  // namespace foresight::sim

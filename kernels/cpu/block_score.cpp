// CPU references for stage-1 block scoring (see block_score.hpp).
#include "foresight/kernels/block_score.hpp"

#include <cmath>
#include <limits>
#include <vector>

namespace foresight::kernels {
namespace {

const bf16* kc_row(const BlockScoreParams& p, int b, int j, int g) {
  const std::int64_t seq_stride =
      p.kc_batch_stride ? p.kc_batch_stride : std::int64_t{p.max_comp} * p.kv_heads * p.head_dim;
  return p.kc + b * seq_stride + (std::int64_t{j} * p.kv_heads + g) * p.head_dim;
}

float dot(const bf16* a, const bf16* b, int n) {
  float s = 0.f;
  for (int d = 0; d < n; ++d) s += bf16_to_float(a[d]) * bf16_to_float(b[d]);
  return s;
}

void check_n_comp(const BlockScoreParams& p, const char* op) {
  for (int b = 0; b < p.batch; ++b)
    require_param(p.n_comp[b] >= 0 && p.n_comp[b] <= p.max_comp, op, "n_comp[b]", "must be in [0, max_comp]");
}

}  // namespace

void block_score_forecast_cpu(const BlockScoreParams& p) {
  validate_block_score(p, false);
  check_n_comp(p, "block_score_forecast");
  const std::int64_t sel_stride = p.sel_batch_stride ? p.sel_batch_stride : std::int64_t{p.kv_heads} * p.head_dim;
  for (int b = 0; b < p.batch; ++b)
    for (int g = 0; g < p.kv_heads; ++g) {
      const bf16* f = p.sel + b * sel_stride + std::int64_t{g} * p.head_dim;
      float* out = p.scores + (std::int64_t{b} * p.kv_heads + g) * p.max_comp;
      for (int j = 0; j < p.max_comp; ++j)
        out[j] = j < p.n_comp[b] ? dot(f, kc_row(p, b, j, g), p.head_dim) : -INFINITY;
    }
}

void block_score_query_group_cpu(const BlockScoreParams& p) {
  validate_block_score(p, true);
  check_n_comp(p, "block_score_query_group");
  const std::int64_t sel_stride = p.sel_batch_stride ? p.sel_batch_stride : std::int64_t{p.n_heads} * p.head_dim;
  const float scale = p.softmax_scale != 0.f ? p.softmax_scale : 1.f / std::sqrt(static_cast<float>(p.head_dim));
  const int group = p.n_heads / p.kv_heads;
  std::vector<float> logits(static_cast<std::size_t>(p.max_comp));
  for (int b = 0; b < p.batch; ++b) {
    const int n = p.n_comp[b];
    for (int g = 0; g < p.kv_heads; ++g) {
      float* out = p.scores + (std::int64_t{b} * p.kv_heads + g) * p.max_comp;
      for (int j = 0; j < p.max_comp; ++j) out[j] = j < n ? 0.f : -INFINITY;
      for (int h = g * group; h < (g + 1) * group; ++h) {
        const bf16* q = p.sel + b * sel_stride + std::int64_t{h} * p.head_dim;
        float m = -INFINITY;
        for (int j = 0; j < n; ++j) {
          logits[j] = scale * dot(q, kc_row(p, b, j, g), p.head_dim);
          m = std::max(m, logits[j]);
        }
        double l = 0;
        for (int j = 0; j < n; ++j) l += std::exp(static_cast<double>(logits[j]) - m);
        for (int j = 0; j < n; ++j) out[j] += static_cast<float>(std::exp(static_cast<double>(logits[j]) - m) / l);
      }
    }
  }
}

}  // namespace foresight::kernels

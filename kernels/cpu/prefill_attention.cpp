// CPU reference of causal prefill attention (see
// foresight/kernels/prefill_attention.hpp): exact softmax in fp32 per query.
#include "foresight/kernels/prefill_attention.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "dense_validate.hpp"

namespace foresight::kernels {

double prefill_attention_flops(const PrefillAttentionParams& p) {
  // Query i sees start + i + 1 keys; QK^T and PV each cost 2 * head_dim FLOPs per key.
  const double c = static_cast<double>(p.chunk), s = static_cast<double>(p.start);
  const double pairs = c * s + c * (c + 1) / 2;
  return 4.0 * pairs * p.head_dim * p.n_heads;
}

void prefill_attention_cpu(const PrefillAttentionParams& params) {
  const PrefillAttentionParams p = detail::validated(params);
  const int group = p.n_heads / p.n_kv_heads;
  const std::size_t d = static_cast<std::size_t>(p.head_dim);
  std::vector<float> q(d), acc(d), scores;
  for (std::int64_t i = 0; i < p.chunk; ++i) {
    const std::int64_t n_keys = p.start + i + 1;
    scores.resize(static_cast<std::size_t>(n_keys));
    for (int h = 0; h < p.n_heads; ++h) {
      const std::int64_t kv_off = std::int64_t{h / group} * p.head_dim;
      const bf16* qh = p.q + i * p.q_token_stride + std::int64_t{h} * p.head_dim;
      for (std::size_t e = 0; e < d; ++e) q[e] = bf16_to_float(qh[e]);
      float max_s = -INFINITY;
      for (std::int64_t j = 0; j < n_keys; ++j) {
        const bf16* kj = p.k + j * p.kv_token_stride + kv_off;
        float s = 0;
        for (std::size_t e = 0; e < d; ++e) s += q[e] * bf16_to_float(kj[e]);
        scores[static_cast<std::size_t>(j)] = s * p.scale;
        max_s = std::max(max_s, s * p.scale);
      }
      float denom = 0;
      std::fill(acc.begin(), acc.end(), 0.f);
      for (std::int64_t j = 0; j < n_keys; ++j) {
        const float w = std::exp(scores[static_cast<std::size_t>(j)] - max_s);
        denom += w;
        const bf16* vj = p.v + j * p.kv_token_stride + kv_off;
        for (std::size_t e = 0; e < d; ++e) acc[e] += w * bf16_to_float(vj[e]);
      }
      bf16* oh = p.o + i * p.o_token_stride + std::int64_t{h} * p.head_dim;
      for (std::size_t e = 0; e < d; ++e) oh[e] = float_to_bf16(acc[e] / denom);
    }
  }
}

}  // namespace foresight::kernels

// CPU reference of causal prefill attention (see
// foresight/kernels/prefill_attention.hpp): exact softmax in fp32 per query.
// K and V are widened to fp32 once per call (K transposed, so a query's scores
// over consecutive keys are one SIMD loop); every score is still the
// sequential sum over head_dim and every output the sequential sum over keys,
// so the bits equal the plain per-key loop. Each (query token, head) pair is
// one task on the cpu_threads() pool: the bits do not depend on the thread count.
#include "foresight/kernels/prefill_attention.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "dense_validate.hpp"
#include "parallel.hpp"

namespace foresight::kernels {

double prefill_attention_flops(const PrefillAttentionParams& p) {
  // Query i sees start + i + 1 keys; QK^T and PV each cost 2 * head_dim FLOPs per key.
  const double c = static_cast<double>(p.chunk), s = static_cast<double>(p.start);
  const double pairs = c * s + c * (c + 1) / 2;
  return 4.0 * pairs * p.head_dim * p.n_heads;
}

namespace {

// K and V of the call in fp32: kt [n_kv_heads, head_dim, keys] (transposed),
// v [n_kv_heads, keys, head_dim]; keys = start + chunk.
struct WideKv {
  std::int64_t keys = 0;
  std::vector<float> kt, v;
};

WideKv widen_kv(const PrefillAttentionParams& p) {
  WideKv w;
  w.keys = p.start + p.chunk;
  const std::int64_t d = p.head_dim, per_head = w.keys * d;
  w.kt.resize(static_cast<std::size_t>(p.n_kv_heads * per_head));
  w.v.resize(w.kt.size());
  detail::parallel_for(w.keys, 256, [&](std::int64_t j) {
    for (int g = 0; g < p.n_kv_heads; ++g) {
      const bf16* kj = p.k + j * p.kv_token_stride + std::int64_t{g} * d;
      const bf16* vj = p.v + j * p.kv_token_stride + std::int64_t{g} * d;
      for (std::int64_t e = 0; e < d; ++e) {
        w.kt[static_cast<std::size_t>(g * per_head + e * w.keys + j)] = bf16_to_float(kj[e]);
        w.v[static_cast<std::size_t>(g * per_head + j * d + e)] = bf16_to_float(vj[e]);
      }
    }
  });
  return w;
}

// Query token i of the chunk, head h: o[i, h] = softmax(q k^T * scale) v over
// keys [0, start + i].
void attend_query(const PrefillAttentionParams& p, const WideKv& w, std::int64_t i, int h) {
  const std::int64_t d = p.head_dim, n_keys = p.start + i + 1;
  const std::int64_t g = h / (p.n_heads / p.n_kv_heads);
  const float* kt = w.kt.data() + g * w.keys * d;
  const float* v = w.v.data() + g * w.keys * d;
  const bf16* qh = p.q + i * p.q_token_stride + std::int64_t{h} * d;
  std::vector<float> scores(static_cast<std::size_t>(n_keys), 0.f), acc(static_cast<std::size_t>(d), 0.f);
  float* s = scores.data();
  for (std::int64_t e = 0; e < d; ++e) {  // s[j] = sum over e in order, one lane per key
    const float qe = bf16_to_float(qh[e]);
    const float* ke = kt + e * w.keys;
#pragma omp simd
    for (std::int64_t j = 0; j < n_keys; ++j) s[j] += qe * ke[j];
  }
  float max_s = -INFINITY;
  for (std::int64_t j = 0; j < n_keys; ++j) {
    s[j] *= p.scale;
    max_s = std::max(max_s, s[j]);
  }
  float denom = 0;
  float* a = acc.data();
  for (std::int64_t j = 0; j < n_keys; ++j) {
    const float wj = std::exp(s[j] - max_s);
    denom += wj;
    const float* vj = v + j * d;
#pragma omp simd
    for (std::int64_t e = 0; e < d; ++e) a[e] += wj * vj[e];
  }
  bf16* oh = p.o + i * p.o_token_stride + std::int64_t{h} * d;
  for (std::int64_t e = 0; e < d; ++e) oh[e] = float_to_bf16(a[e] / denom);
}

}  // namespace

void prefill_attention_cpu(const PrefillAttentionParams& params) {
  const PrefillAttentionParams p = detail::validated(params);
  if (p.chunk == 0) return;
  const WideKv w = widen_kv(p);
  detail::parallel_for(p.chunk * p.n_heads, 4, [&](std::int64_t t) {
    attend_query(p, w, t / p.n_heads, static_cast<int>(t % p.n_heads));
  });
}

}  // namespace foresight::kernels

// CPU reference of key compression (see foresight/kernels/key_compress.hpp).
#include "foresight/kernels/key_compress.hpp"

#include <algorithm>
#include <vector>

#include "dense_validate.hpp"

namespace foresight::kernels {

void key_compress_prefill_cpu(const KeyCompressPrefillParams& params) {
  const KeyCompressPrefillParams p = detail::validated(params);
  const std::int64_t n_windows = compressed_key_count(p.tokens, p.kernel, p.stride);
  const std::int64_t width = std::int64_t{p.kv_heads} * p.head_dim;
  std::vector<float> sum(static_cast<std::size_t>(width));
  for (std::int64_t w = p.first_window; w < n_windows; ++w) {
    std::fill(sum.begin(), sum.end(), 0.f);
    for (int t = 0; t < p.kernel; ++t) {  // token order, as in the decode variant
      const bf16* k = p.k + (w * p.stride + t) * p.k_token_stride;
      for (std::int64_t e = 0; e < width; ++e) sum[static_cast<std::size_t>(e)] += bf16_to_float(k[e]);
    }
    bf16* kc = p.kc + w * width;
    for (std::int64_t e = 0; e < width; ++e) {
      kc[e] = float_to_bf16(sum[static_cast<std::size_t>(e)] / static_cast<float>(p.kernel));
    }
  }
  if (p.ring) {
    for (std::int64_t t = std::max<std::int64_t>(0, p.tokens - p.kernel); t < p.tokens; ++t) {
      const bf16* k = p.k + t * p.k_token_stride;
      std::copy(k, k + width, p.ring + (t % p.kernel) * width);
    }
  }
}

void key_compress_decode_cpu(const KeyCompressDecodeParams& params) {
  const KeyCompressDecodeParams p = detail::validated(params);
  const std::int64_t width = std::int64_t{p.kv_heads} * p.head_dim;
  std::vector<float> sum(static_cast<std::size_t>(width));
  for (int b = 0; b < p.batch; ++b) {
    const std::int64_t t = p.token_counts[b];
    detail::require(t >= 1, "key_compress_decode", "token_counts must be >= 1");
    bf16* ring = p.ring + std::int64_t{b} * p.kernel * width;
    if (p.k_new) {
      const bf16* src = p.k_new + b * p.k_new_batch_stride;
      std::copy(src, src + width, ring + ((t - 1) % p.kernel) * width);
    }
    if (t < p.kernel || (t - p.kernel) % p.stride != 0) continue;
    std::fill(sum.begin(), sum.end(), 0.f);
    for (std::int64_t tok = t - p.kernel; tok < t; ++tok) {  // token order
      const bf16* k = ring + (tok % p.kernel) * width;
      for (std::int64_t e = 0; e < width; ++e) sum[static_cast<std::size_t>(e)] += bf16_to_float(k[e]);
    }
    bf16* kc = p.kc + b * p.kc_batch_stride + (t - p.kernel) / p.stride * width;
    for (std::int64_t e = 0; e < width; ++e) {
      kc[e] = float_to_bf16(sum[static_cast<std::size_t>(e)] / static_cast<float>(p.kernel));
    }
  }
}

}  // namespace foresight::kernels

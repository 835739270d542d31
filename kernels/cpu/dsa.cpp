// CPU references for the DSA indexer, token selection and token gather (see dsa.hpp).
#include "foresight/kernels/dsa.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace foresight::kernels {

void indexer_score_cpu(const IndexerScoreParams& p) {
  validate_indexer_score(p);
  const std::int64_t k_stride = p.k_batch_stride ? p.k_batch_stride : std::int64_t{p.max_tokens} * p.head_dim;
  std::vector<float> q(static_cast<std::size_t>(p.heads) * p.head_dim);
  for (int b = 0; b < p.batch; ++b) {
    const int n = p.n_tokens[b];
    require_param(n >= 0 && n <= p.max_tokens, "indexer_score", "n_tokens[b]", "must be in [0, max_tokens]");
    const bf16* qb = p.q + b * indexer_q_stride(p);
    for (std::size_t i = 0; i < q.size(); ++i) q[i] = bf16_to_float(qb[i]);
    const bf16* w = p.w + b * indexer_w_stride(p);
    float* out = p.scores + std::int64_t{b} * p.max_tokens;
    for (int t = 0; t < p.max_tokens; ++t) {
      if (t >= n) {
        out[t] = -INFINITY;
        continue;
      }
      const bf16* key = p.k + b * k_stride + std::int64_t{t} * p.head_dim;
      float s = 0.f;
      for (int h = 0; h < p.heads; ++h) {
        float dot = 0.f;
        for (int d = 0; d < p.head_dim; ++d) dot += q[std::size_t(h) * p.head_dim + d] * bf16_to_float(key[d]);
        s += bf16_to_float(w[h]) * std::max(dot, 0.f);
      }
      out[t] = s;
    }
  }
}

void token_select_cpu(const TokenSelectParams& p) {
  validate_token_select(p);
  std::vector<std::uint32_t> key;
  std::vector<std::int32_t> order;
  for (int b = 0; b < p.batch; ++b) {
    const int n = p.n_tokens[b];
    require_param(n >= 0 && n <= p.max_tokens, "token_select", "n_tokens[b]", "must be in [0, max_tokens]");
    const float* s = p.scores + std::int64_t{b} * p.max_tokens;
    const int take = std::min(p.topk, n);
    order.resize(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    if (take < n) {
      key.resize(static_cast<std::size_t>(n));
      for (int t = 0; t < n; ++t) key[t] = token_select_key(s[t], t < p.sink_tokens || t >= n - p.local_tokens);
      // Highest key first, lower id first among equals.
      std::nth_element(order.begin(), order.begin() + take, order.end(), [&](std::int32_t a, std::int32_t c) {
        return key[a] > key[c] || (key[a] == key[c] && a < c);
      });
      std::sort(order.begin(), order.begin() + take);
    }
    std::int32_t* ids = p.ids + std::int64_t{b} * p.topk;
    for (int i = 0; i < p.topk; ++i) ids[i] = i < take ? order[i] : -1;
    p.count[b] = take;
  }
}

void token_gather_cpu(const TokenGatherParams& p) {
  validate_token_gather(p);
  const std::size_t row_bytes = sizeof(bf16) * static_cast<std::size_t>(p.head_dim);
  for (int b = 0; b < p.batch; ++b) {
    const int n = p.count[b];
    require_param(n >= 0 && n <= p.topk, "token_gather", "count[b]", "must be in [0, topk]");
    for (int i = 0; i < n; ++i) {
      const std::int64_t t = p.ids[std::int64_t{b} * p.topk + i];
      require_param(t >= 0 && t < p.max_tokens, "token_gather", "ids", "out of [0, max_tokens)");
      for (int h = 0; h < p.kv_heads; ++h) {
        const std::int64_t src = ((std::int64_t{b} * p.kv_heads + h) * p.max_tokens + t) * p.head_dim;
        const std::int64_t dst = ((std::int64_t{b} * p.kv_heads + h) * p.topk + i) * p.head_dim;
        std::memcpy(p.out_k + dst, p.store_k + src, row_bytes);
        std::memcpy(p.out_v + dst, p.store_v + src, row_bytes);
      }
    }
  }
}

}  // namespace foresight::kernels

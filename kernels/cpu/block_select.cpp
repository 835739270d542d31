// CPU reference for pooling + forced blocks + top-k (see block_select.hpp).
#include "foresight/kernels/block_select.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace foresight::kernels {

float pooled_block_score(const float* score_row, int n_comp, int n_blocks, int b, const BlockSelectParams& p) {
  if (b < p.sink_blocks || b >= n_blocks - p.local_blocks) return INFINITY;
  const int lo = std::max(0, b * p.pool_stride - p.pool_padding);
  const int hi = std::min(n_comp, b * p.pool_stride - p.pool_padding + p.pool_kernel);  // exclusive
  float m = -INFINITY;
  for (int j = lo; j < hi; ++j)
    if (!std::isnan(score_row[j])) m = std::max(m, score_row[j]);
  return m;
}

void block_select_cpu(const BlockSelectParams& p) {
  validate_block_select(p);
  std::vector<float> pooled;
  std::vector<int> order;
  for (int b = 0; b < p.batch; ++b) {
    const int n_blocks = p.n_blocks[b];
    const int n_comp = p.n_comp[b];
    require_param(n_blocks >= 0 && n_blocks <= p.max_blocks, "block_select", "n_blocks[b]", "must be in [0, max_blocks]");
    require_param(n_comp >= 0 && n_comp <= p.max_comp, "block_select", "n_comp[b]", "must be in [0, max_comp]");
    for (int g = 0; g < p.kv_heads; ++g) {
      const std::int64_t row = std::int64_t{b} * p.kv_heads + g;
      const float* scores = p.scores + row * p.max_comp;
      pooled.resize(static_cast<std::size_t>(n_blocks));
      for (int i = 0; i < n_blocks; ++i) pooled[i] = pooled_block_score(scores, n_comp, n_blocks, i, p);
      order.resize(static_cast<std::size_t>(n_blocks));
      std::iota(order.begin(), order.end(), 0);
      const int take = std::min(p.k, n_blocks);
      // Highest score first, lower id first among equals.
      std::partial_sort(order.begin(), order.begin() + take, order.end(), [&](int a, int c) {
        return pooled[a] > pooled[c] || (pooled[a] == pooled[c] && a < c);
      });
      std::sort(order.begin(), order.begin() + take);
      std::int32_t* out = p.selected + row * p.k;
      for (int i = 0; i < p.k; ++i) out[i] = i < take ? order[i] : -1;
    }
  }
}

}  // namespace foresight::kernels

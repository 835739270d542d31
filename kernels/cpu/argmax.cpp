// CPU reference of greedy argmax (see foresight/kernels/argmax.hpp).
#include "foresight/kernels/argmax.hpp"

#include <cmath>

#include "dense_validate.hpp"

namespace foresight::kernels {

void argmax_cpu(const ArgmaxParams& params) {
  const ArgmaxParams p = detail::validated(params);
  for (int r = 0; r < p.rows; ++r) {
    const bf16* row = p.logits + r * p.row_stride;
    std::int32_t best = 0;
    float best_v = -INFINITY;
    bool found = false;
    for (int v = 0; v < p.vocab; ++v) {
      const float x = bf16_to_float(row[v]);
      if (std::isnan(x)) continue;
      if (!found || x > best_v) {  // strict: ties keep the lower index
        best = v;
        best_v = x;
        found = true;
      }
    }
    p.out[r] = best;
  }
}

}  // namespace foresight::kernels

// CPU reference of RMSNorm (see foresight/kernels/rmsnorm.hpp).
#include "foresight/kernels/rmsnorm.hpp"

#include <cmath>

#include "dense_validate.hpp"

namespace foresight::kernels {

void rmsnorm_cpu(const RmsNormParams& params) {
  const RmsNormParams p = detail::validated(params);
  for (int r = 0; r < p.rows; ++r) {
    const bf16* x = p.x + r * p.x_row_stride;
    bf16* y = p.y + r * p.y_row_stride;
    double sum_sq = 0;  // double: the reference should not be the error source
    for (int i = 0; i < p.hidden; ++i) {
      const double v = bf16_to_float(x[i]);
      sum_sq += v * v;
    }
    const float inv_rms = static_cast<float>(1.0 / std::sqrt(sum_sq / p.hidden + p.eps));
    for (int i = 0; i < p.hidden; ++i) {
      y[i] = float_to_bf16(bf16_to_float(x[i]) * inv_rms * bf16_to_float(p.weight[i]));
    }
  }
}

}  // namespace foresight::kernels

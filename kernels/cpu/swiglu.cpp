// CPU reference of SwiGLU (see foresight/kernels/swiglu.hpp).
#include "foresight/kernels/swiglu.hpp"

#include <cmath>

#include "dense_validate.hpp"

namespace foresight::kernels {

void swiglu_cpu(const SwigluParams& params) {
  const SwigluParams p = detail::validated(params);
  for (int r = 0; r < p.rows; ++r) {
    const bf16* gate = p.gate_up + std::int64_t{r} * 2 * p.inter;
    const bf16* up = gate + p.inter;
    bf16* out = p.out + std::int64_t{r} * p.inter;
    for (int i = 0; i < p.inter; ++i) {
      const float g = bf16_to_float(gate[i]);
      out[i] = float_to_bf16(g / (1.f + std::exp(-g)) * bf16_to_float(up[i]));
    }
  }
}

}  // namespace foresight::kernels

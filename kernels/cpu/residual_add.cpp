// CPU reference of the residual add (see foresight/kernels/residual_add.hpp).
#include "foresight/kernels/residual_add.hpp"

#include "dense_validate.hpp"

namespace foresight::kernels {

void residual_add_cpu(const ResidualAddParams& params) {
  const ResidualAddParams p = detail::validated(params);
  for (std::int64_t i = 0; i < p.n; ++i) {
    p.out[i] = float_to_bf16(bf16_to_float(p.a[i]) + bf16_to_float(p.b[i]));
  }
}

}  // namespace foresight::kernels

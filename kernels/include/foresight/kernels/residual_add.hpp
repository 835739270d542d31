// Element-wise residual add: out[i] = a[i] + b[i] (fp32 add, one rounding).
#pragma once

#include <cstdint>

#include "foresight/kernels/bf16.hpp"

#include "foresight/kernels/cuda_stream.hpp"

namespace foresight::kernels {

struct ResidualAddParams {
  const bf16* a = nullptr;  // [n]
  const bf16* b = nullptr;  // [n]
  bf16* out = nullptr;      // [n]; may equal a or b (in-place residual)
  std::int64_t n = 0;       // elements
};

void residual_add_cpu(const ResidualAddParams& p);
#ifdef FORESIGHT_HAVE_CUDA
void residual_add_cuda(const ResidualAddParams& p, cudaStream_t stream);
#endif

}  // namespace foresight::kernels

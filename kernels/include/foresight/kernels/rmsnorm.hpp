// RMSNorm over the last dimension (HF Llama/MiniCPM semantics, fp32 math,
// one rounding to bf16 at the end):
//   y[r, :] = x[r, :] / sqrt(mean_i(x[r, i]^2) + eps) * weight[:]
#pragma once

#include <cstdint>

#include "foresight/kernels/bf16.hpp"

#include "foresight/kernels/cuda_stream.hpp"

namespace foresight::kernels {

struct RmsNormParams {
  const bf16* x = nullptr;       // [rows, hidden], rows x_row_stride elements apart
  const bf16* weight = nullptr;  // [hidden]
  bf16* y = nullptr;             // [rows, hidden], rows y_row_stride apart; may equal x
  int rows = 0;
  int hidden = 0;
  std::int64_t x_row_stride = 0;  // elements; 0 means hidden (contiguous)
  std::int64_t y_row_stride = 0;  // elements; 0 means hidden
  float eps = 1e-6f;
};

void rmsnorm_cpu(const RmsNormParams& p);
#ifdef FORESIGHT_HAVE_CUDA
void rmsnorm_cuda(const RmsNormParams& p, cudaStream_t stream);
#endif

}  // namespace foresight::kernels

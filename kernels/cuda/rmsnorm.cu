// CUDA RMSNorm: one block per row; 16-byte loads when rows are aligned.
#include "../cpu/dense_validate.hpp"
#include "dense_cuda_util.cuh"
#include "foresight/kernels/cuda_check.hpp"
#include "foresight/kernels/rmsnorm.hpp"

namespace foresight::kernels {
namespace {
using namespace cuda_detail;

template <bool kVec>
__global__ void __launch_bounds__(256) rmsnorm_kernel(RmsNormParams p) {
  const bf16* x = p.x + blockIdx.x * p.x_row_stride;
  bf16* y = p.y + blockIdx.x * p.y_row_stride;
  float sum_sq = 0.f;
  if constexpr (kVec) {
    const Vec8* xv = reinterpret_cast<const Vec8*>(x);
    for (int c = threadIdx.x; c < p.hidden / 8; c += blockDim.x) {
      float f[8];
      unpack(xv[c], f);
#pragma unroll
      for (int i = 0; i < 8; ++i) sum_sq += f[i] * f[i];
    }
  } else {
    for (int i = threadIdx.x; i < p.hidden; i += blockDim.x) sum_sq += to_f(x[i]) * to_f(x[i]);
  }
  const float inv_rms = rsqrtf(block_sum(sum_sq) / static_cast<float>(p.hidden) + p.eps);
  if constexpr (kVec) {
    const Vec8* xv = reinterpret_cast<const Vec8*>(x);
    const Vec8* wv = reinterpret_cast<const Vec8*>(p.weight);
    Vec8* yv = reinterpret_cast<Vec8*>(y);
    for (int c = threadIdx.x; c < p.hidden / 8; c += blockDim.x) {
      float f[8], w[8];
      unpack(xv[c], f);
      unpack(wv[c], w);
#pragma unroll
      for (int i = 0; i < 8; ++i) f[i] = f[i] * inv_rms * w[i];
      yv[c] = pack(f);
    }
  } else {
    for (int i = threadIdx.x; i < p.hidden; i += blockDim.x) {
      y[i] = to_bf(to_f(x[i]) * inv_rms * to_f(p.weight[i]));
    }
  }
}
}  // namespace

void rmsnorm_cuda(const RmsNormParams& params, cudaStream_t stream) {
  const RmsNormParams p = detail::validated(params);
  if (p.rows == 0) return;
  const bool vec = p.hidden % 8 == 0 && p.x_row_stride % 8 == 0 && p.y_row_stride % 8 == 0 &&
                   aligned16(p.x) && aligned16(p.y) && aligned16(p.weight);
  if (vec) {
    rmsnorm_kernel<true><<<p.rows, 256, 0, stream>>>(p);
  } else {
    rmsnorm_kernel<false><<<p.rows, 256, 0, stream>>>(p);
  }
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

}  // namespace foresight::kernels

// CUDA RMSNorm: one block per row; aligned rows up to 8192 wide are read once
// with 16-byte loads and kept in registers, others take a scalar two-pass path.
#include "../cpu/dense_validate.hpp"
#include "dense_cuda_util.cuh"
#include "foresight/kernels/cuda_check.hpp"
#include "foresight/kernels/rmsnorm.hpp"

namespace foresight::kernels {
namespace {
using namespace cuda_detail;

constexpr int kThreads = 256;
constexpr int kCachedChunks = 4;  // rows up to 256 * 4 * 8 = 8192 wide stay in registers

// 16-byte vectors; the row is read from memory once and kept in registers.
__global__ void __launch_bounds__(kThreads) rmsnorm_cached_kernel(RmsNormParams p) {
  const Vec8* x = reinterpret_cast<const Vec8*>(p.x + blockIdx.x * p.x_row_stride);
  const Vec8* w = reinterpret_cast<const Vec8*>(p.weight);
  Vec8* y = reinterpret_cast<Vec8*>(p.y + blockIdx.x * p.y_row_stride);
  const int chunks = p.hidden / 8;
  float f[kCachedChunks][8];
  float sum_sq = 0.f;
#pragma unroll
  for (int k = 0; k < kCachedChunks; ++k) {
    const int c = threadIdx.x + k * kThreads;
    if (c < chunks) {
      unpack(x[c], f[k]);
#pragma unroll
      for (int i = 0; i < 8; ++i) sum_sq += f[k][i] * f[k][i];
    }
  }
  const float inv_rms = rsqrtf(block_sum(sum_sq) / static_cast<float>(p.hidden) + p.eps);
#pragma unroll
  for (int k = 0; k < kCachedChunks; ++k) {
    const int c = threadIdx.x + k * kThreads;
    if (c < chunks) {
      float wv[8];
      unpack(w[c], wv);
#pragma unroll
      for (int i = 0; i < 8; ++i) f[k][i] = f[k][i] * inv_rms * wv[i];
      y[c] = pack(f[k]);
    }
  }
}

// Any width and alignment: two passes over the row, scalar accesses.
__global__ void __launch_bounds__(kThreads) rmsnorm_scalar_kernel(RmsNormParams p) {
  const bf16* x = p.x + blockIdx.x * p.x_row_stride;
  bf16* y = p.y + blockIdx.x * p.y_row_stride;
  float sum_sq = 0.f;
  for (int i = threadIdx.x; i < p.hidden; i += blockDim.x) sum_sq += to_f(x[i]) * to_f(x[i]);
  const float inv_rms = rsqrtf(block_sum(sum_sq) / static_cast<float>(p.hidden) + p.eps);
  for (int i = threadIdx.x; i < p.hidden; i += blockDim.x) {
    y[i] = to_bf(to_f(x[i]) * inv_rms * to_f(p.weight[i]));
  }
}
}  // namespace

void rmsnorm_cuda(const RmsNormParams& params, cudaStream_t stream) {
  const RmsNormParams p = detail::validated(params);
  if (p.rows == 0) return;
  const bool vec = p.hidden % 8 == 0 && p.hidden <= kThreads * kCachedChunks * 8 &&
                   p.x_row_stride % 8 == 0 && p.y_row_stride % 8 == 0 && aligned16(p.x) &&
                   aligned16(p.y) && aligned16(p.weight);
  if (vec) {
    rmsnorm_cached_kernel<<<p.rows, kThreads, 0, stream>>>(p);
  } else {
    rmsnorm_scalar_kernel<<<p.rows, kThreads, 0, stream>>>(p);
  }
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

}  // namespace foresight::kernels

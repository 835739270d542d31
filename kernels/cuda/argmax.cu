// CUDA greedy argmax: one block per row, (value, index) reduction with ties
// to the lowest index; NaN never wins.
#include <cmath>

#include "../cpu/dense_validate.hpp"
#include "dense_cuda_util.cuh"
#include "foresight/kernels/argmax.hpp"
#include "foresight/kernels/cuda_check.hpp"

namespace foresight::kernels {
namespace {
using namespace cuda_detail;

struct Best {
  float v;
  int i;  // INT_MAX: nothing seen yet
};
__device__ __forceinline__ Best better(Best a, Best b) {
  if (b.v > a.v || (b.v == a.v && b.i < a.i)) return b;
  return a;
}
__device__ __forceinline__ void consider(Best& best, float v, int i) {
  if (!isnan(v)) best = better(best, Best{v, i});
}

template <bool kVec>
__global__ void __launch_bounds__(512) argmax_kernel(ArgmaxParams p) {
  const bf16* row = p.logits + blockIdx.x * p.row_stride;
  Best best{-INFINITY, 0x7fffffff};
  if constexpr (kVec) {
    const Vec8* rv = reinterpret_cast<const Vec8*>(row);
    for (int c = threadIdx.x; c < p.vocab / 8; c += blockDim.x) {
      float f[8];
      unpack(rv[c], f);
#pragma unroll
      for (int e = 0; e < 8; ++e) consider(best, f[e], c * 8 + e);
    }
    for (int i = p.vocab / 8 * 8 + threadIdx.x; i < p.vocab; i += blockDim.x) consider(best, to_f(row[i]), i);
  } else {
    for (int i = threadIdx.x; i < p.vocab; i += blockDim.x) consider(best, to_f(row[i]), i);
  }
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    Best other{__shfl_xor_sync(0xffffffffu, best.v, o), __shfl_xor_sync(0xffffffffu, best.i, o)};
    best = better(best, other);
  }
  __shared__ Best partial[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) partial[warp] = best;
  __syncthreads();
  if (warp == 0) {
    best = lane < static_cast<int>(blockDim.x / 32) ? partial[lane] : Best{-INFINITY, 0x7fffffff};
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      Best other{__shfl_xor_sync(0xffffffffu, best.v, o), __shfl_xor_sync(0xffffffffu, best.i, o)};
      best = better(best, other);
    }
    if (lane == 0) p.out[blockIdx.x] = best.i == 0x7fffffff ? 0 : best.i;  // all NaN -> 0
  }
}
}  // namespace

void argmax_cuda(const ArgmaxParams& params, cudaStream_t stream) {
  const ArgmaxParams p = detail::validated(params);
  if (p.rows == 0) return;
  if (p.row_stride % 8 == 0 && aligned16(p.logits)) {
    argmax_kernel<true><<<p.rows, 512, 0, stream>>>(p);
  } else {
    argmax_kernel<false><<<p.rows, 512, 0, stream>>>(p);
  }
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

}  // namespace foresight::kernels

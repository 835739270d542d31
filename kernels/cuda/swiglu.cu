// CUDA SwiGLU over a fused gate+up output: 16-byte vectors when inter is a
// multiple of 8; no integer division in the loop.
#include <algorithm>

#include "../cpu/dense_validate.hpp"
#include "dense_cuda_util.cuh"
#include "foresight/kernels/cuda_check.hpp"
#include "foresight/kernels/swiglu.hpp"

namespace foresight::kernels {
namespace {
using namespace cuda_detail;

__device__ __forceinline__ float silu_mul(float g, float u) { return g / (1.f + __expf(-g)) * u; }

// grid.x: chunks of a row (8 elements each when kVec); grid.y strides over rows.
template <bool kVec>
__global__ void swiglu_kernel(SwigluParams p) {
  constexpr int kWidth = kVec ? 8 : 1;
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= p.inter / kWidth) return;
  for (std::int64_t r = blockIdx.y; r < p.rows; r += gridDim.y) {
    const bf16* gate = p.gate_up + r * 2 * p.inter;
    bf16* out = p.out + r * p.inter;
    if constexpr (kVec) {
      float g[8], u[8];
      unpack(reinterpret_cast<const Vec8*>(gate)[i], g);
      unpack(reinterpret_cast<const Vec8*>(gate + p.inter)[i], u);
#pragma unroll
      for (int e = 0; e < 8; ++e) g[e] = silu_mul(g[e], u[e]);
      reinterpret_cast<Vec8*>(out)[i] = pack(g);
    } else {
      out[i] = to_bf(silu_mul(to_f(gate[i]), to_f(gate[p.inter + i])));
    }
  }
}
}  // namespace

void swiglu_cuda(const SwigluParams& params, cudaStream_t stream) {
  const SwigluParams p = detail::validated(params);
  if (p.rows == 0) return;
  const int threads = 256;
  const bool vec = p.inter % 8 == 0 && aligned16(p.gate_up) && aligned16(p.out);
  const int chunks = vec ? p.inter / 8 : p.inter;
  const dim3 grid(static_cast<unsigned>((chunks + threads - 1) / threads), static_cast<unsigned>(std::min(p.rows, 65535)));
  if (vec) {
    swiglu_kernel<true><<<grid, threads, 0, stream>>>(p);
  } else {
    swiglu_kernel<false><<<grid, threads, 0, stream>>>(p);
  }
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

}  // namespace foresight::kernels

// CUDA SwiGLU over a fused gate+up output: grid-stride, 16-byte vectors when
// inter is a multiple of 8.
#include "../cpu/dense_validate.hpp"
#include "dense_cuda_util.cuh"
#include "foresight/kernels/cuda_check.hpp"
#include "foresight/kernels/swiglu.hpp"

namespace foresight::kernels {
namespace {
using namespace cuda_detail;

__device__ __forceinline__ float silu_mul(float g, float u) { return g / (1.f + __expf(-g)) * u; }

template <bool kVec>
__global__ void swiglu_kernel(SwigluParams p) {
  const std::int64_t tid = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x;
  const std::int64_t step = std::int64_t{gridDim.x} * blockDim.x;
  if constexpr (kVec) {
    const std::int64_t per_row = p.inter / 8, total = per_row * p.rows;
    for (std::int64_t c = tid; c < total; c += step) {
      const std::int64_t r = c / per_row, i = c % per_row;
      const Vec8* gate = reinterpret_cast<const Vec8*>(p.gate_up + r * 2 * p.inter);
      float g[8], u[8];
      unpack(gate[i], g);
      unpack(gate[per_row + i], u);
#pragma unroll
      for (int e = 0; e < 8; ++e) g[e] = silu_mul(g[e], u[e]);
      reinterpret_cast<Vec8*>(p.out + r * p.inter)[i] = pack(g);
    }
  } else {
    const std::int64_t total = std::int64_t{p.inter} * p.rows;
    for (std::int64_t c = tid; c < total; c += step) {
      const std::int64_t r = c / p.inter, i = c % p.inter;
      const bf16* gate = p.gate_up + r * 2 * p.inter;
      p.out[c] = to_bf(silu_mul(to_f(gate[i]), to_f(gate[p.inter + i])));
    }
  }
}
}  // namespace

void swiglu_cuda(const SwigluParams& params, cudaStream_t stream) {
  const SwigluParams p = detail::validated(params);
  if (p.rows == 0) return;
  const int threads = 256;
  const std::int64_t total = std::int64_t{p.rows} * p.inter;
  if (p.inter % 8 == 0 && aligned16(p.gate_up) && aligned16(p.out)) {
    swiglu_kernel<true><<<grid_for(total / 8, threads, 132 * 16), threads, 0, stream>>>(p);
  } else {
    swiglu_kernel<false><<<grid_for(total, threads, 132 * 16), threads, 0, stream>>>(p);
  }
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

}  // namespace foresight::kernels

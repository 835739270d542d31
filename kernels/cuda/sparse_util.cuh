// Device helpers shared by the sparse-path kernels (private to kernels/cuda).
#pragma once

#include <cstdint>

#include <cuda_bf16.h>

#include "foresight/kernels/bf16.hpp"

namespace foresight::kernels::detail {

// Eight bf16 in a 16-byte vector, widened to fp32.
__device__ __forceinline__ void bf16x8_to_float(const uint4& v, float* out) {
  const std::uint32_t w[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    out[2 * i] = __uint_as_float(w[i] << 16);
    out[2 * i + 1] = __uint_as_float(w[i] & 0xffff0000u);
  }
}

// Exclusive prefix sum over the CTA (blockDim.x a multiple of 32, <= 1024).
// scratch: 33 ints of shared memory. Returns the prefix; *total gets the sum.
// Every thread of the CTA must call it.
__device__ __forceinline__ int block_exclusive_scan(int v, int* scratch, int* total) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  int x = v;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const int y = __shfl_up_sync(0xffffffffu, x, o);
    if (lane >= o) x += y;
  }
  if (lane == 31) scratch[warp] = x;
  __syncthreads();
  if (warp == 0) {
    int s = lane < warps ? scratch[lane] : 0;
#pragma unroll
    for (int o = 1; o < 32; o <<= 1) {
      const int y = __shfl_up_sync(0xffffffffu, s, o);
      if (lane >= o) s += y;
    }
    if (lane < warps) scratch[lane] = s;  // inclusive per warp
    if (lane == 31) scratch[32] = s;
  }
  __syncthreads();
  const int before = (warp > 0 ? scratch[warp - 1] : 0) + x - v;
  *total = scratch[32];
  __syncthreads();  // scratch may be reused right after
  return before;
}

// Order-preserving map float -> uint32 (larger float, larger key). NaN maps
// like -inf and -0 like +0, matching the CPU comparisons.
__device__ __forceinline__ std::uint32_t ordered_key(float f) {
  if (f != f) f = -INFINITY;
  if (f == 0.f) f = 0.f;
  const std::uint32_t u = __float_as_uint(f);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

}  // namespace foresight::kernels::detail

// Device helpers shared by the dense-path CUDA kernels: bf16 conversion,
// 16-byte vectors, alignment tests and block reductions.
#pragma once

#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "foresight/kernels/bf16.hpp"

namespace foresight::kernels::cuda_detail {

__device__ __forceinline__ float to_f(bf16 v) { return __uint_as_float(std::uint32_t{v.bits} << 16); }
__device__ __forceinline__ bf16 to_bf(float f) {
  __nv_bfloat16 b = __float2bfloat16_rn(f);
  return bf16{__bfloat16_as_ushort(b)};
}

// Eight bf16 values moved with one 16-byte load or store.
struct alignas(16) Vec8 {
  bf16 v[8];
};
__device__ __forceinline__ void unpack(const Vec8& in, float (&out)[8]) {
#pragma unroll
  for (int i = 0; i < 8; ++i) out[i] = to_f(in.v[i]);
}
__device__ __forceinline__ Vec8 pack(const float (&in)[8]) {
  Vec8 out;
#pragma unroll
  for (int i = 0; i < 8; ++i) out.v[i] = to_bf(in[i]);
  return out;
}

inline bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Sum over the block (blockDim.x a multiple of 32, at most 1024); every thread gets it.
__device__ __forceinline__ float block_sum(float v) {
  __shared__ float partial[32];
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  v = warp_sum(v);
  __syncthreads();  // partial may still be read by a previous call
  if (lane == 0) partial[warp] = v;
  __syncthreads();
  const int n_warps = static_cast<int>(blockDim.x / 32);
  v = lane < n_warps ? partial[lane] : 0.f;
  return warp_sum(v);
}

inline unsigned grid_for(std::int64_t work, int threads, std::int64_t max_blocks = 65535 * 8) {
  std::int64_t blocks = (work + threads - 1) / threads;
  if (blocks < 1) blocks = 1;
  if (blocks > max_blocks) blocks = max_blocks;
  return static_cast<unsigned>(blocks);
}

}  // namespace foresight::kernels::cuda_detail

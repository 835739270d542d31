// CUDA RoPE. Fast path (head_dim / 2 a multiple of 8, 16-byte aligned rows):
// a block takes kRopeRows x ... rows; it first computes each row's sines and
// cosines once into shared memory (accurate sincosf), then every thread
// rotates 8 pairs of one head with two 16-byte loads and stores. Fallback:
// one block per sequence; thread (i, g) computes the sine and cosine of pair i
// once and rotates that pair in heads g, g + G, g + 2G, ... over the
// sequence's q, k and f heads laid end to end.
#include "../cpu/dense_validate.hpp"
#include "dense_cuda_util.cuh"
#include "foresight/kernels/cuda_check.hpp"
#include "foresight/kernels/rope.hpp"

namespace foresight::kernels {
namespace {
using namespace cuda_detail;

__global__ void rope_kernel(RopeParams p, int n_f_heads) {
  const int half = p.head_dim / 2;
  const int i = threadIdx.x % half, group = threadIdx.x / half, groups = blockDim.x / half;
  const std::int64_t b = blockIdx.x;
  const float a = __fmul_rn(static_cast<float>(p.positions[b]), p.inv_freq[i]);  // as on the CPU
  float s, c;
  sincosf(a, &s, &c);  // accurate version: angles reach ~1e5 rad at 128K context
  const int heads = p.n_heads + p.n_kv_heads + n_f_heads;
  for (int head = group; head < heads; head += groups) {
    bf16* x;
    if (head < p.n_heads) {
      x = p.q + b * p.q_batch_stride + std::int64_t{head} * p.head_dim;
    } else if (head < p.n_heads + p.n_kv_heads) {
      x = p.k + b * p.k_batch_stride + std::int64_t{head - p.n_heads} * p.head_dim;
    } else {
      x = p.f + b * p.f_batch_stride + std::int64_t{head - p.n_heads - p.n_kv_heads} * p.head_dim;
    }
    const float x0 = to_f(x[i]), x1 = to_f(x[i + half]);
    x[i] = to_bf(x0 * c - x1 * s);
    x[i + half] = to_bf(x1 * c + x0 * s);
  }
}

// Fast path. Block: rows [blockIdx.x * rows_per_block, ...), 256 threads;
// shared: rows_per_block * half cosines, then as many sines.
__global__ void __launch_bounds__(256) rope_vec_kernel(RopeParams p, int n_f_heads, int rows_per_block) {
  extern __shared__ float cs[];
  const int half = p.head_dim / 2, chunks = half / 8;
  const int heads = p.n_heads + p.n_kv_heads + n_f_heads;
  const std::int64_t row0 = std::int64_t{blockIdx.x} * rows_per_block;
  const int rows = static_cast<int>(min(std::int64_t{rows_per_block}, p.batch - row0));
  float* cos_t = cs;
  float* sin_t = cs + rows_per_block * half;
  for (int idx = threadIdx.x; idx < rows * half; idx += blockDim.x) {
    const int r = idx / half, i = idx % half;
    const float a = __fmul_rn(static_cast<float>(p.positions[row0 + r]), p.inv_freq[i]);  // as on the CPU
    sincosf(a, &sin_t[idx], &cos_t[idx]);  // accurate version: angles reach ~1e5 rad at 128K context
  }
  __syncthreads();
  const int per_row = heads * chunks;
  for (int idx = threadIdx.x; idx < rows * per_row; idx += blockDim.x) {
    const int r = idx / per_row, rem = idx % per_row, head = rem / chunks, c = rem % chunks;
    const std::int64_t b = row0 + r;
    bf16* x;
    if (head < p.n_heads) {
      x = p.q + b * p.q_batch_stride + std::int64_t{head} * p.head_dim;
    } else if (head < p.n_heads + p.n_kv_heads) {
      x = p.k + b * p.k_batch_stride + std::int64_t{head - p.n_heads} * p.head_dim;
    } else {
      x = p.f + b * p.f_batch_stride + std::int64_t{head - p.n_heads - p.n_kv_heads} * p.head_dim;
    }
    Vec8* lo_p = reinterpret_cast<Vec8*>(x + 8 * c);
    Vec8* hi_p = reinterpret_cast<Vec8*>(x + half + 8 * c);
    float x0[8], x1[8], y0[8], y1[8];
    unpack(*lo_p, x0);
    unpack(*hi_p, x1);
    const float* cr = cos_t + r * half + 8 * c;
    const float* sr = sin_t + r * half + 8 * c;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      y0[i] = x0[i] * cr[i] - x1[i] * sr[i];
      y1[i] = x1[i] * cr[i] + x0[i] * sr[i];
    }
    *lo_p = pack(y0);
    *hi_p = pack(y1);
  }
}
}  // namespace

void rope_cuda(const RopeParams& params, cudaStream_t stream) {
  const RopeParams p = detail::validated(params);
  detail::require(p.head_dim <= 2048, "rope", "CUDA launcher supports head_dim <= 2048");
  const int n_f_heads = p.f ? p.n_kv_heads : 0;
  if (p.batch == 0 || p.n_heads + p.n_kv_heads + n_f_heads == 0) return;
  const int half = p.head_dim / 2;
  const bool vec = half % 8 == 0 && aligned16(p.q) && aligned16(p.k) && (!p.f || aligned16(p.f)) &&
                   p.q_batch_stride % 8 == 0 && p.k_batch_stride % 8 == 0 && (!p.f || p.f_batch_stride % 8 == 0);
  if (vec) {
    const int rows_per_block = half >= 256 ? 1 : 256 / half;
    const unsigned blocks = static_cast<unsigned>((p.batch + rows_per_block - 1) / rows_per_block);
    const std::size_t smem = sizeof(float) * 2 * rows_per_block * half;
    rope_vec_kernel<<<blocks, 256, smem, stream>>>(p, n_f_heads, rows_per_block);
    FORESIGHT_CUDA_CHECK_LAUNCH();
    return;
  }
  const int groups = half >= 256 ? 1 : 256 / half;
  rope_kernel<<<static_cast<unsigned>(p.batch), half * groups, 0, stream>>>(p, n_f_heads);
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

}  // namespace foresight::kernels

// CUDA stage-1 block scoring (see block_score.hpp). Half-warps (16 lanes)
// score one compressed position each with 16-byte loads of the key row.
#include "foresight/kernels/block_score.hpp"

#include <cmath>

#include "foresight/kernels/cuda_check.hpp"
#include "sparse_util.cuh"

namespace foresight::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxChunksPerLane = 4;  // head_dim <= 16 lanes * 4 * 8 = 512

struct Geometry {
  std::int64_t kc_seq_stride, sel_stride;
};

Geometry geometry(const BlockScoreParams& p, int sel_heads) {
  return {p.kc_batch_stride ? p.kc_batch_stride : std::int64_t{p.max_comp} * p.kv_heads * p.head_dim,
          p.sel_batch_stride ? p.sel_batch_stride : std::int64_t{sel_heads} * p.head_dim};
}

// Dot product of one selector row (fp32 in registers, this lane's chunks)
// with a key row, summed over the 16 lanes of the half-warp.
__device__ __forceinline__ float half_warp_dot(const float (*sel)[8], const bf16* key, int chunks, int sub) {
  float s = 0.f;
#pragma unroll
  for (int c = 0; c < kMaxChunksPerLane; ++c) {
    const int chunk = sub + 16 * c;
    if (chunk < chunks) {
      float k[8];
      detail::bf16x8_to_float(*reinterpret_cast<const uint4*>(key + chunk * 8), k);
#pragma unroll
      for (int i = 0; i < 8; ++i) s += sel[c][i] * k[i];
    }
  }
  // The two half-warps may take different branches: sync only this half.
  const unsigned mask = 0xffffu << (threadIdx.x & 16);
#pragma unroll
  for (int o = 8; o > 0; o >>= 1) s += __shfl_xor_sync(mask, s, o);
  return s;
}

__device__ __forceinline__ void load_sel(const bf16* row, int chunks, int sub, float (*sel)[8]) {
#pragma unroll
  for (int c = 0; c < kMaxChunksPerLane; ++c) {
    const int chunk = sub + 16 * c;
    if (chunk < chunks) {
      detail::bf16x8_to_float(*reinterpret_cast<const uint4*>(row + chunk * 8), sel[c]);
    } else {
#pragma unroll
      for (int i = 0; i < 8; ++i) sel[c][i] = 0.f;
    }
  }
}

// grid (ceil(max_comp / positions_per_cta), kv_heads, batch)
__global__ void forecast_kernel(BlockScoreParams p, Geometry geo, int positions_per_cta) {
  const int b = blockIdx.z, g = blockIdx.y;
  const int sub = threadIdx.x & 15, half = threadIdx.x >> 4;
  const int chunks = p.head_dim / 8;
  float sel[kMaxChunksPerLane][8];
  load_sel(p.sel + b * geo.sel_stride + std::int64_t{g} * p.head_dim, chunks, sub, sel);
  const int n = p.n_comp[b];
  float* out = p.scores + (std::int64_t{b} * p.kv_heads + g) * p.max_comp;
  const int begin = blockIdx.x * positions_per_cta;
  const int end = min(begin + positions_per_cta, p.max_comp);
  for (int j = begin + half; j < end; j += kThreads / 16) {  // uniform per half-warp
    if (j < n) {
      const bf16* key = p.kc + b * geo.kc_seq_stride + (std::int64_t{j} * p.kv_heads + g) * p.head_dim;
      const float s = half_warp_dot(sel, key, chunks, sub);
      if (sub == 0) out[j] = s;
    } else if (sub == 0) {
      out[j] = -INFINITY;
    }
  }
}

// Pass 1 of the query selector. grid (chunks, kv_heads, batch); dynamic
// shared memory group * kQueryGroupChunk floats of scaled logits.
__global__ void query_logits_kernel(BlockScoreParams p, Geometry geo, float scale, float* logits, float* partial,
                                    int n_chunks) {
  extern __shared__ float tile[];  // [group][kQueryGroupChunk]
  const int b = blockIdx.z, g = blockIdx.y, group = p.n_heads / p.kv_heads;
  const int sub = threadIdx.x & 15, half = threadIdx.x >> 4;
  const int chunks = p.head_dim / 8;
  const int n = p.n_comp[b];
  const int begin = blockIdx.x * kQueryGroupChunk;
  for (int h = 0; h < group; ++h) {
    const int head = g * group + h;
    float sel[kMaxChunksPerLane][8];
    load_sel(p.sel + b * geo.sel_stride + std::int64_t{head} * p.head_dim, chunks, sub, sel);
    for (int jj = half; jj < kQueryGroupChunk; jj += kThreads / 16) {
      const int j = begin + jj;
      float s = -INFINITY;
      if (j < n) {
        const bf16* key = p.kc + b * geo.kc_seq_stride + (std::int64_t{j} * p.kv_heads + g) * p.head_dim;
        s = scale * half_warp_dot(sel, key, chunks, sub);
      }
      if (sub == 0) {
        tile[h * kQueryGroupChunk + jj] = s;
        if (j < p.max_comp) logits[(std::int64_t{b} * p.n_heads + head) * p.max_comp + j] = s;
      }
    }
  }
  __syncthreads();
  // Per head of the group: chunk max and sum of exp(logit - max). One warp per head.
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int h = warp; h < group; h += kThreads / 32) {
    const float* t = tile + h * kQueryGroupChunk;
    float m = -INFINITY;
    for (int i = lane; i < kQueryGroupChunk; i += 32) m = fmaxf(m, t[i]);
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    float l = 0.f;
    if (m > -INFINITY)
      for (int i = lane; i < kQueryGroupChunk; i += 32) l += __expf(t[i] - m);
    for (int o = 16; o > 0; o >>= 1) l += __shfl_xor_sync(0xffffffffu, l, o);
    if (lane == 0) {
      float* dst = partial + ((std::int64_t{b} * p.n_heads + g * group + h) * n_chunks + blockIdx.x) * 2;
      dst[0] = m;
      dst[1] = l;
    }
  }
}

// Pass 2: merge chunk partials into per-head (max, sum), then sum the group's
// probabilities per position. grid (chunks, kv_heads, batch); shared 2*group floats.
__global__ void query_group_sum_kernel(BlockScoreParams p, const float* logits, const float* partial, int n_chunks) {
  extern __shared__ float ml[];  // [group][2]
  const int b = blockIdx.z, g = blockIdx.y, group = p.n_heads / p.kv_heads;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int h = warp; h < group; h += kThreads / 32) {
    const float* src = partial + (std::int64_t{b} * p.n_heads + g * group + h) * n_chunks * 2;
    float m = -INFINITY;
    for (int c = lane; c < n_chunks; c += 32) m = fmaxf(m, src[2 * c]);
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    float l = 0.f;
    for (int c = lane; c < n_chunks; c += 32)
      if (src[2 * c] > -INFINITY) l += src[2 * c + 1] * __expf(src[2 * c] - m);
    for (int o = 16; o > 0; o >>= 1) l += __shfl_xor_sync(0xffffffffu, l, o);
    if (lane == 0) {
      ml[2 * h] = m;
      ml[2 * h + 1] = l;
    }
  }
  __syncthreads();
  const int n = p.n_comp[b];
  float* out = p.scores + (std::int64_t{b} * p.kv_heads + g) * p.max_comp;
  for (int jj = threadIdx.x; jj < kQueryGroupChunk; jj += kThreads) {
    const int j = blockIdx.x * kQueryGroupChunk + jj;
    if (j >= p.max_comp) break;
    float s = -INFINITY;
    if (j < n) {
      s = 0.f;
      for (int h = 0; h < group; ++h)
        s += __expf(logits[(std::int64_t{b} * p.n_heads + g * group + h) * p.max_comp + j] - ml[2 * h]) / ml[2 * h + 1];
    }
    out[j] = s;
  }
}

}  // namespace

void block_score_forecast_cuda(const BlockScoreParams& p, cudaStream_t stream) {
  validate_block_score(p, false);
  require_param(p.head_dim <= 16 * kMaxChunksPerLane * 8, "block_score_forecast", "head_dim", "must be <= 512");
  if (p.max_comp == 0) return;
  const int per_cta = 256;
  dim3 grid((p.max_comp + per_cta - 1) / per_cta, p.kv_heads, p.batch);
  forecast_kernel<<<grid, kThreads, 0, stream>>>(p, geometry(p, p.kv_heads), per_cta);
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

void block_score_query_group_cuda(const BlockScoreParams& p, cudaStream_t stream) {
  validate_block_score(p, true);
  require_param(p.head_dim <= 16 * kMaxChunksPerLane * 8, "block_score_query_group", "head_dim", "must be <= 512");
  require_param(p.workspace != nullptr, "block_score_query_group", "workspace", "must be set on the GPU");
  if (p.max_comp == 0) return;
  const int n_chunks = (p.max_comp + kQueryGroupChunk - 1) / kQueryGroupChunk;
  const int group = p.n_heads / p.kv_heads;
  const float scale = p.softmax_scale != 0.f ? p.softmax_scale : 1.f / std::sqrt(static_cast<float>(p.head_dim));
  float* logits = static_cast<float*>(p.workspace);
  float* partial = logits + static_cast<std::size_t>(p.batch) * p.n_heads * p.max_comp;
  dim3 grid(n_chunks, p.kv_heads, p.batch);
  const std::size_t smem1 = sizeof(float) * group * kQueryGroupChunk;
  require_param(smem1 <= 48 * 1024, "block_score_query_group", "n_heads / kv_heads", "must be <= 48");
  query_logits_kernel<<<grid, kThreads, smem1, stream>>>(p, geometry(p, p.n_heads), scale, logits, partial, n_chunks);
  FORESIGHT_CUDA_CHECK_LAUNCH();
  query_group_sum_kernel<<<grid, kThreads, sizeof(float) * 2 * group, stream>>>(p, logits, partial, n_chunks);
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

}  // namespace foresight::kernels

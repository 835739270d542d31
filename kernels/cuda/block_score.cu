// CUDA stage-1 block scoring (see block_score.hpp). Forecast: half-warps (16
// lanes) score one compressed position each with 16-byte loads of the key
// row. Query selector: the group's query heads are the 16 rows of a bf16
// tensor-core tile, so each compressed key is read from memory once for the
// whole group (the half-warp path, which re-reads the keys once per head,
// remains for group > 16 or head_dim not a multiple of 32).
#include "foresight/kernels/block_score.hpp"

#include <cmath>

#include "foresight/kernels/cuda_check.hpp"
#include "sparse_mma.cuh"
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

__device__ void chunk_stats(const float* tile, int group, int b, int g, int n_heads, int n_chunks, float* partial);

// Pass 1 of the query selector on tensor cores, group <= 16, head_dim D a
// multiple of 32. grid (chunks, kv_heads, batch), 4 warps; warp w scores
// positions [64w, 64w + 64) of the chunk. Rows of the 16 x 64 logit tile are
// the group's heads (rows >= group are zero). As in decode attention, the
// head_dim order inside each 32-dim chunk is permuted identically for q and
// the keys, so every lane loads 16 contiguous bytes of a key row.
template <int D>
__global__ void __launch_bounds__(128) query_logits_mma_kernel(BlockScoreParams p, Geometry geo, float scale,
                                                                float* logits, float* partial, int n_chunks) {
  __shared__ float tile[16 * kQueryGroupChunk];
  const int b = blockIdx.z, g = blockIdx.y, group = p.n_heads / p.kv_heads;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, r = lane >> 2, qd = lane & 3;
  const int n = p.n_comp[b];
  const int begin = blockIdx.x * kQueryGroupChunk + warp * 64;
  std::uint32_t qa[D / 16][4];
  const bf16* qrow = p.sel + b * geo.sel_stride + std::int64_t{g} * group * D;
#pragma unroll
  for (int c = 0; c < D / 32; ++c) {
    const uint4 zero = make_uint4(0, 0, 0, 0);
    const uint4 lo = r < group ? *reinterpret_cast<const uint4*>(qrow + r * D + 32 * c + 8 * qd) : zero;
    const uint4 hi = r + 8 < group ? *reinterpret_cast<const uint4*>(qrow + (r + 8) * D + 32 * c + 8 * qd) : zero;
    qa[2 * c][0] = lo.x, qa[2 * c][1] = hi.x, qa[2 * c][2] = lo.y, qa[2 * c][3] = hi.y;
    qa[2 * c + 1][0] = lo.z, qa[2 * c + 1][1] = hi.z, qa[2 * c + 1][2] = lo.w, qa[2 * c + 1][3] = hi.w;
  }
  const bf16* kbase = p.kc + b * geo.kc_seq_stride + std::int64_t{g} * D;
  const std::int64_t kstride = std::int64_t{p.kv_heads} * D;
  // Issue all key loads of the warp's 64 positions before the first mma.
  uint4 kw[8][D / 32];
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    const int pos = begin + 8 * j + r;
#pragma unroll
    for (int c = 0; c < D / 32; ++c)
      kw[j][c] = pos < n ? __ldg(reinterpret_cast<const uint4*>(kbase + pos * kstride + 32 * c + 8 * qd))
                         : make_uint4(0, 0, 0, 0);
  }
#pragma unroll
  for (int j = 0; j < 8; ++j) {
    float s[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
    for (int c = 0; c < D / 32; ++c) {
      detail::mma_bf16_16816(s, qa[2 * c], kw[j][c].x, kw[j][c].y);
      detail::mma_bf16_16816(s, qa[2 * c + 1], kw[j][c].z, kw[j][c].w);
    }
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int h = r + 8 * (e >> 1), col = 8 * j + 2 * qd + (e & 1);
      if (h < group) tile[h * kQueryGroupChunk + warp * 64 + col] = begin + col < n ? scale * s[e] : -INFINITY;
    }
  }
  __syncthreads();
  const int chunk_begin = blockIdx.x * kQueryGroupChunk;
  for (int idx = threadIdx.x; idx < group * kQueryGroupChunk; idx += blockDim.x) {
    const int h = idx / kQueryGroupChunk, jj = idx % kQueryGroupChunk;
    if (chunk_begin + jj < p.max_comp)
      logits[(std::int64_t{b} * p.n_heads + g * group + h) * p.max_comp + chunk_begin + jj] = tile[idx];
  }
  chunk_stats(tile, group, b, g, p.n_heads, n_chunks, partial);
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
  chunk_stats(tile, group, b, g, p.n_heads, n_chunks, partial);
}

// Per head of the group: the chunk's max logit and sum of exp(logit - max)
// from the shared tile [group][kQueryGroupChunk]. One warp per head.
__device__ void chunk_stats(const float* tile, int group, int b, int g, int n_heads, int n_chunks, float* partial) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int h = warp; h < group; h += blockDim.x / 32) {
    const float* t = tile + h * kQueryGroupChunk;
    float m = -INFINITY;
    for (int i = lane; i < kQueryGroupChunk; i += 32) m = fmaxf(m, t[i]);
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    float l = 0.f;
    if (m > -INFINITY)
      for (int i = lane; i < kQueryGroupChunk; i += 32) l += __expf(t[i] - m);
    for (int o = 16; o > 0; o >>= 1) l += __shfl_xor_sync(0xffffffffu, l, o);
    if (lane == 0) {
      float* dst = partial + ((std::int64_t{b} * n_heads + g * group + h) * n_chunks + blockIdx.x) * 2;
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
  const Geometry geo = geometry(p, p.n_heads);
  const bool aligned = geo.sel_stride % 8 == 0;  // 16-byte rows for the tensor-core path
  if (group <= 16 && aligned && p.head_dim == 128) {
    query_logits_mma_kernel<128><<<grid, 128, 0, stream>>>(p, geo, scale, logits, partial, n_chunks);
  } else if (group <= 16 && aligned && p.head_dim == 64) {
    query_logits_mma_kernel<64><<<grid, 128, 0, stream>>>(p, geo, scale, logits, partial, n_chunks);
  } else {
    query_logits_kernel<<<grid, kThreads, smem1, stream>>>(p, geo, scale, logits, partial, n_chunks);
  }
  FORESIGHT_CUDA_CHECK_LAUNCH();
  query_group_sum_kernel<<<grid, kThreads, sizeof(float) * 2 * group, stream>>>(p, logits, partial, n_chunks);
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

}  // namespace foresight::kernels

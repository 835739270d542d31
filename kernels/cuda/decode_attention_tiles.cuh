// Pieces shared by the two split-KV decode attention kernels
// (decode_attention.cu): where a row's 64-token tiles are, Q as mma
// fragments, and the CTA's final merge of its warps into one partial.
// Private to kernels/cuda.
#pragma once

#include <cmath>
#include <cstdint>

#include "foresight/kernels/bf16.hpp"
#include "sparse_mma.cuh"

namespace foresight::kernels::decode_detail {

constexpr int kWarps = 4;  // warps per CTA, both kernels
constexpr int kTile = 64;  // tokens per tile (= block_tokens for the sparse form)
constexpr int kRows = 16;  // query heads per mma tile (max group size)

// Where row (batch, kv_head)'s tiles are. Sparse: tile i is slot
// slot_list[row][i]. Dense: tile i is tokens [64i, 64i + 64) of the cache.
struct TileSource {
  const bf16* k;
  const bf16* v;
  const std::int32_t* slot_list;
  const std::int32_t* list_len;
  const std::int32_t* tail_tokens;
  const std::int32_t* seq_len;
  std::int64_t max_tokens;
  int slots_per_row, list_stride, tail_slot;
  bool dense;

  __device__ int tiles(int row, int b) const {
    if (dense) return (min(seq_len[b], static_cast<int>(max_tokens)) + kTile - 1) / kTile;
    return min(list_len[row], list_stride);
  }
  // Sparse: slot index of tile i (i < tiles(row, b)); dense: unused.
  __device__ int slot_of(int row, int i) const {
    return dense ? 0 : __ldg(slot_list + std::int64_t{row} * list_stride + i);
  }
  // Element offset of tile i's first token and its valid token count; `slot`
  // is slot_of(row, i), fetched ahead so the K/V loads do not wait on it.
  __device__ std::int64_t tile(int row, int b, int i, int slot, int head_dim, int* valid) const {
    if (dense) {
      *valid = min(kTile, min(seq_len[b], static_cast<int>(max_tokens)) - i * kTile);
      return (std::int64_t{row} * max_tokens + std::int64_t{i} * kTile) * head_dim;
    }
    *valid = slot < 0 || slot >= slots_per_row ? 0 : slot == tail_slot ? min(max(tail_tokens[b], 0), kTile) : kTile;
    return (std::int64_t{row} * slots_per_row + max(0, min(slot, slots_per_row - 1))) * kTile * head_dim;
  }
};

// Q rows [b, kvh * group .. + group) as mma A fragments (rows >= group are
// zero), head_dim permuted per 32-dim chunk: lane quad qd holds dims
// 32p + 8qd .. + 8 of chunk p, the same order the kernels read K in.
template <int D>
__device__ __forceinline__ void load_q_fragments(std::uint32_t (&qa)[D / 16][4], const bf16* q, int b, int kvh,
                                                 int n_heads, int group, int lane) {
  const int g = lane >> 2, qd = lane & 3;
  const bf16* qrow = q + (std::int64_t{b} * n_heads + kvh * group) * D;
#pragma unroll
  for (int p = 0; p < D / 32; ++p) {
    const uint4 zero = make_uint4(0, 0, 0, 0);
    const uint4 lo = g < group ? *reinterpret_cast<const uint4*>(qrow + g * D + 32 * p + 8 * qd) : zero;
    const uint4 hi = g + 8 < group ? *reinterpret_cast<const uint4*>(qrow + (g + 8) * D + 32 * p + 8 * qd) : zero;
    qa[2 * p][0] = lo.x, qa[2 * p][1] = hi.x, qa[2 * p][2] = lo.y, qa[2 * p][3] = hi.y;
    qa[2 * p + 1][0] = lo.z, qa[2 * p + 1][1] = hi.z, qa[2 * p + 1][2] = lo.w, qa[2 * p + 1][3] = hi.w;
  }
}

// Merges the kWarps warps' (o, m, l) (rows g, g + 8 of lane (g, qd); l not yet
// summed over the quad) through `smem` (>= kWarps * kRows * (D + 2) floats,
// free: callers sync before) and writes split `split`'s partial:
// part_o [batch, n_heads, n_splits, D], part_ml [batch, n_heads, n_splits, 2].
template <int D>
__device__ __forceinline__ void write_split_partial(const float (&o)[D / 8][4], const float (&m)[2], float (&l)[2],
                                                    unsigned char* smem, int b, int kvh, int group, int n_heads,
                                                    int n_splits, int split, float* part_o, float* part_ml) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, qd = lane & 3;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
  }
  float* so = reinterpret_cast<float*>(smem);
  float* sm = so + kWarps * kRows * D;
  float* sl = sm + kWarps * kRows;
#pragma unroll
  for (int n = 0; n < D / 8; ++n)
#pragma unroll
    for (int e = 0; e < 4; ++e)
      so[(warp * kRows + g + 8 * (e >> 1)) * D + 8 * n + 2 * qd + (e & 1)] = o[n][e];
  if (qd == 0) {
    sm[warp * kRows + g] = m[0], sm[warp * kRows + g + 8] = m[1];
    sl[warp * kRows + g] = l[0], sl[warp * kRows + g + 8] = l[1];
  }
  __syncthreads();
  for (int idx = threadIdx.x; idx < group * D; idx += kWarps * 32) {
    const int h = idx / D, d = idx % D;
    float mm = -INFINITY;
#pragma unroll
    for (int w = 0; w < kWarps; ++w) mm = fmaxf(mm, sm[w * kRows + h]);
    float acc = 0.f, sum = 0.f;
    if (mm > -INFINITY) {
#pragma unroll
      for (int w = 0; w < kWarps; ++w) {
        const float f = exp2f(sm[w * kRows + h] - mm);
        acc += f * so[(w * kRows + h) * D + d];
        sum += f * sl[w * kRows + h];
      }
    }
    const std::int64_t ph = (std::int64_t{b} * n_heads + kvh * group + h) * n_splits + split;
    part_o[ph * D + d] = acc;
    if (d == 0) part_ml[2 * ph] = mm, part_ml[2 * ph + 1] = sum;
  }
}

}  // namespace foresight::kernels::decode_detail

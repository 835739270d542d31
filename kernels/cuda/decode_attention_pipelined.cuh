// Split-KV decode attention with a CTA-level shared-memory pipeline
// (included by decode_attention.cu; private to kernels/cuda).
//
// CTA = (split, kv_head, batch), 4 warps; split s takes the row's tiles
// s, s + n_splits, ... . Each whole 64-token tile (K 64 x D and V 64 x D,
// bf16) is copied into one of kStages shared-memory stages by all 128
// threads with 16-byte cp.async (tokens past the valid count zero-filled),
// kStages - 1 tiles ahead of the compute, so the loads need no registers and
// stay in flight while the warps compute. All 4 warps share every tile:
// warp w takes its tokens [16w, 16w + 16): S = Q K^T (2 mma n-blocks x D/16
// k-steps, K read from shared memory in the permuted head_dim order that
// matches load_q_fragments), online softmax, O += P V (ldmatrix.trans).
// The 16-byte chunk c of token t sits at chunk c ^ swz(t % 8) of its row,
// swz a permutation of 0..7 whose bit 2 differs between even and odd t:
// the K reads (8 lanes = 2 tokens x 4 chunks per phase) and the V
// ldmatrix rows (8 consecutive tokens, one chunk) are conflict-free.
#pragma once

#include "decode_attention_tiles.cuh"

namespace foresight::kernels::decode_detail {

__device__ __forceinline__ int chunk_swizzle(int t) { return ((t & 1) << 2) | ((t >> 1) & 3); }

// Flat ("stream-K") grid: all rows' tiles in one sequence, flat index
// f = row * row_tiles + t (tiles t >= the row's count are skipped), cut into
// `ctas` equal ranges, CTA c taking [c * total / ctas, (c + 1) * total / ctas)
// so every CTA streams the same number of tiles (+-1) whatever the rows.
// A CTA writes one partial per row it touches, at index c - cta_of(first
// tile of the row); the combine reads rows' partial counts from the same
// formula. ctas == 0: per-row grid (split, kv_head, batch) instead.
struct FlatGrid {
  int ctas = 0;
  int row_tiles = 0;
  std::int64_t total = 0;  // rows * row_tiles

  __host__ __device__ std::int64_t begin(int c) const { return c * total / ctas; }
  // The CTA whose range holds flat tile f (0 <= f < total).
  __host__ __device__ int cta_of(std::int64_t f) const { return static_cast<int>(((f + 1) * ctas - 1) / total); }
  __host__ __device__ int first_cta(int row) const { return cta_of(std::int64_t{row} * row_tiles); }
  __host__ __device__ int parts(int row) const {
    return cta_of(std::int64_t{row} * row_tiles + row_tiles - 1) - first_cta(row) + 1;
  }
};

template <int D, int kStages>
constexpr int pipelined_smem_bytes() {
  return kStages * 2 * kTile * D * 2;  // K and V tiles per stage, bf16
}
// The flat grid merges rows while tiles are in flight: separate scratch.
template <int D>
constexpr int merge_scratch_bytes() {
  return kWarps * kRows * (D + 2) * 4;
}

// CTAs per SM the kernel is built for: as many as fit in shared memory.
template <int D, int kStages>
constexpr int pipelined_min_ctas() {
  constexpr int fit = (227 * 1024) / pipelined_smem_bytes<D, kStages>();
  return fit < 1 ? 1 : fit > 4 ? 4 : fit;
}

template <int D, int kStages>
__global__ void __launch_bounds__(kWarps * 32, (pipelined_min_ctas<D, kStages>()))
    decode_pipelined_kernel(TileSource src, const bf16* __restrict__ q, int n_heads, int kv_heads, float scale_log2,
                            int n_splits, FlatGrid flat, float* part_o, float* part_ml) {
  static_assert(D % 32 == 0 && kStages >= 2);
  static_assert(merge_scratch_bytes<D>() <= pipelined_smem_bytes<D, kStages>(), "merge scratch must fit");
  constexpr int kChunks = D / 8;  // 16-byte chunks per token row
  constexpr int kStageElems = 2 * kTile * D;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  bf16* stages = reinterpret_cast<bf16*>(smem_raw);
  unsigned char* scratch = flat.ctas ? smem_raw + pipelined_smem_bytes<D, kStages>() : smem_raw;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, qd = lane & 3;
  const int group = n_heads / kv_heads;
  // This CTA's tiles: k = 0 .. count - 1 is tile (row_at(k), tile_at(k)).
  // Per-row grid: the row's tiles split, split + n_splits, ...
  // Flat grid: flat tiles first + k.
  const int split = blockIdx.x;
  const int fixed_row = flat.ctas ? 0 : blockIdx.z * kv_heads + blockIdx.y;
  const std::int64_t first = flat.ctas ? flat.begin(split) : 0;
  int count;
  if (flat.ctas) {
    count = static_cast<int>(flat.begin(split + 1) - first);
  } else {
    const int nt = src.tiles(fixed_row, blockIdx.z);
    count = split < nt ? (nt - split + n_splits - 1) / n_splits : 0;
  }
  auto row_at = [&](int k) { return flat.ctas ? static_cast<int>((first + k) / flat.row_tiles) : fixed_row; };
  auto tile_at = [&](int k) {
    return flat.ctas ? static_cast<int>((first + k) % flat.row_tiles) : split + k * n_splits;
  };
  // Lane i holds the slot of this CTA's i-th tile; bounded by the list's
  // stride (not its length, so it need not wait for list_len) and, flat, by
  // the CTA's range.
  const int lane_row = row_at(lane), lane_tile = tile_at(lane);
  const int lane_slot = src.dense || (lane_tile < src.list_stride && (!flat.ctas || lane < count))
                            ? src.slot_of(lane_row, lane_tile)
                            : 0;
  // Slot of tile k (all lanes), and whether the tile is within its row.
  auto slot_at = [&](int k, int row, int t) {
    const int slot_k = __shfl_sync(0xffffffffu, lane_slot, k & 31);
    return k < 32 ? slot_k : src.slot_of(row, t);
  };

  // Copies this CTA's k-th tile into stage k % kStages (all threads); a tile
  // past its row's count (flat grid) is skipped.
  auto issue = [&](int k) {
    const int row = row_at(k), t = tile_at(k), b = row / kv_heads;
    const int slot = slot_at(k, row, t);
    if (flat.ctas && t >= src.tiles(row, b)) return;
    int valid = 0;
    const std::int64_t base = src.tile(row, b, t, slot, D, &valid);
    bf16* ks = stages + (k % kStages) * kStageElems;
#pragma unroll
    for (int r = 0; r < kTile * kChunks / (kWarps * 32); ++r) {
      const int idx = threadIdx.x + r * kWarps * 32;
      const int tok = idx / kChunks, c = idx % kChunks;
      const int dst = tok * D + (c ^ chunk_swizzle(tok)) * 8;
      const std::int64_t off = base + (tok < valid ? tok * D + c * 8 : 0);
      detail::cp_async_16(ks + dst, src.k + off, tok < valid ? 16 : 0);
      detail::cp_async_16(ks + kTile * D + dst, src.v + off, tok < valid ? 16 : 0);
    }
  };
#pragma unroll
  for (int k = 0; k < kStages - 1; ++k) {
    if (k < count) issue(k);
    detail::cp_async_commit();
  }

  std::uint32_t qa[D / 16][4];
  int cur_row = count > 0 ? row_at(0) : fixed_row;
  load_q_fragments<D>(qa, q, cur_row / kv_heads, cur_row % kv_heads, n_heads, group, lane);
  float o[D / 8][4] = {};
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};  // rows g and g + 8; l per lane
  const int swz = chunk_swizzle(g);  // token 16w + 8j + g: t % 8 == g
  // Writes cur_row's partial: index split (per-row grid) or this CTA's rank
  // among the row's CTAs (flat grid).
  auto flush = [&]() {
    const int part = flat.ctas ? split - flat.first_cta(cur_row) : split;
    write_split_partial<D>(o, m, l, scratch, cur_row / kv_heads, cur_row % kv_heads, group, n_heads, n_splits, part,
                           part_o, part_ml);
  };

  for (int k = 0; k < count; ++k) {
    detail::cp_async_wait_group<kStages - 2>();
    __syncthreads();  // tile k visible to all; stage (k - 1) % kStages free
    if (k + kStages - 1 < count) issue(k + kStages - 1);
    detail::cp_async_commit();

    const int row = row_at(k), t = tile_at(k), b = row / kv_heads;
    if (row != cur_row) {  // flat grid only: next row
      flush();
      __syncthreads();  // scratch free again before the next flush
      cur_row = row;
      load_q_fragments<D>(qa, q, b, row % kv_heads, n_heads, group, lane);
#pragma unroll
      for (int n = 0; n < D / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
      m[0] = m[1] = -INFINITY, l[0] = l[1] = 0.f;
    }
    const int slot = slot_at(k, row, t);
    if (flat.ctas && t >= src.tiles(row, b)) continue;
    int valid = 0;
    src.tile(row, b, t, slot, D, &valid);
    const bf16* ks = stages + (k % kStages) * kStageElems + warp * 16 * D;
    const bf16* vs = ks + kTile * D;

    float s[2][4];
#pragma unroll
    for (int j = 0; j < 2; ++j) {
      s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
      const bf16* krow = ks + (8 * j + g) * D;
#pragma unroll
      for (int p = 0; p < D / 32; ++p) {
        const uint4 kw = *reinterpret_cast<const uint4*>(krow + ((4 * p + qd) ^ swz) * 8);
        detail::mma_bf16_16816(s[j], qa[2 * p], kw.x, kw.y);
        detail::mma_bf16_16816(s[j], qa[2 * p + 1], kw.z, kw.w);
      }
    }
    // Online softmax (log2 domain). Each quad of lanes shares rows g, g + 8.
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int j = 0; j < 2; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int tok = 16 * warp + 8 * j + 2 * qd + (e & 1);
        s[j][e] = tok < valid ? s[j][e] * scale_log2 : -INFINITY;
        mx[e >> 1] = fmaxf(mx[e >> 1], s[j][e]);
      }
    float alpha[2], ref[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 1));
      mx[r] = fmaxf(mx[r], __shfl_xor_sync(0xffffffffu, mx[r], 2));
      const float m_new = fmaxf(m[r], mx[r]);
      ref[r] = m_new == -INFINITY ? 0.f : m_new;
      alpha[r] = exp2f(m[r] - ref[r]);
      m[r] = m_new;
      l[r] *= alpha[r];
    }
#pragma unroll
    for (int j = 0; j < 2; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        s[j][e] = exp2f(s[j][e] - ref[e >> 1]);
        l[e >> 1] += s[j][e];
      }
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      o[n][0] *= alpha[0], o[n][1] *= alpha[0], o[n][2] *= alpha[1], o[n][3] *= alpha[1];
    }
    const std::uint32_t pa[4] = {detail::pack_bf16x2(s[0][0], s[0][1]), detail::pack_bf16x2(s[0][2], s[0][3]),
                                 detail::pack_bf16x2(s[1][0], s[1][1]), detail::pack_bf16x2(s[1][2], s[1][3])};
    const int vrow = (lane & 7) + ((lane >> 3) & 1) * 8;  // vrow % 8 == lane % 8
    const int vswz = chunk_swizzle(lane & 7);
#pragma unroll
    for (int jj = 0; jj < D / 16; ++jj) {
      std::uint32_t vb[4];
      detail::ldmatrix_x4_trans(vb, vs + vrow * D + ((2 * jj + (lane >> 4)) ^ vswz) * 8);
      detail::mma_bf16_16816(o[2 * jj], pa, vb[0], vb[1]);
      detail::mma_bf16_16816(o[2 * jj + 1], pa, vb[2], vb[3]);
    }
  }
  detail::cp_async_wait_all();  // only empty groups can be left; keeps the rule simple
  __syncthreads();              // per-row grid: the stages become the merge scratch
  if (count > 0 || !flat.ctas) flush();
}

}  // namespace foresight::kernels::decode_detail

// CUDA block-sparse prefill attention and the last-queries estimate (see
// foresight/kernels/sparse_prefill.hpp).
//
// Attention: one CTA of 4 warps per (head, 64 query rows) in variant 0 (16
// rows per warp), per (head, two adjacent query blocks) in variant 1 (32 rows
// per warp, each warp in one block). It walks the union of its blocks' tile
// lists (a merge: both are sorted); each tile is 64 keys, either a key block
// or a gathered chunk of columns, and a warp whose block does not list it
// skips it; K/V tiles are double-buffered in
// XOR-swizzled shared memory with cp.async (per-row addresses, so a gathered
// chunk costs the same as a block). S = Q K^T and O += P V on tensor cores
// (mma.sync m16n8k16 bf16, fp32 accumulate), online softmax in the exp2
// domain, as in prefill_attention.cu (whose PTX helpers are repeated here).
// Per element: causal (key position <= query position) always; a masked tile
// also applies the head's rule (triangular sink/band, or slash bit set and
// key not a column).
//
// Estimate: tensor cores, two passes (see the estimate section below).
#include <algorithm>
#include <cmath>

#include "../cpu/dense_validate.hpp"
#include "dense_cuda_util.cuh"
#include "prefill_mma.cuh"
#include "foresight/kernels/cuda_check.hpp"
#include "foresight/kernels/param_check.hpp"
#include "foresight/kernels/sparse_prefill.hpp"

namespace foresight::kernels {
namespace {

using namespace prefill_mma;  // NOLINT: the kernels' PTX vocabulary

constexpr int kThreads = 128;
constexpr int kRows = kSparsePrefillBlock;  // query rows per CTA
constexpr int kKeys = kSparsePrefillBlock;  // keys per tile

__device__ __forceinline__ bool test_bit(const std::uint64_t* bits, int x) {
  return (__ldg(bits + (x >> 6)) >> (x & 63)) & 1u;
}

constexpr int kNoKey = 0x7fffffff;  // key position of an empty row: never <= a query

// Issues the cp.async copies of one tile's K and V rows and writes the rows'
// key positions to kpos (plain stores; visible after the next __syncthreads).
// Head h's columns are read from the layout only for gathered tiles (kept
// out of the registers the main loop needs).
template <int D>
__device__ __forceinline__ void load_kv(std::uint32_t k_s, std::uint32_t v_s, int* kpos, std::int32_t entry,
                                        const bf16* k_g, const bf16* v_g, std::int64_t stride, int tokens,
                                        const SparsePrefillLayoutView& l, int h) {
  constexpr int kChunks = D / 8;
  const int idx = entry & kTileIndexMask;
  const bool gathered = (entry & kTileGathered) != 0;
  const std::int32_t* cols = nullptr;
  int n_cols = 0;
  if (gathered) {
    cols = l.columns + l.column_offsets[h];
    n_cols = static_cast<int>(l.column_offsets[h + 1] - l.column_offsets[h]);
  }
  for (int c = threadIdx.x; c < kKeys * kChunks; c += kThreads) {
    const int r = c / kChunks, ch = c % kChunks;
    int key;
    if (gathered) key = idx * kKeys + r < n_cols ? __ldg(cols + idx * kKeys + r) : kNoKey;
    else key = idx * kKeys + r < tokens ? idx * kKeys + r : kNoKey;
    const bool ok = key != kNoKey;
    const std::int64_t off = (ok ? key : 0) * stride + ch * 8;
    cp_async16(k_s + swz<D>(r, ch), k_g + off, ok ? 16 : 0);
    cp_async16(v_s + swz<D>(r, ch), v_g + off, ok ? 16 : 0);
    if (ch == 0) kpos[r] = key;
  }
}

constexpr std::int32_t kAbsent = -1;  // "this query block does not list the tile"

// Walks the union of the tile lists of a CTA's query blocks (one, or two
// adjacent ones), both sorted by (gathered, index): each step yields one
// K/V tile and, per block, its entry there (flags may differ) or kAbsent.
struct TileUnion {
  const std::int32_t* a;
  const std::int32_t* b;
  int na, nb, ia = 0, ib = 0;

  __device__ static std::uint32_t key(std::int32_t e) {
    return static_cast<std::uint32_t>(e & (kTileGathered | kTileIndexMask));
  }
  __device__ bool next(std::int32_t& ea, std::int32_t& eb) {
    const std::int32_t xa = ia < na ? __ldg(a + ia) : kAbsent;
    const std::int32_t xb = ib < nb ? __ldg(b + ib) : kAbsent;
    if (xa == kAbsent && xb == kAbsent) return false;
    const std::uint32_t ka = xa == kAbsent ? 0xffffffffu : key(xa);
    const std::uint32_t kb = xb == kAbsent ? 0xffffffffu : key(xb);
    const std::uint32_t k = ka < kb ? ka : kb;
    ea = ka == k ? xa : kAbsent;
    eb = kb == k ? xb : kAbsent;
    ia += ka == k;
    ib += kb == k;
    return true;
  }
};

// kMT: 16-row MMA tiles per warp; the CTA covers kMT adjacent query blocks
// of 64 rows (warps [0, 4 / kMT) the first). With kMT = 2 each K/V fragment
// read from shared memory feeds two MMAs (half the ldmatrix and L2 traffic
// per FLOP); a warp skips the tiles its own block does not list (a
// warp-uniform branch), so the result is that of kMT = 1.
template <int D, int kMT>
__global__ void __launch_bounds__(kThreads, 2)
    sparse_prefill_kernel(PrefillAttentionParams p, SparsePrefillLayoutView l, float scale_log2) {
  constexpr int kCtaRows = kRows * kMT;
  constexpr int kTile = kKeys * D * 2;  // bytes of one K or V tile
  constexpr bool kQInRegs = kMT == 1;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  const std::uint32_t smem = static_cast<std::uint32_t>(__cvta_generic_to_shared(smem_raw));
  const std::uint32_t q_s = smem;
  auto k_s = [smem](int b) { return smem + kCtaRows * D * 2 + b * kTile; };
  auto v_s = [smem](int b) { return smem + kCtaRows * D * 2 + (2 + b) * kTile; };
  int* kpos_all = reinterpret_cast<int*>(smem_raw + kCtaRows * D * 2 + 4 * kTile);  // [2][kKeys]

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int h = blockIdx.x;
  const int qb0 = static_cast<int>(gridDim.y - 1 - blockIdx.y) * kMT;  // heavy (late) blocks first
  const int tokens = static_cast<int>(p.chunk);
  const int m0 = qb0 * kRows;
  const int rows_valid = min(kCtaRows, tokens - m0);
  const int kvh = h / (p.n_heads / p.n_kv_heads);
  const bf16* k_g = p.k + std::int64_t{kvh} * D;
  const bf16* v_g = p.v + std::int64_t{kvh} * D;
  const std::int64_t cell = std::int64_t{h} * l.q_blocks + qb0;
  TileUnion lists{l.tiles + l.tile_offsets[cell], nullptr,
                  static_cast<int>(l.tile_offsets[cell + 1] - l.tile_offsets[cell]), 0};
  if (kMT == 2 && qb0 + 1 < l.q_blocks) {
    lists.b = l.tiles + l.tile_offsets[cell + 1];
    lists.nb = static_cast<int>(l.tile_offsets[cell + 2] - l.tile_offsets[cell + 1]);
  }

  {  // Q rows (zero-filled past the end)
    constexpr int kChunks = D / 8;
    const bf16* q_g = p.q + std::int64_t{m0} * p.q_token_stride + std::int64_t{h} * D;
    for (int c = threadIdx.x; c < kCtaRows * kChunks; c += kThreads) {
      const int r = c / kChunks, ch = c % kChunks;
      const bool ok = r < rows_valid;
      cp_async16(q_s + swz<D>(r, ch), q_g + (ok ? r * p.q_token_stride : 0) + ch * 8, ok ? 16 : 0);
    }
  }
  std::int32_t cur_a = kAbsent, cur_b = kAbsent;
  bool have = lists.next(cur_a, cur_b);
  if (have) {
    load_kv<D>(k_s(0), v_s(0), kpos_all, cur_a != kAbsent ? cur_a : cur_b, k_g, v_g, p.kv_token_stride, tokens, l,
               h);
  }
  cp_async_commit();

  std::uint32_t q_regs[kQInRegs ? D / 16 : 1][4];
  float o[kMT][D / 8][4];
  float row_max[kMT][2], row_sum[kMT][2];
#pragma unroll
  for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
    for (int n = 0; n < D / 8; ++n) o[mt][n][0] = o[mt][n][1] = o[mt][n][2] = o[mt][n][3] = 0.f;
    row_max[mt][0] = row_max[mt][1] = -INFINITY;
    row_sum[mt][0] = row_sum[mt][1] = 0.f;
  }
  const int g = lane / 4, c4 = lane % 4;
  const int warp_row0 = warp * 16 * kMT;  // m-tile mt covers rows warp_row0 + 16 mt + [0, 16)
  const bool in_b = warp_row0 >= kRows;   // this warp's rows belong to the CTA's second block
  const int block_m0 = m0 + (in_b ? kRows : 0);

  for (int t = 0; have; ++t) {
    const int buf = t & 1;
    std::int32_t next_a = kAbsent, next_b = kAbsent;
    const bool more = lists.next(next_a, next_b);
    if (more) {
      load_kv<D>(k_s(buf ^ 1), v_s(buf ^ 1), kpos_all + (buf ^ 1) * kKeys, next_a != kAbsent ? next_a : next_b,
                 k_g, v_g, p.kv_token_stride, tokens, l, h);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    if constexpr (kQInRegs) {
      if (t == 0) {
#pragma unroll
        for (int ks = 0; ks < D / 16; ++ks) {
          ldmatrix_x4(q_s + swz<D>(warp_row0 + (lane & 15), ks * 2 + (lane >> 4)), q_regs[ks]);
        }
      }
    }
    const std::int32_t entry = in_b ? cur_b : cur_a;
    if (entry != kAbsent) {  // warp-uniform
      float s[kMT][kKeys / 8][4];
      qk_tile<D, kMT, kKeys, kQInRegs>(s, q_regs, q_s, warp_row0, k_s(buf), lane);

      // Mask: causal everywhere, plus the head's rule on masked tiles. A key
      // block wholly before this warp's query block, unmasked, keeps every
      // element (the same for the whole warp: no divergence).
      const bool masked = (entry & kTileMasked) != 0;
      const bool interior =
          !masked && (entry & kTileGathered) == 0 && ((entry & kTileIndexMask) + 1) * kKeys <= block_m0;
      const int* kpos = kpos_all + buf * kKeys;
#pragma unroll
      for (int mt = 0; mt < kMT; ++mt) {
        const int pos0 = m0 + warp_row0 + mt * 16 + g;  // this thread's rows: pos0 and pos0 + 8
        if (!interior) {
          const SparseHeadRule rule = l.rules[h];
          const std::uint64_t* slash_bits = l.slash_bits + std::int64_t{h} * l.words;
          const std::uint64_t* col_bits = l.column_bits + std::int64_t{h} * l.words;
#pragma unroll
          for (int n = 0; n < kKeys / 8; ++n) {
#pragma unroll
            for (int e = 0; e < 4; ++e) {
              const int key = kpos[n * 8 + 2 * c4 + (e & 1)];
              const int pos = pos0 + (e >> 1) * 8;
              bool keep = key <= pos;
              if (keep && masked) {
                if (rule.rule == SparseRule::triangular) {
                  keep = key < rule.sink_tokens || pos - key < rule.local_tokens;
                } else if (rule.rule == SparseRule::slash) {
                  keep = test_bit(slash_bits, pos - key) && !test_bit(col_bits, key);
                }
              }
              if (!keep) s[mt][n][e] = -INFINITY;
            }
          }
        }
        online_softmax<D, kKeys>(s[mt], o[mt], row_max[mt], row_sum[mt], scale_log2);
      }

      pv_tile<D, kMT, kKeys>(o, s, v_s(buf), lane);
    }
    __syncthreads();  // everyone is done with this buffer (and its kpos) before it is refilled
    cur_a = next_a, cur_b = next_b, have = more;
  }

#pragma unroll
  for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float sum = row_sum[mt][r];
      sum += __shfl_xor_sync(0xffffffffu, sum, 1);
      sum += __shfl_xor_sync(0xffffffffu, sum, 2);
      const int row = warp_row0 + mt * 16 + g + r * 8;
      if (row >= rows_valid) continue;
      const float inv = 1.f / sum;
      bf16* out = p.o + std::int64_t{m0 + row} * p.o_token_stride + std::int64_t{h} * D;
#pragma unroll
      for (int n = 0; n < D / 8; ++n) {
        *reinterpret_cast<std::uint32_t*>(out + n * 8 + 2 * c4) =
            pack_bf16x2(o[mt][n][2 * r] * inv, o[mt][n][2 * r + 1] * inv);
      }
    }
  }
}

template <int D, int kMT>
void launch(const PrefillAttentionParams& p, const SparsePrefillLayoutView& l, cudaStream_t stream) {
  constexpr int kSmem = (kRows * kMT + 4 * kKeys) * D * 2 + 2 * kKeys * static_cast<int>(sizeof(int));
  FORESIGHT_CUDA_CHECK(
      cudaFuncSetAttribute(sparse_prefill_kernel<D, kMT>, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem));
  const dim3 grid(static_cast<unsigned>(p.n_heads), static_cast<unsigned>((l.q_blocks + kMT - 1) / kMT));
  sparse_prefill_kernel<D, kMT><<<grid, kThreads, kSmem, stream>>>(p, l, p.scale * 1.4426950408889634f);
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

// ---- estimate -------------------------------------------------------------
//
// Tensor cores, two passes over the keys, V never read. A CTA of 4 warps
// takes one head, 64 estimated rows (16 per warp, Q fragments in registers)
// and a split of kSparsePrefillEstimateTilesPerSplit key tiles (K
// double-buffered with cp.async as in the attention kernel). Pass 0 writes
// each row's (max, sum) over the split to the scratch; pass 1 merges a row's
// splits, recomputes the scores and adds the probabilities (divided by the
// row count) into the summaries: per key a column sum (one atomic per key
// and tile), per offset i - j a 127-bin shared histogram per tile, per key
// block two shared bins (64 consecutive rows span at most two query blocks).

constexpr int kEstRows = 64;
constexpr int kEstSmemExtra = (128 + 4 * kKeys + 2 + 2 * kEstRows) * 4;  // off bins, column sums, block bins, stats

template <int D>
__device__ __forceinline__ void load_k_tile(std::uint32_t k_s, const bf16* k_g, std::int64_t stride, int key0,
                                            int tokens) {
  constexpr int kChunks = D / 8;
  for (int c = threadIdx.x; c < kKeys * kChunks; c += kThreads) {
    const int r = c / kChunks, ch = c % kChunks;
    const bool ok = key0 + r < tokens;
    cp_async16(k_s + swz<D>(r, ch), k_g + std::int64_t{ok ? key0 + r : 0} * stride + ch * 8, ok ? 16 : 0);
  }
}

// kPass 0: partial (max, sum) per (head, row, split) into scratch, log2 domain;
// kPass 1: the summaries (zeroed by the caller).
template <int D, int kPass>
__global__ void __launch_bounds__(kThreads)
    estimate_kernel(PrefillAttentionParams p, int n_last, float* key_mass, float* off_mass, float* blk_mass,
                    float* scratch, float scale_log2) {
  extern __shared__ __align__(128) unsigned char smem_raw[];
  const std::uint32_t smem = static_cast<std::uint32_t>(__cvta_generic_to_shared(smem_raw));
  constexpr int kTile = kKeys * D * 2;
  const std::uint32_t q_s = smem;
  auto k_s = [smem](int b) { return smem + kEstRows * D * 2 + b * kTile; };
  float* off_sh = reinterpret_cast<float*>(smem_raw + kEstRows * D * 2 + 2 * kTile);  // [128]
  float* col_sh = off_sh + 128;                                                       // [4 warps][64]
  float* blk_sh = col_sh + 4 * kKeys;                                                 // [2]
  float* m_sh = blk_sh + 2;                                                           // [64]
  float* inv_sh = m_sh + kEstRows;                                                    // [64]

  const int h = blockIdx.x, chunk = blockIdx.y, split = blockIdx.z;
  const int splits = gridDim.z, chunks = gridDim.y;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane / 4, c4 = lane % 4;
  const int tokens = static_cast<int>(p.chunk);
  const int row0 = chunk * kEstRows;                 // first estimated row of the CTA
  const int pos_first = tokens - n_last + row0;      // its position
  const int rows_valid = min(kEstRows, n_last - row0);
  const int kvh = h / (p.n_heads / p.n_kv_heads);
  const bf16* k_g = p.k + std::int64_t{kvh} * D;
  const int tile0 = split * kSparsePrefillEstimateTilesPerSplit;
  const int last_key = pos_first + rows_valid - 1;  // no row sees keys beyond it
  const int tile_end = min(tile0 + kSparsePrefillEstimateTilesPerSplit, last_key / kKeys + 1);
  float* stats = scratch + ((std::int64_t{h} * chunks + chunk) * splits) * kEstRows * 2;  // [splits][64][2]

  {  // Q rows (zero past n_last)
    constexpr int kChunks = D / 8;
    const bf16* q_g = p.q + std::int64_t{pos_first} * p.q_token_stride + std::int64_t{h} * D;
    for (int c = threadIdx.x; c < kEstRows * kChunks; c += kThreads) {
      const int r = c / kChunks, ch = c % kChunks;
      const bool ok = r < rows_valid;
      cp_async16(q_s + swz<D>(r, ch), q_g + (ok ? r * p.q_token_stride : 0) + ch * 8, ok ? 16 : 0);
    }
  }
  if (tile0 < tile_end) load_k_tile<D>(k_s(0), k_g, p.kv_token_stride, tile0 * kKeys, tokens);
  cp_async_commit();
  if (kPass == 1) {  // merge this CTA's rows over all splits
    for (int r = threadIdx.x; r < kEstRows; r += kThreads) {
      float m = -INFINITY, l = 0.f;
      for (int sp = 0; sp < splits; ++sp) {
        const float m2 = stats[(sp * kEstRows + r) * 2], l2 = stats[(sp * kEstRows + r) * 2 + 1];
        const float nm = fmaxf(m, m2);
        if (nm == -INFINITY) continue;
        l = l * fast_exp2(m - nm) + l2 * fast_exp2(m2 - nm);
        m = nm;
      }
      const bool ok = r < rows_valid && l > 0.f;
      m_sh[r] = ok ? m : 0.f;
      inv_sh[r] = ok ? 1.f / (l * static_cast<float>(n_last)) : 0.f;
    }
    for (int i = threadIdx.x; i < 128; i += kThreads) off_sh[i] = 0.f;
    if (threadIdx.x < 2) blk_sh[threadIdx.x] = 0.f;
  }

  const int r_lo = warp * 16 + g, r_hi = r_lo + 8;  // this thread's rows in the CTA
  float row_m[2] = {-INFINITY, -INFINITY}, row_l[2] = {0.f, 0.f};
  std::uint32_t q_regs[D / 16][4];
  for (int t = tile0; t < tile_end; ++t) {
    const int buf = (t - tile0) & 1;
    if (t + 1 < tile_end) {
      load_k_tile<D>(k_s(buf ^ 1), k_g, p.kv_token_stride, (t + 1) * kKeys, tokens);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    if (t == tile0) {
#pragma unroll
      for (int ks = 0; ks < D / 16; ++ks) {
        ldmatrix_x4(q_s + swz<D>(warp * 16 + (lane & 15), ks * 2 + (lane >> 4)), q_regs[ks]);
      }
    }
    float s_tiles[1][kKeys / 8][4];
    qk_tile<D, 1, kKeys, true>(s_tiles, q_regs, q_s, warp * 16, k_s(buf), lane);
    auto& s = s_tiles[0];
    // Causal mask (and rows past n_last), scores to the log2 domain.
    const int key0 = t * kKeys;
#pragma unroll
    for (int n = 0; n < kKeys / 8; ++n) {
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int r = (e >> 1) ? r_hi : r_lo;
        const int key = key0 + n * 8 + 2 * c4 + (e & 1);
        s[n][e] = r < rows_valid && key <= pos_first + r ? s[n][e] * scale_log2 : -INFINITY;
      }
    }
    if (kPass == 0) {
#pragma unroll
      for (int hf = 0; hf < 2; ++hf) {
        float mx = -INFINITY;
#pragma unroll
        for (int n = 0; n < kKeys / 8; ++n) mx = fmaxf(mx, fmaxf(s[n][2 * hf], s[n][2 * hf + 1]));
        const float nm = fmaxf(row_m[hf], mx);
        if (nm == -INFINITY) continue;
        float sum = row_l[hf] * fast_exp2(row_m[hf] - nm);
#pragma unroll
        for (int n = 0; n < kKeys / 8; ++n) sum += fast_exp2(s[n][2 * hf] - nm) + fast_exp2(s[n][2 * hf + 1] - nm);
        row_m[hf] = nm, row_l[hf] = sum;
      }
    } else {
      const float m_lo = m_sh[r_lo], m_hi = m_sh[r_hi], inv_lo = inv_sh[r_lo], inv_hi = inv_sh[r_hi];
      float rs_lo = 0.f, rs_hi = 0.f;
#pragma unroll
      for (int n = 0; n < kKeys / 8; ++n) {
        float col[2];
#pragma unroll
        for (int e = 0; e < 2; ++e) {
          const float lo = fast_exp2(s[n][e] - m_lo) * inv_lo, hi = fast_exp2(s[n][2 + e] - m_hi) * inv_hi;
          rs_lo += lo, rs_hi += hi;
          col[e] = lo + hi;
          const int c = n * 8 + 2 * c4 + e;  // key key0 + c; offset bin r - c + 63
          if (lo != 0.f) atomicAdd(off_sh + r_lo - c + 63, lo);
          if (hi != 0.f) atomicAdd(off_sh + r_hi - c + 63, hi);
        }
#pragma unroll
        for (int e = 0; e < 2; ++e) {  // column sums over the warp's 16 rows (lanes of equal c4)
          col[e] += __shfl_xor_sync(0xffffffffu, col[e], 4);
          col[e] += __shfl_xor_sync(0xffffffffu, col[e], 8);
          col[e] += __shfl_xor_sync(0xffffffffu, col[e], 16);
          if (g == 0) col_sh[warp * kKeys + n * 8 + 2 * c4 + e] = col[e];
        }
      }
      rs_lo += __shfl_xor_sync(0xffffffffu, rs_lo, 1);
      rs_lo += __shfl_xor_sync(0xffffffffu, rs_lo, 2);
      rs_hi += __shfl_xor_sync(0xffffffffu, rs_hi, 1);
      rs_hi += __shfl_xor_sync(0xffffffffu, rs_hi, 2);
      const int qb_first = pos_first / kKeys;
      if (c4 == 0) {
        if (rs_lo != 0.f) atomicAdd(blk_sh + (pos_first + r_lo) / kKeys - qb_first, rs_lo);
        if (rs_hi != 0.f) atomicAdd(blk_sh + (pos_first + r_hi) / kKeys - qb_first, rs_hi);
      }
      __syncthreads();  // histograms complete
      float* key_h = key_mass + std::int64_t{h} * tokens;
      if (threadIdx.x < kKeys) {
        const float v = col_sh[threadIdx.x] + col_sh[kKeys + threadIdx.x] + col_sh[2 * kKeys + threadIdx.x] +
                        col_sh[3 * kKeys + threadIdx.x];
        if (v != 0.f) atomicAdd(key_h + key0 + threadIdx.x, v);
      }
      if (threadIdx.x < 127) {
        const float v = off_sh[threadIdx.x];
        const int o = pos_first - key0 + threadIdx.x - 63;  // offset of bin threadIdx.x
        if (v != 0.f) atomicAdd(off_mass + std::int64_t{h} * tokens + o, v);
        off_sh[threadIdx.x] = 0.f;
      }
      if (threadIdx.x < 2) {
        const float v = blk_sh[threadIdx.x];
        const int q_blocks = (tokens + kKeys - 1) / kKeys;
        if (v != 0.f) atomicAdd(blk_mass + std::int64_t{h} * q_blocks + qb_first + threadIdx.x - t, v);
        blk_sh[threadIdx.x] = 0.f;
      }
    }
    __syncthreads();  // K buffer (and the bins) free for the next tile
  }
  cp_async_wait<0>();  // a split past the CTA's last row has no tiles: its Q copy is still in flight
  if (kPass == 0) {  // a quad's four lanes hold disjoint columns of the same rows: merge, then store
#pragma unroll
    for (int hf = 0; hf < 2; ++hf) {
#pragma unroll
      for (int x = 1; x <= 2; x <<= 1) {
        const float m2 = __shfl_xor_sync(0xffffffffu, row_m[hf], x), l2 = __shfl_xor_sync(0xffffffffu, row_l[hf], x);
        const float nm = fmaxf(row_m[hf], m2);
        if (nm != -INFINITY) {
          row_l[hf] = row_l[hf] * fast_exp2(row_m[hf] - nm) + l2 * fast_exp2(m2 - nm);
          row_m[hf] = nm;
        }
      }
      if (c4 == 0) {
        const int r = hf ? r_hi : r_lo;
        stats[(split * kEstRows + r) * 2] = row_m[hf];
        stats[(split * kEstRows + r) * 2 + 1] = row_l[hf];
      }
    }
  }
}

template <int D>
void launch_estimate(const PrefillAttentionParams& p, int n_last, float* key_mass, float* off_mass, float* blk_mass,
                     float* scratch, cudaStream_t stream) {
  constexpr int kSmem = (kEstRows + 2 * kKeys) * D * 2 + kEstSmemExtra;
  const dim3 grid(static_cast<unsigned>(p.n_heads), static_cast<unsigned>((n_last + kEstRows - 1) / kEstRows),
                  static_cast<unsigned>(sparse_prefill_estimate_splits(p.chunk)));
  const float scale_log2 = p.scale * 1.4426950408889634f;
  FORESIGHT_CUDA_CHECK(
      cudaFuncSetAttribute(estimate_kernel<D, 0>, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem));
  FORESIGHT_CUDA_CHECK(
      cudaFuncSetAttribute(estimate_kernel<D, 1>, cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem));
  estimate_kernel<D, 0><<<grid, kThreads, kSmem, stream>>>(p, n_last, key_mass, off_mass, blk_mass, scratch,
                                                           scale_log2);
  FORESIGHT_CUDA_CHECK_LAUNCH();
  estimate_kernel<D, 1><<<grid, kThreads, kSmem, stream>>>(p, n_last, key_mass, off_mass, blk_mass, scratch,
                                                           scale_log2);
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

PrefillAttentionParams validated_cuda(PrefillAttentionParams a, const char* op, bool writes_o) {
  if (!writes_o && !a.o) a.o = const_cast<bf16*>(a.q);  // the estimate writes no output
  const PrefillAttentionParams p = detail::validated(a);
  require_param(p.start == 0, op, "attn.start", "must be 0 (whole-prompt prefill)");
  require_param(p.chunk < (std::int64_t{1} << 30), op, "attn.chunk", "must be < 2^30");
  require_param(p.head_dim == 64 || p.head_dim == 128, op, "attn.head_dim", "must be 64 or 128 on CUDA");
  require_param(p.q_token_stride % 8 == 0 && p.kv_token_stride % 8 == 0 && p.o_token_stride % 8 == 0, op,
                "attn token strides", "must be multiples of 8 elements on CUDA");
  require_param(cuda_detail::aligned16(p.q) && cuda_detail::aligned16(p.k) && cuda_detail::aligned16(p.v) &&
                    cuda_detail::aligned16(p.o),
                op, "attn.q/k/v/o", "must be 16-byte aligned on CUDA");
  return p;
}

}  // namespace

void sparse_prefill_cuda(const SparsePrefillParams& params, cudaStream_t stream) {
  sparse_prefill_cuda_variant(params, kSparsePrefillDefaultVariant, stream);
}

void sparse_prefill_cuda_variant(const SparsePrefillParams& params, int variant, cudaStream_t stream) {
  const char* op = "sparse_prefill";
  require_param(variant >= 0 && variant < kSparsePrefillVariants, op, "variant", "must be 0 (64 rows) or 1 (128 rows)");
  const PrefillAttentionParams p = validated_cuda(params.attn, op, true);
  const SparsePrefillLayoutView& l = params.layout;
  require_param(l.q_blocks == (p.chunk + kSparsePrefillBlock - 1) / kSparsePrefillBlock, op, "layout.q_blocks",
                "must be ceil(attn.chunk / 64)");
  require_param(l.q_blocks <= 65535, op, "layout.q_blocks", "must be <= 65535 on CUDA (one grid dimension)");
  if (p.chunk == 0) return;
  require_param(l.tile_offsets && l.tiles && l.rules && l.column_offsets && l.column_bits && l.slash_bits, op,
                "layout", "pointers must be set");
  if (p.head_dim == 128) {
    if (variant == 0) launch<128, 1>(p, l, stream);
    else launch<128, 2>(p, l, stream);
  } else {
    if (variant == 0) launch<64, 1>(p, l, stream);
    else launch<64, 2>(p, l, stream);
  }
}

void estimate_sparse_prefill_cuda(const PrefillAttentionParams& attn, int n_last, float* key_mass, float* offset_mass,
                                  float* block_offset_mass, float* scratch, cudaStream_t stream) {
  const char* op = "sparse_prefill_estimate";
  const PrefillAttentionParams p = validated_cuda(attn, op, false);
  require_param(n_last >= 1, op, "n_last", "must be >= 1");
  require_param(n_last <= 65535, op, "n_last", "must be <= 65535 on CUDA");
  require_param(sparse_prefill_estimate_splits(p.chunk) <= 65535, op, "attn.chunk",
                "must be <= 65535 key splits (about 67M tokens) on CUDA");
  if (p.chunk == 0) return;
  require_param(key_mass && offset_mass && block_offset_mass && scratch, op, "outputs", "must be set");
  const int rows = static_cast<int>(std::min<std::int64_t>(n_last, p.chunk));
  const std::int64_t q_blocks = (p.chunk + kSparsePrefillBlock - 1) / kSparsePrefillBlock;
  FORESIGHT_CUDA_CHECK(cudaMemsetAsync(key_mass, 0, sizeof(float) * p.n_heads * p.chunk, stream));
  FORESIGHT_CUDA_CHECK(cudaMemsetAsync(offset_mass, 0, sizeof(float) * p.n_heads * p.chunk, stream));
  FORESIGHT_CUDA_CHECK(cudaMemsetAsync(block_offset_mass, 0, sizeof(float) * p.n_heads * q_blocks, stream));
  if (p.head_dim == 128) launch_estimate<128>(p, rows, key_mass, offset_mass, block_offset_mass, scratch, stream);
  else launch_estimate<64>(p, rows, key_mass, offset_mass, block_offset_mass, scratch, stream);
}

// ---- device layout --------------------------------------------------------

SparsePrefillDeviceLayout::~SparsePrefillDeviceLayout() { release(); }

void SparsePrefillDeviceLayout::release() {
  if (mem_) cudaFree(mem_);
  mem_ = nullptr;
  view_ = {};
}

void SparsePrefillDeviceLayout::upload(const SparsePrefillLayout& l) {
  release();
  // One allocation, each array 256-byte aligned.
  auto pad = [](std::size_t b) { return (b + 255) / 256 * 256; };
  const std::size_t sizes[7] = {l.tile_offsets.size() * 8, l.tiles.size() * 4, l.rules.size() * sizeof(SparseHeadRule),
                                l.column_offsets.size() * 8, l.columns.size() * 4, l.column_bits.size() * 8,
                                l.slash_bits.size() * 8};
  const void* src[7] = {l.tile_offsets.data(), l.tiles.data(), l.rules.data(), l.column_offsets.data(),
                        l.columns.data(), l.column_bits.data(), l.slash_bits.data()};
  std::size_t total = 0, at[7];
  for (int i = 0; i < 7; ++i) at[i] = total, total += pad(sizes[i] > 0 ? sizes[i] : 1);
  FORESIGHT_CUDA_CHECK(cudaMalloc(&mem_, total));
  auto* base = static_cast<unsigned char*>(mem_);
  for (int i = 0; i < 7; ++i) {
    if (sizes[i]) FORESIGHT_CUDA_CHECK(cudaMemcpy(base + at[i], src[i], sizes[i], cudaMemcpyHostToDevice));
  }
  view_.q_blocks = l.q_blocks;
  view_.words = l.words;
  view_.tile_offsets = reinterpret_cast<const std::int64_t*>(base + at[0]);
  view_.tiles = reinterpret_cast<const std::int32_t*>(base + at[1]);
  view_.rules = reinterpret_cast<const SparseHeadRule*>(base + at[2]);
  view_.column_offsets = reinterpret_cast<const std::int64_t*>(base + at[3]);
  view_.columns = reinterpret_cast<const std::int32_t*>(base + at[4]);
  view_.column_bits = reinterpret_cast<const std::uint64_t*>(base + at[5]);
  view_.slash_bits = reinterpret_cast<const std::uint64_t*>(base + at[6]);
}

}  // namespace foresight::kernels

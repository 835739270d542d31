// CUDA split-KV decode attention (see decode_attention.hpp) on tensor cores.
// CTA = (split, kv_head, batch), 4 warps. The 16 rows of the mma tile are the
// group's query heads (rows >= group are zero), so the group's K and V are
// read once for all its heads. Each warp takes whole 64-token tiles of the
// split: S = Q K^T with K loaded straight from global memory in 16-byte
// vectors (the head_dim order inside each 32-dim chunk is permuted the same
// way for Q and K, which leaves the dot products unchanged), online softmax
// in registers, V staged in shared memory by cp.async and fed to O += P V
// through ldmatrix.trans. The 4 warps merge in shared memory and the CTA
// writes (max, sum, unnormalised output) for its split; a combine kernel
// merges the splits.
#include "foresight/kernels/decode_attention.hpp"

#include <cmath>

#include "foresight/kernels/cuda_check.hpp"
#include "sparse_mma.cuh"



namespace foresight::kernels {
namespace {

constexpr int kWarps = 4;
constexpr int kTile = 64;   // tokens per tile (= block_tokens for the sparse form)
constexpr int kRows = 16;   // query heads per mma tile (max group size)
// Register cap of the split kernel: 232 keeps 2 CTAs per SM (ptxas picks 177
// without a cap, 232 with it: more K loads in flight). A 168 cap for 3 CTAs
// per SM (12 splits at batch 16) measured slower on the H100 (62 vs 55 us).
constexpr int kMaxRegs = 232;

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

template <int D>
constexpr int smem_bytes() {
  return kWarps * kTile * (D + 8) * 2;  // V tiles, rows padded by 16 bytes (conflict-free ldmatrix)
}

template <int D>
__global__ void __maxnreg__(kMaxRegs) decode_split_kernel(TileSource src, const bf16* __restrict__ q,
                                                                   int n_heads, int kv_heads, float scale_log2,
                                                                   int n_splits, float* part_o, float* part_ml) {
  static_assert(D % 32 == 0);
  extern __shared__ __align__(16) unsigned char smem_raw[];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, qd = lane & 3;
  const int b = blockIdx.z, kvh = blockIdx.y, split = blockIdx.x;
  const int row = b * kv_heads + kvh, group = n_heads / kv_heads;
  // Tiles are dealt round-robin over the n_splits * kWarps warps of the row,
  // so no warp holds more than one tile above the average.
  const int nt = src.tiles(row, b), first = split * kWarps + warp, stride = n_splits * kWarps;
  // Lane i prefetches the slot of this warp's i-th tile.
  // Bounded by the list's stride, not its length, so this load need not wait
  // for list_len.
  const int lane_tile = first + lane * stride;
  const int lane_slot = src.dense || lane_tile < src.list_stride ? src.slot_of(row, lane_tile) : 0;

  // Q as A fragments, head_dim permuted per 32-dim chunk (see file comment).
  std::uint32_t qa[D / 16][4];
  const bf16* qrow = q + (std::int64_t{b} * n_heads + kvh * group) * D;
#pragma unroll
  for (int p = 0; p < D / 32; ++p) {
    const uint4 zero = make_uint4(0, 0, 0, 0);
    const uint4 lo = g < group ? *reinterpret_cast<const uint4*>(qrow + g * D + 32 * p + 8 * qd) : zero;
    const uint4 hi = g + 8 < group ? *reinterpret_cast<const uint4*>(qrow + (g + 8) * D + 32 * p + 8 * qd) : zero;
    qa[2 * p][0] = lo.x, qa[2 * p][1] = hi.x, qa[2 * p][2] = lo.y, qa[2 * p][3] = hi.y;
    qa[2 * p + 1][0] = lo.z, qa[2 * p + 1][1] = hi.z, qa[2 * p + 1][2] = lo.w, qa[2 * p + 1][3] = hi.w;
  }

  float o[D / 8][4] = {};
  float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};  // rows g and g + 8; l per lane
  bf16* vs = reinterpret_cast<bf16*>(smem_raw) + warp * kTile * (D + 8);

  for (int t = first, k = 0; t < nt; t += stride, ++k) {
    int valid = 0;
    const int slot_k = __shfl_sync(0xffffffffu, lane_slot, k & 31);
    const int slot = k < 32 ? slot_k : src.slot_of(row, t);
    const std::int64_t base = src.tile(row, b, t, slot, D, &valid);
    const bf16* kp = src.k + base;
    const bf16* vp = src.v + base;
    for (int idx = lane; idx < kTile * D / 8; idx += 32) {
      const int tok = idx / (D / 8), c = idx % (D / 8);
      detail::cp_async_16(vs + tok * (D + 8) + c * 8, tok < valid ? vp + tok * D + c * 8 : vp, tok < valid ? 16 : 0);
    }
    detail::cp_async_commit();

    float s[kTile / 8][4];
#pragma unroll
    for (int j = 0; j < kTile / 8; ++j) {
      s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.f;
      const int tok = 8 * j + g;
#pragma unroll
      for (int p = 0; p < D / 32; ++p) {
        const uint4 kw = tok < valid ? __ldg(reinterpret_cast<const uint4*>(kp + tok * D + 32 * p + 8 * qd))
                                     : make_uint4(0, 0, 0, 0);
        detail::mma_bf16_16816(s[j], qa[2 * p], kw.x, kw.y);
        detail::mma_bf16_16816(s[j], qa[2 * p + 1], kw.z, kw.w);
      }
    }
    // Online softmax (log2 domain). Each quad of lanes shares rows g, g + 8.
    float mx[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int j = 0; j < kTile / 8; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int tok = 8 * j + 2 * qd + (e & 1);
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
    for (int j = 0; j < kTile / 8; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        s[j][e] = exp2f(s[j][e] - ref[e >> 1]);
        l[e >> 1] += s[j][e];
      }
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      o[n][0] *= alpha[0], o[n][1] *= alpha[0], o[n][2] *= alpha[1], o[n][3] *= alpha[1];
    }
    detail::cp_async_wait_all();
    __syncwarp();
#pragma unroll
    for (int kk = 0; kk < kTile / 16; ++kk) {
      const std::uint32_t pa[4] = {detail::pack_bf16x2(s[2 * kk][0], s[2 * kk][1]),
                                   detail::pack_bf16x2(s[2 * kk][2], s[2 * kk][3]),
                                   detail::pack_bf16x2(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                                   detail::pack_bf16x2(s[2 * kk + 1][2], s[2 * kk + 1][3])};
      const int vrow = 16 * kk + (lane & 7) + ((lane >> 3) & 1) * 8;
#pragma unroll
      for (int jj = 0; jj < D / 16; ++jj) {
        std::uint32_t vb[4];
        detail::ldmatrix_x4_trans(vb, vs + vrow * (D + 8) + 16 * jj + (lane >> 4) * 8);
        detail::mma_bf16_16816(o[2 * jj], pa, vb[0], vb[1]);
        detail::mma_bf16_16816(o[2 * jj + 1], pa, vb[2], vb[3]);
      }
    }
    __syncwarp();  // the next tile's cp.async overwrites vs
  }

  // Merge the warps: shared [warp][16][D] outputs, then [warp][16] max and sum.
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
    l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
  }
  __syncthreads();
  float* so = reinterpret_cast<float*>(smem_raw);
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

// grid batch * n_heads, head_dim threads.
// Launched with programmatic dependent launch: it may start while the split
// kernel's last CTAs run and waits here until their writes are visible.
__global__ void decode_combine_kernel(const float* part_o, const float* part_ml, int n_splits, int head_dim, bf16* out) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaGridDependencySynchronize();
#endif
  const std::int64_t bh = blockIdx.x;
  const int d = threadIdx.x;
  float mm = -INFINITY;
  for (int s = 0; s < n_splits; ++s) mm = fmaxf(mm, part_ml[2 * (bh * n_splits + s)]);
  float acc = 0.f, sum = 0.f;
  if (mm > -INFINITY)
    for (int s = 0; s < n_splits; ++s) {
      const float f = exp2f(part_ml[2 * (bh * n_splits + s)] - mm);
      sum += f * part_ml[2 * (bh * n_splits + s) + 1];
      acc += f * part_o[(bh * n_splits + s) * head_dim + d];
    }
  out[bh * head_dim + d] = float_to_bf16(sum > 0.f ? acc / sum : 0.f);
}

template <int D>
void launch(const TileSource& src, const DecodeAttentionShape& s, const bf16* q, bf16* out, cudaStream_t stream) {
  constexpr int smem = smem_bytes<D>();
  static_assert(kWarps * kRows * (D + 2) * 4 <= smem, "merge scratch must fit in the V tiles");
  const float scale = s.softmax_scale != 0.f ? s.softmax_scale : 1.f / std::sqrt(static_cast<float>(D));
  float* part_o = static_cast<float*>(s.workspace);
  float* part_ml = part_o + static_cast<std::size_t>(s.batch) * s.n_heads * s.n_splits * D;
  dim3 grid(s.n_splits, s.kv_heads, s.batch);
  auto kernel = decode_split_kernel<D>;
  FORESIGHT_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  kernel<<<grid, kWarps * 32, smem, stream>>>(src, q, s.n_heads, s.kv_heads, scale * 1.4426950408889634f, s.n_splits,
                                              part_o, part_ml);
  FORESIGHT_CUDA_CHECK_LAUNCH();
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(static_cast<unsigned>(s.batch * s.n_heads));
  cfg.blockDim = dim3(D);
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  FORESIGHT_CUDA_CHECK(
      cudaLaunchKernelEx(&cfg, decode_combine_kernel, static_cast<const float*>(part_o),
                         static_cast<const float*>(part_ml), s.n_splits, static_cast<int>(D), out));
}

void dispatch(const TileSource& src, const DecodeAttentionShape& s, const bf16* q, bf16* out, cudaStream_t stream,
              const char* op) {
  require_param(s.n_heads / s.kv_heads <= kRows, op, "n_heads / kv_heads", "must be <= 16 on the GPU");
  require_param(s.workspace != nullptr, op, "workspace", "must be set on the GPU");
  if (s.head_dim == 128) return launch<128>(src, s, q, out, stream);
  if (s.head_dim == 64) return launch<64>(src, s, q, out, stream);
  require_param(false, op, "head_dim", "must be 64 or 128 on the GPU");
}

}  // namespace

void sparse_decode_attention_cuda(const SparseDecodeAttentionParams& p, cudaStream_t stream) {
  validate_sparse_decode(p);
  require_param(p.block_tokens == kTile, "sparse_decode_attention", "block_tokens", "must be 64 on the GPU");
  const TileSource src{p.slots_k, p.slots_v, p.slot_list, p.list_len, p.tail_tokens, nullptr, 0,
                       p.slots_per_row, p.list_stride, p.tail_slot, false};
  dispatch(src, p.shape, p.q, p.out, stream, "sparse_decode_attention");
}

void dense_decode_attention_cuda(const DenseDecodeAttentionParams& p, cudaStream_t stream) {
  validate_dense_decode(p);
  const TileSource src{p.k, p.v, nullptr, nullptr, nullptr, p.seq_len, p.max_tokens, 0, 0, -1, true};
  dispatch(src, p.shape, p.q, p.out, stream, "dense_decode_attention");
}

}  // namespace foresight::kernels

// CUDA split-KV decode attention (see decode_attention.hpp) on tensor cores.
// CTA = (split, kv_head, batch), 4 warps. The 16 rows of the mma tile are the
// group's query heads (rows >= group are zero), so the group's K and V are
// read once for all its heads. Two split kernels, same partial output:
// - pipelined (decode_attention_pipelined.cuh, the default): whole tiles
//   staged in shared memory by cp.async a few tiles ahead; the 4 warps share
//   each tile (16 tokens each); per-row grid, or optionally a flat grid;
// - per-warp (below): each warp takes whole 64-token tiles of the split,
//   S = Q K^T with K loaded straight from global memory in 16-byte vectors
//   (the head_dim order inside each 32-dim chunk is permuted the same way for
//   Q and K, which leaves the dot products unchanged), online softmax in
//   registers, V staged in shared memory by cp.async and fed to O += P V
//   through ldmatrix.trans.
// The 4 warps merge in shared memory and the CTA writes (max, sum,
// unnormalised output) for its split; a combine kernel merges the splits.
#include "foresight/kernels/decode_attention.hpp"
#include "foresight/kernels/switches.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "decode_attention_pipelined.cuh"
#include "decode_attention_tiles.cuh"
#include "foresight/kernels/cuda_check.hpp"

namespace foresight::kernels {
namespace {

using decode_detail::kRows;
using decode_detail::kTile;
using decode_detail::kWarps;
using decode_detail::TileSource;

// Register cap of the per-warp kernel: 232 keeps 2 CTAs per SM (ptxas picks 177
// without a cap, 232 with it: more K loads in flight). A 168 cap for 3 CTAs
// per SM (12 splits at batch 16) measured slower on the H100 (62 vs 55 us).
constexpr int kMaxRegs = 232;

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
  decode_detail::load_q_fragments<D>(qa, q, b, kvh, n_heads, group, lane);

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

  __syncthreads();  // the V tiles become the merge scratch
  decode_detail::write_split_partial<D>(o, m, l, smem_raw, b, kvh, group, n_heads, n_splits, split, part_o, part_ml);
}

// grid batch * n_heads, head_dim threads.
// Launched with programmatic dependent launch: it may start while the split
// kernel's last CTAs run and waits here until their writes are visible.
// Row (b, h / group)'s partials: n_splits, or (flat grid) as many as CTAs
// touched the row.
__global__ void decode_combine_kernel(const float* part_o, const float* part_ml, int n_splits, int head_dim, bf16* out,
                                      decode_detail::FlatGrid flat, int n_heads, int kv_heads) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaGridDependencySynchronize();
  // The next kernel, if launched with PDL (the fused O projection), may start
  // now: it streams its weights and waits for this grid before reading out.
  cudaTriggerProgrammaticLaunchCompletion();
#endif
  const std::int64_t bh = blockIdx.x;
  const int d = threadIdx.x;
  const int row = static_cast<int>(bh / n_heads) * kv_heads + static_cast<int>(bh % n_heads) / (n_heads / kv_heads);
  const int parts = flat.ctas ? flat.parts(row) : n_splits;
  float mm = -INFINITY;
  for (int s = 0; s < parts; ++s) mm = fmaxf(mm, part_ml[2 * (bh * n_splits + s)]);
  float acc = 0.f, sum = 0.f;
  if (mm > -INFINITY)
    for (int s = 0; s < parts; ++s) {
      const float f = exp2f(part_ml[2 * (bh * n_splits + s)] - mm);
      sum += f * part_ml[2 * (bh * n_splits + s) + 1];
      acc += f * part_o[(bh * n_splits + s) * head_dim + d];
    }
  out[bh * head_dim + d] = float_to_bf16(sum > 0.f ? acc / sum : 0.f);
}

// Which split kernel runs: the per-warp one (each warp whole tiles, K from
// global memory) or the CTA-pipelined one with 2, 3 or 6 shared-memory stages
// on the per-row grid, or pipe3 on the flat grid ("flat3": correct but
// measured slower on the H100, 51.6 vs 45.8 us at batch 16; kept for study).
enum class SplitKernel { kWarp, kPipe2, kPipe3, kPipe6, kFlat3 };

// Default: pipe3 for both forms (fastest measured, bench/RESULTS-kernels.md
// round 2); FORESIGHT_DECODE_KERNEL=warp|pipe2|pipe3|pipe6|flat3 overrides
// it (kernel_switch: the run's decode_attention option, or the environment
// for benchmarks and the GPU check, which compare the variants).
SplitKernel split_kernel_from_env() {
  const auto value = kernel_switch("FORESIGHT_DECODE_KERNEL");
  if (!value) return SplitKernel::kPipe3;
  const char* env = value->c_str();
  if (!std::strcmp(env, "warp")) return SplitKernel::kWarp;
  if (!std::strcmp(env, "pipe2")) return SplitKernel::kPipe2;
  if (!std::strcmp(env, "pipe3")) return SplitKernel::kPipe3;
  if (!std::strcmp(env, "pipe6")) return SplitKernel::kPipe6;
  if (!std::strcmp(env, "flat3")) return SplitKernel::kFlat3;
  require_param(false, "decode_attention", "FORESIGHT_DECODE_KERNEL", "must be warp, pipe2, pipe3, pipe6 or flat3");
  return SplitKernel::kPipe3;
}

int sm_count() {
  int device = 0, sms = 0;
  FORESIGHT_CUDA_CHECK(cudaGetDevice(&device));
  FORESIGHT_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  return sms;
}

// One CTA per SM over all rows' tiles, if no row then needs more than
// n_splits partials (the workspace holds n_splits per head); else ctas = 0.
decode_detail::FlatGrid flat_grid(const DecodeAttentionShape& s, int row_tiles) {
  decode_detail::FlatGrid f;
  const int rows = s.batch * s.kv_heads;
  f.row_tiles = row_tiles;
  f.total = std::int64_t{rows} * row_tiles;
  f.ctas = static_cast<int>(std::min<std::int64_t>(sm_count(), f.total));
  for (int r = 0; r < rows && f.ctas > 0; ++r)
    if (f.parts(r) > s.n_splits) f.ctas = 0;
  return f;
}

template <typename Kernel, typename... Args>
void launch_split(Kernel kernel, int smem, dim3 grid, cudaStream_t stream, Args... args) {
  FORESIGHT_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  kernel<<<grid, kWarps * 32, smem, stream>>>(args...);
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

template <int D>
void launch(const TileSource& src, const DecodeAttentionShape& s, int row_tiles, const bf16* q, bf16* out,
            cudaStream_t stream) {
  static_assert(kWarps * kRows * (D + 2) * 4 <= smem_bytes<D>(), "merge scratch must fit in the V tiles");
  const float scale = s.softmax_scale != 0.f ? s.softmax_scale : 1.f / std::sqrt(static_cast<float>(D));
  const float scale_log2 = scale * 1.4426950408889634f;
  float* part_o = static_cast<float*>(s.workspace);
  float* part_ml = part_o + static_cast<std::size_t>(s.batch) * s.n_heads * s.n_splits * D;
  using decode_detail::decode_pipelined_kernel;
  using decode_detail::pipelined_smem_bytes;
  const dim3 rows_grid(s.n_splits, s.kv_heads, s.batch);
  decode_detail::FlatGrid flat;  // ctas 0: per-row grid
  switch (split_kernel_from_env()) {
    case SplitKernel::kWarp:
      launch_split(decode_split_kernel<D>, smem_bytes<D>(), rows_grid, stream, src, q, s.n_heads, s.kv_heads,
                   scale_log2, s.n_splits, part_o, part_ml);
      break;
    case SplitKernel::kPipe2:
      launch_split(decode_pipelined_kernel<D, 2>, pipelined_smem_bytes<D, 2>(), rows_grid, stream, src, q, s.n_heads,
                   s.kv_heads, scale_log2, s.n_splits, flat, part_o, part_ml);
      break;
    case SplitKernel::kPipe3:
      launch_split(decode_pipelined_kernel<D, 3>, pipelined_smem_bytes<D, 3>(), rows_grid, stream, src, q, s.n_heads,
                   s.kv_heads, scale_log2, s.n_splits, flat, part_o, part_ml);
      break;
    case SplitKernel::kPipe6:
      launch_split(decode_pipelined_kernel<D, 6>, pipelined_smem_bytes<D, 6>(), rows_grid, stream, src, q, s.n_heads,
                   s.kv_heads, scale_log2, s.n_splits, flat, part_o, part_ml);
      break;
    case SplitKernel::kFlat3:
      flat = flat_grid(s, row_tiles);
      launch_split(decode_pipelined_kernel<D, 3>,
                   pipelined_smem_bytes<D, 3>() + (flat.ctas ? decode_detail::merge_scratch_bytes<D>() : 0),
                   flat.ctas ? dim3(flat.ctas) : rows_grid, stream, src, q, s.n_heads, s.kv_heads, scale_log2,
                   s.n_splits, flat, part_o, part_ml);
      break;
  }
  cudaLaunchConfig_t cfg = {};
  cfg.gridDim = dim3(static_cast<unsigned>(s.batch * s.n_heads));
  cfg.blockDim = dim3(D);
  cfg.stream = stream;
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  FORESIGHT_CUDA_CHECK(cudaLaunchKernelEx(&cfg, decode_combine_kernel, static_cast<const float*>(part_o),
                                          static_cast<const float*>(part_ml), s.n_splits, static_cast<int>(D), out,
                                          flat, s.n_heads, s.kv_heads));
}

// row_tiles: an upper bound of any row's tile count (for the flat grid).
void dispatch(const TileSource& src, const DecodeAttentionShape& s, int row_tiles, const bf16* q, bf16* out,
              cudaStream_t stream, const char* op) {
  require_param(s.n_heads / s.kv_heads <= kRows, op, "n_heads / kv_heads", "must be <= 16 on the GPU");
  require_param(s.workspace != nullptr, op, "workspace", "must be set on the GPU");
  if (s.head_dim == 128) return launch<128>(src, s, row_tiles, q, out, stream);
  if (s.head_dim == 64) return launch<64>(src, s, row_tiles, q, out, stream);
  require_param(false, op, "head_dim", "must be 64 or 128 on the GPU");
}

}  // namespace

void sparse_decode_attention_cuda(const SparseDecodeAttentionParams& p, cudaStream_t stream) {
  validate_sparse_decode(p);
  require_param(p.block_tokens == kTile, "sparse_decode_attention", "block_tokens", "must be 64 on the GPU");
  const TileSource src{p.slots_k, p.slots_v, p.slot_list, p.list_len, p.tail_tokens, nullptr, 0,
                       p.slots_per_row, p.list_stride, p.tail_slot, false};
  dispatch(src, p.shape, p.list_stride, p.q, p.out, stream, "sparse_decode_attention");
}

void dense_decode_attention_cuda(const DenseDecodeAttentionParams& p, cudaStream_t stream) {
  validate_dense_decode(p);
  const TileSource src{p.k, p.v, nullptr, nullptr, nullptr, p.seq_len, p.max_tokens, 0, 0, -1, true};
  require_param(p.max_tokens / kTile < (std::int64_t{1} << 30), "dense_decode_attention", "max_tokens", "too large");
  dispatch(src, p.shape, static_cast<int>((p.max_tokens + kTile - 1) / kTile), p.q, p.out, stream,
           "dense_decode_attention");
}

}  // namespace foresight::kernels

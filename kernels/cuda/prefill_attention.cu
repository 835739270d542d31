// CUDA causal prefill attention, flash-attention-2 style (see
// foresight/kernels/prefill_attention.hpp).
//
// One CTA of 4 warps computes 64 or 128 query rows of one head (16 or 32 per
// warp); heads vary fastest in the grid and the query blocks run from the
// last (most keys) to the first. Key/value tiles of 64 or 32 tokens are
// double-buffered in shared memory with cp.async; rows are stored
// XOR-swizzled (16-byte chunk ^ (row & 7)) so the ldmatrix reads are free of
// bank conflicts. S = Q K^T and O += P V run on tensor cores (mma.sync
// m16n8k16, bf16 in, fp32 accumulate); P goes from the S accumulators to A
// fragments without shared memory; the softmax is
// online, in the exp2 domain, in registers.
#include <cmath>

#include "../cpu/dense_validate.hpp"
#include "dense_cuda_util.cuh"
#include "prefill_mma.cuh"
#include "foresight/kernels/cuda_check.hpp"
#include "foresight/kernels/prefill_attention.hpp"

namespace foresight::kernels {
namespace {

using namespace prefill_mma;  // NOLINT: the kernels' PTX vocabulary

constexpr int kThreads = 128;
// Chosen by analysis, not yet by measurement: variant 1 (128 query rows x 64
// keys per CTA, as FlashAttention-2 picks for head_dim 128 on sm80/sm90); the
// benchmark times every variant.
constexpr int kDefaultVariant = 1;

__device__ __forceinline__ std::int64_t min64(std::int64_t a, std::int64_t b) { return a < b ? a : b; }


// Copies rows [0, kRows) of a tile (rows at or beyond `valid` are zero-filled).
template <int D, int kRows>
__device__ __forceinline__ void load_tile(std::uint32_t smem, const bf16* g, std::int64_t row_stride,
                                          int valid) {
  constexpr int kChunks = D / 8;
  for (int c = threadIdx.x; c < kRows * kChunks; c += kThreads) {
    const int r = c / kChunks, ch = c % kChunks;
    const bool ok = r < valid;
    cp_async16(smem + swz<D>(r, ch), g + (ok ? r * row_stride : 0) + ch * 8, ok ? 16 : 0);
  }
}

// kBlockN: keys per K/V tile.
// kMT: 16-row MMA tiles per warp (the CTA has 64 * kMT query rows). With
// kMT = 1 the Q fragments stay in registers; with kMT = 2 each K/V fragment
// read from shared memory feeds two MMAs (half the ldmatrix traffic per FLOP)
// and Q is re-read from shared memory instead.
template <int D, int kMT, int kBlockN>
__global__ void __launch_bounds__(kThreads, 2) prefill_attention_kernel(PrefillAttentionParams p, float scale_log2) {
  constexpr int kRows = 64 * kMT;         // query rows per CTA
  constexpr int kTile = kBlockN * D * 2;  // bytes of one K or V tile
  constexpr bool kQInRegs = kMT == 1;
  extern __shared__ __align__(128) unsigned char smem_raw[];
  const std::uint32_t smem = static_cast<std::uint32_t>(__cvta_generic_to_shared(smem_raw));
  const std::uint32_t q_s = smem;
  // Buffer b of K at k_s(b), of V at v_s(b) (computed, not indexed, to stay in registers).
  auto k_s = [smem](int b) { return smem + kRows * D * 2 + b * kTile; };
  auto v_s = [smem](int b) { return smem + kRows * D * 2 + (2 + b) * kTile; };

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int h = blockIdx.x;  // heads vary fastest: the heaviest query blocks of all heads go first
  const std::int64_t m_block = gridDim.y - 1 - blockIdx.y;
  const std::int64_t m0 = m_block * kRows;
  const int rows_valid = static_cast<int>(min64(kRows, p.chunk - m0));
  const int kvh = h / (p.n_heads / p.n_kv_heads);
  const bf16* q_g = p.q + m0 * p.q_token_stride + std::int64_t{h} * D;
  const bf16* k_g = p.k + std::int64_t{kvh} * D;
  const bf16* v_g = p.v + std::int64_t{kvh} * D;
  // Positions fit in int (checked by the launcher); 32-bit math keeps registers free.
  const int first_pos = static_cast<int>(p.start + m0);  // position of query row 0
  const int kv_end = first_pos + rows_valid;            // keys [0, kv_end) are needed
  const int n_tiles = static_cast<int>((kv_end + kBlockN - 1) / kBlockN);

  load_tile<D, kRows>(q_s, q_g, p.q_token_stride, rows_valid);
  load_tile<D, kBlockN>(k_s(0), k_g, p.kv_token_stride, static_cast<int>(min64(kBlockN, kv_end)));
  load_tile<D, kBlockN>(v_s(0), v_g, p.kv_token_stride, static_cast<int>(min64(kBlockN, kv_end)));
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
  const int g = lane / 4, c = lane % 4;
  const int warp_row0 = warp * 16 * kMT;  // m-tile mt covers rows warp_row0 + 16 mt + [0, 16)

  for (int t = 0; t < n_tiles; ++t) {
    const int buf = t & 1;
    if (t + 1 < n_tiles) {
      const std::int64_t next0 = std::int64_t{t + 1} * kBlockN;
      const int valid = static_cast<int>(min64(kBlockN, kv_end - next0));
      load_tile<D, kBlockN>(k_s(buf ^ 1), k_g + next0 * p.kv_token_stride, p.kv_token_stride, valid);
      load_tile<D, kBlockN>(v_s(buf ^ 1), v_g + next0 * p.kv_token_stride, p.kv_token_stride, valid);
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

    // S = Q K^T for this warp's kMT x 16 rows x kBlockN keys.
    float s[kMT][kBlockN / 8][4];
    qk_tile<D, kMT, kBlockN, kQInRegs>(s, q_regs, q_s, warp_row0, k_s(buf), lane);

    const int key0 = t * kBlockN;
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt) {
      // This thread's rows are at positions pos and pos + 8.
      const int pos = first_pos + warp_row0 + mt * 16 + g;
      if (key0 + kBlockN - 1 > first_pos + warp_row0 + mt * 16) {  // causal mask near the diagonal
#pragma unroll
        for (int n = 0; n < kBlockN / 8; ++n) {
#pragma unroll
          for (int e = 0; e < 4; ++e) {
            if (key0 + n * 8 + 2 * c + (e & 1) > pos + (e >> 1) * 8) s[mt][n][e] = -INFINITY;
          }
        }
      }
      online_softmax<D, kBlockN>(s[mt], o[mt], row_max[mt], row_sum[mt], scale_log2);
    }

    pv_tile<D, kMT, kBlockN>(o, s, v_s(buf), lane);
    __syncthreads();  // everyone is done with this buffer before it is refilled
  }

  // Normalise and store this thread's rows.
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
      bf16* out = p.o + (m0 + row) * p.o_token_stride + std::int64_t{h} * D;
#pragma unroll
      for (int n = 0; n < D / 8; ++n) {
        *reinterpret_cast<std::uint32_t*>(out + n * 8 + 2 * c) =
            pack_bf16x2(o[mt][n][2 * r] * inv, o[mt][n][2 * r + 1] * inv);
      }
    }
  }
}

template <int D, int kMT, int kBlockN>
void launch(const PrefillAttentionParams& p, cudaStream_t stream) {
  constexpr int kRows = 64 * kMT;
  const std::int64_t m_blocks = (p.chunk + kRows - 1) / kRows;
  detail::require(m_blocks <= 65535, "prefill_attention", "chunk too long for one launch (65535 query blocks)");
  constexpr int kSmem = (kRows + 4 * kBlockN) * D * 2;  // Q + 2 x (K, V)
  FORESIGHT_CUDA_CHECK(cudaFuncSetAttribute(prefill_attention_kernel<D, kMT, kBlockN>,
                                            cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem));
  const dim3 grid(static_cast<unsigned>(p.n_heads), static_cast<unsigned>(m_blocks));
  const float scale_log2 = p.scale * 1.4426950408889634f;
  prefill_attention_kernel<D, kMT, kBlockN><<<grid, kThreads, kSmem, stream>>>(p, scale_log2);
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

}  // namespace

void prefill_attention_cuda_variant(const PrefillAttentionParams& params, int variant, cudaStream_t stream) {
  const PrefillAttentionParams p = detail::validated(params);
  const char* op = "prefill_attention";
  detail::require(variant >= 0 && variant < kPrefillAttentionVariants, op, "variant must be 0, 1 or 2");
  if (p.chunk == 0) return;
  detail::require(p.head_dim == 64 || p.head_dim == 128, op, "CUDA kernel supports head_dim 64 and 128");
  detail::require(p.start + p.chunk < (std::int64_t{1} << 30), op, "CUDA kernel supports start + chunk < 2^30 tokens");
  detail::require(p.q_token_stride % 8 == 0 && p.kv_token_stride % 8 == 0 && p.o_token_stride % 8 == 0,
                  op, "CUDA kernel needs token strides that are multiples of 8 elements");
  detail::require(cuda_detail::aligned16(p.q) && cuda_detail::aligned16(p.k) && cuda_detail::aligned16(p.v) &&
                      cuda_detail::aligned16(p.o),
                  op, "CUDA kernel needs 16-byte aligned q, k, v and o");
  if (p.head_dim == 128) {
    if (variant == 0) launch<128, 1, 64>(p, stream);
    if (variant == 1) launch<128, 2, 64>(p, stream);
    if (variant == 2) launch<128, 2, 32>(p, stream);
  } else {
    if (variant == 0) launch<64, 1, 64>(p, stream);
    if (variant == 1) launch<64, 2, 64>(p, stream);
    if (variant == 2) launch<64, 2, 32>(p, stream);
  }
}

void prefill_attention_mma(const PrefillAttentionParams& p, cudaStream_t stream) {
  prefill_attention_cuda_variant(p, kDefaultVariant, stream);
}

}  // namespace foresight::kernels

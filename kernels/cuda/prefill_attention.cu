// CUDA causal prefill attention, flash-attention-2 style (see
// foresight/kernels/prefill_attention.hpp).
//
// One CTA of 4 warps computes 64 query rows of one head; each warp owns 16
// rows. Key/value tiles of 64 tokens are double-buffered in shared memory with
// cp.async; rows are stored XOR-swizzled (16-byte chunk ^ (row & 7)) so the
// ldmatrix reads are free of bank conflicts. S = Q K^T and O += P V run on
// tensor cores (mma.sync m16n8k16, bf16 in, fp32 accumulate); the softmax is
// online, in the exp2 domain, in registers.
#include <cmath>

#include "../cpu/dense_validate.hpp"
#include "dense_cuda_util.cuh"
#include "foresight/kernels/cuda_check.hpp"
#include "foresight/kernels/prefill_attention.hpp"

namespace foresight::kernels {
namespace {

constexpr int kBlockM = 64;  // query rows per CTA
constexpr int kBlockN = 64;  // keys per tile
constexpr int kThreads = 128;

__device__ __forceinline__ std::int64_t min64(std::int64_t a, std::int64_t b) { return a < b ? a : b; }

template <int D>
constexpr int smem_bytes() {
  return (kBlockM + 4 * kBlockN) * D * 2;  // Q + 2 x (K, V)
}

// Byte offset of (row, 16-byte chunk) in a swizzled [rows][D] bf16 tile.
template <int D>
__device__ __forceinline__ std::uint32_t swz(int row, int chunk) {
  return static_cast<std::uint32_t>((row * (D / 8) + (chunk ^ (row & 7))) * 16);
}

__device__ __forceinline__ void cp_async16(std::uint32_t dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

__device__ __forceinline__ void ldmatrix_x4(std::uint32_t addr, std::uint32_t (&r)[4]) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
__device__ __forceinline__ void ldmatrix_x4_trans(std::uint32_t addr, std::uint32_t (&r)[4]) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// d += a * b for one m16n8k16 tile.
__device__ __forceinline__ void mma_bf16(float (&d)[4], const std::uint32_t (&a)[4], std::uint32_t b0,
                                         std::uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ std::uint32_t pack_bf16x2(float lo, float hi) {
  __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<std::uint32_t*>(&v);
}

// Copies rows [0, 64) of a tile (rows beyond `valid` are zero-filled).
template <int D>
__device__ __forceinline__ void load_tile(std::uint32_t smem, const bf16* g, std::int64_t row_stride,
                                          int valid) {
  constexpr int kChunks = D / 8;
  for (int c = threadIdx.x; c < kBlockN * kChunks; c += kThreads) {
    const int r = c / kChunks, ch = c % kChunks;
    const bool ok = r < valid;
    cp_async16(smem + swz<D>(r, ch), g + (ok ? r * row_stride : 0) + ch * 8, ok ? 16 : 0);
  }
}

template <int D>
__global__ void __launch_bounds__(kThreads, 2) prefill_attention_kernel(PrefillAttentionParams p, float scale_log2) {
  extern __shared__ __align__(128) unsigned char smem_raw[];
  const std::uint32_t smem = static_cast<std::uint32_t>(__cvta_generic_to_shared(smem_raw));
  constexpr int kTile = kBlockN * D * 2;  // bytes of one K or V tile
  const std::uint32_t q_s = smem;
  const std::uint32_t k_s[2] = {smem + kBlockM * D * 2, smem + kBlockM * D * 2 + kTile};
  const std::uint32_t v_s[2] = {smem + kBlockM * D * 2 + 2 * kTile, smem + kBlockM * D * 2 + 3 * kTile};

  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int h = blockIdx.x;  // heads vary fastest: the heaviest query blocks of all heads go first
  const std::int64_t m_block = gridDim.y - 1 - blockIdx.y;
  const std::int64_t m0 = m_block * kBlockM;
  const int rows_valid = static_cast<int>(min64(kBlockM, p.chunk - m0));
  const int kvh = h / (p.n_heads / p.n_kv_heads);
  const bf16* q_g = p.q + m0 * p.q_token_stride + std::int64_t{h} * D;
  const bf16* k_g = p.k + std::int64_t{kvh} * D;
  const bf16* v_g = p.v + std::int64_t{kvh} * D;
  const std::int64_t first_pos = p.start + m0;  // position of query row 0
  const std::int64_t kv_end = first_pos + rows_valid;  // keys [0, kv_end) are needed
  const int n_tiles = static_cast<int>((kv_end + kBlockN - 1) / kBlockN);

  load_tile<D>(q_s, q_g, p.q_token_stride, rows_valid);
  load_tile<D>(k_s[0], k_g, p.kv_token_stride, static_cast<int>(min64(kBlockN, kv_end)));
  load_tile<D>(v_s[0], v_g, p.kv_token_stride, static_cast<int>(min64(kBlockN, kv_end)));
  cp_async_commit();

  std::uint32_t qa[D / 16][4];
  float o[D / 8][4];
#pragma unroll
  for (int n = 0; n < D / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.f;
  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.f, 0.f};
  const int g = lane / 4, c = lane % 4;
  const std::int64_t pos0 = first_pos + warp * 16 + g;  // this thread's rows: pos0 and pos0 + 8

  for (int t = 0; t < n_tiles; ++t) {
    const int buf = t & 1;
    if (t + 1 < n_tiles) {
      const std::int64_t next0 = std::int64_t{t + 1} * kBlockN;
      const int valid = static_cast<int>(min64(kBlockN, kv_end - next0));
      load_tile<D>(k_s[buf ^ 1], k_g + next0 * p.kv_token_stride, p.kv_token_stride, valid);
      load_tile<D>(v_s[buf ^ 1], v_g + next0 * p.kv_token_stride, p.kv_token_stride, valid);
      cp_async_commit();
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    if (t == 0) {
#pragma unroll
      for (int ks = 0; ks < D / 16; ++ks) ldmatrix_x4(q_s + swz<D>(warp * 16 + (lane & 15), ks * 2 + (lane >> 4)), qa[ks]);
    }

    // S = Q K^T for this warp's 16 rows x 64 keys.
    float s[kBlockN / 8][4];
#pragma unroll
    for (int n = 0; n < kBlockN / 8; ++n) s[n][0] = s[n][1] = s[n][2] = s[n][3] = 0.f;
#pragma unroll
    for (int ks = 0; ks < D / 16; ++ks) {
#pragma unroll
      for (int np = 0; np < kBlockN / 16; ++np) {
        std::uint32_t b[4];
        ldmatrix_x4(k_s[buf] + swz<D>(np * 16 + (lane & 7) + ((lane >> 4) << 3), ks * 2 + ((lane >> 3) & 1)), b);
        mma_bf16(s[2 * np], qa[ks], b[0], b[1]);
        mma_bf16(s[2 * np + 1], qa[ks], b[2], b[3]);
      }
    }

    // Causal mask (only tiles reaching past the block's first query position).
    const std::int64_t key0 = std::int64_t{t} * kBlockN;
    if (key0 + kBlockN - 1 > first_pos) {
#pragma unroll
      for (int n = 0; n < kBlockN / 8; ++n) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const std::int64_t key = key0 + n * 8 + 2 * c + (e & 1);
          if (key > pos0 + (e >> 1) * 8) s[n][e] = -INFINITY;
        }
      }
    }

    // Online softmax, per row half (r = 0: row g, r = 1: row g + 8).
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      float mx = -INFINITY;
#pragma unroll
      for (int n = 0; n < kBlockN / 8; ++n) mx = fmaxf(mx, fmaxf(s[n][2 * r], s[n][2 * r + 1]));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
      mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
      const float new_max = fmaxf(row_max[r], mx * scale_log2);
      const float base = new_max == -INFINITY ? 0.f : new_max;  // a fully masked row so far
      const float alpha = exp2f(row_max[r] - base);
      row_max[r] = new_max;
      row_sum[r] *= alpha;
#pragma unroll
      for (int n = 0; n < D / 8; ++n) {
        o[n][2 * r] *= alpha;
        o[n][2 * r + 1] *= alpha;
      }
#pragma unroll
      for (int n = 0; n < kBlockN / 8; ++n) {
#pragma unroll
        for (int e = 2 * r; e < 2 * r + 2; ++e) {
          s[n][e] = exp2f(fmaf(s[n][e], scale_log2, -base));
          row_sum[r] += s[n][e];
        }
      }
    }

    // O += P V: P (bf16) straight from the S accumulators as A fragments.
#pragma unroll
    for (int kk = 0; kk < kBlockN / 16; ++kk) {
      const std::uint32_t pa[4] = {pack_bf16x2(s[2 * kk][0], s[2 * kk][1]), pack_bf16x2(s[2 * kk][2], s[2 * kk][3]),
                                   pack_bf16x2(s[2 * kk + 1][0], s[2 * kk + 1][1]),
                                   pack_bf16x2(s[2 * kk + 1][2], s[2 * kk + 1][3])};
#pragma unroll
      for (int dn = 0; dn < D / 16; ++dn) {
        std::uint32_t b[4];
        ldmatrix_x4_trans(v_s[buf] + swz<D>(kk * 16 + (lane & 7) + (((lane >> 3) & 1) << 3), dn * 2 + (lane >> 4)), b);
        mma_bf16(o[2 * dn], pa, b[0], b[1]);
        mma_bf16(o[2 * dn + 1], pa, b[2], b[3]);
      }
    }
    __syncthreads();  // everyone is done with this buffer before it is refilled
  }

  // Normalise and store this thread's two rows.
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float sum = row_sum[r];
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    const int row = warp * 16 + g + r * 8;
    if (row >= rows_valid) continue;
    const float inv = 1.f / sum;
    bf16* out = p.o + (m0 + row) * p.o_token_stride + std::int64_t{h} * D;
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      *reinterpret_cast<std::uint32_t*>(out + n * 8 + 2 * c) = pack_bf16x2(o[n][2 * r] * inv, o[n][2 * r + 1] * inv);
    }
  }
}

template <int D>
void launch(const PrefillAttentionParams& p, cudaStream_t stream) {
  const std::int64_t m_blocks = (p.chunk + kBlockM - 1) / kBlockM;
  detail::require(m_blocks <= 65535, "prefill_attention", "chunk must be <= 65535 * 64 tokens");
  constexpr int kSmem = smem_bytes<D>();
  FORESIGHT_CUDA_CHECK(cudaFuncSetAttribute(prefill_attention_kernel<D>,
                                            cudaFuncAttributeMaxDynamicSharedMemorySize, kSmem));
  const dim3 grid(static_cast<unsigned>(p.n_heads), static_cast<unsigned>(m_blocks));
  const float scale_log2 = p.scale * 1.4426950408889634f;
  prefill_attention_kernel<D><<<grid, kThreads, kSmem, stream>>>(p, scale_log2);
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

}  // namespace

void prefill_attention_cuda(const PrefillAttentionParams& params, cudaStream_t stream) {
  const PrefillAttentionParams p = detail::validated(params);
  if (p.chunk == 0) return;
  const char* op = "prefill_attention";
  detail::require(p.head_dim == 64 || p.head_dim == 128, op, "CUDA kernel supports head_dim 64 and 128");
  detail::require(p.q_token_stride % 8 == 0 && p.kv_token_stride % 8 == 0 && p.o_token_stride % 8 == 0,
                  op, "CUDA kernel needs token strides that are multiples of 8 elements");
  detail::require(cuda_detail::aligned16(p.q) && cuda_detail::aligned16(p.k) && cuda_detail::aligned16(p.v) &&
                      cuda_detail::aligned16(p.o),
                  op, "CUDA kernel needs 16-byte aligned q, k, v and o");
  if (p.head_dim == 128) {
    launch<128>(p, stream);
  } else {
    launch<64>(p, stream);
  }
}

}  // namespace foresight::kernels

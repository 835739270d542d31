// PTX helpers of the tensor-core prefill attention kernels (prefill_attention.cu,
// sparse_prefill.cu): swizzled shared-memory tiles, cp.async, ldmatrix,
// mma.sync m16n8k16 bf16 with fp32 accumulation, and a fast exp2.
#pragma once

#include <cuda_bf16.h>

#include <cmath>
#include <cstdint>

namespace foresight::kernels::prefill_mma {

// Byte offset of (row, 16-byte chunk) in a swizzled [rows][D] bf16 tile.
template <int D>
__device__ __forceinline__ std::uint32_t swz(int row, int chunk) {
  return static_cast<std::uint32_t>((row * (D / 8) + (chunk ^ (row & 7))) * 16);
}

__device__ __forceinline__ void cp_async16(std::uint32_t dst, const void* src, int src_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
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

// 2^x with the hardware approximation and denormal results flushed to zero
// (exp2f adds a compare, two multiplies and a select per call to keep
// denormals, which P in [0, 1] rounded to bf16 does not need).
__device__ __forceinline__ float fast_exp2(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// ---- one K/V tile of flash attention, per warp ------------------------------
// A warp owns kMT m-tiles of 16 query rows (rows warp_row0 + 16 mt + [0, 16)
// of the swizzled Q tile at q_s) and walks K/V tiles of kN keys in swizzled
// shared memory. Fragments follow mma.m16n8k16: s[mt][n][e] is row
// g + 8 (e >> 1), key 8 n + 2 (lane % 4) + (e & 1), g = lane / 4.

// s = Q K^T (overwritten). With kQInRegs (kMT == 1) the Q fragments come
// from q_regs[D / 16][4]; otherwise they are re-read from shared memory, and
// each K fragment feeds kMT MMAs.
template <int D, int kMT, int kN, bool kQInRegs, int kQRegs>
__device__ __forceinline__ void qk_tile(float (&s)[kMT][kN / 8][4], const std::uint32_t (&q_regs)[kQRegs][4],
                                        std::uint32_t q_s, int warp_row0, std::uint32_t k_tile, int lane) {
#pragma unroll
  for (int mt = 0; mt < kMT; ++mt) {
#pragma unroll
    for (int n = 0; n < kN / 8; ++n) s[mt][n][0] = s[mt][n][1] = s[mt][n][2] = s[mt][n][3] = 0.f;
  }
#pragma unroll
  for (int ks = 0; ks < D / 16; ++ks) {
    std::uint32_t qa[kMT][4];
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt) {
      if constexpr (kQInRegs) {
#pragma unroll
        for (int i = 0; i < 4; ++i) qa[mt][i] = q_regs[ks][i];
      } else {
        ldmatrix_x4(q_s + swz<D>(warp_row0 + mt * 16 + (lane & 15), ks * 2 + (lane >> 4)), qa[mt]);
      }
    }
#pragma unroll
    for (int np = 0; np < kN / 16; ++np) {
      std::uint32_t b[4];
      ldmatrix_x4(k_tile + swz<D>(np * 16 + (lane & 7) + ((lane >> 4) << 3), ks * 2 + ((lane >> 3) & 1)), b);
#pragma unroll
      for (int mt = 0; mt < kMT; ++mt) {
        mma_bf16(s[mt][2 * np], qa[mt], b[0], b[1]);
        mma_bf16(s[mt][2 * np + 1], qa[mt], b[2], b[3]);
      }
    }
  }
}

// Online softmax of one m-tile (masked scores are -inf), exp2 domain: scales
// o and the running sums by the change of maximum, turns s into P.
template <int D, int kN>
__device__ __forceinline__ void online_softmax(float (&s)[kN / 8][4], float (&o)[D / 8][4], float (&row_max)[2],
                                               float (&row_sum)[2], float scale_log2) {
#pragma unroll
  for (int r = 0; r < 2; ++r) {  // r = 0: row g, r = 1: row g + 8
    float mx = -INFINITY;
#pragma unroll
    for (int n = 0; n < kN / 8; ++n) mx = fmaxf(mx, fmaxf(s[n][2 * r], s[n][2 * r + 1]));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 2));
    const float new_max = fmaxf(row_max[r], mx * scale_log2);
    const float base = new_max == -INFINITY ? 0.f : new_max;  // row fully masked so far
    const float alpha = fast_exp2(row_max[r] - base);
    row_max[r] = new_max;
    row_sum[r] *= alpha;
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      o[n][2 * r] *= alpha;
      o[n][2 * r + 1] *= alpha;
    }
#pragma unroll
    for (int n = 0; n < kN / 8; ++n) {
#pragma unroll
      for (int e = 2 * r; e < 2 * r + 2; ++e) {
        s[n][e] = fast_exp2(fmaf(s[n][e], scale_log2, -base));
        row_sum[r] += s[n][e];
      }
    }
  }
}

// o += P V: P (bf16) straight from the S accumulators as A fragments.
template <int D, int kMT, int kN>
__device__ __forceinline__ void pv_tile(float (&o)[kMT][D / 8][4], const float (&s)[kMT][kN / 8][4],
                                        std::uint32_t v_tile, int lane) {
#pragma unroll
  for (int kk = 0; kk < kN / 16; ++kk) {
    std::uint32_t pa[kMT][4];
#pragma unroll
    for (int mt = 0; mt < kMT; ++mt) {
      pa[mt][0] = pack_bf16x2(s[mt][2 * kk][0], s[mt][2 * kk][1]);
      pa[mt][1] = pack_bf16x2(s[mt][2 * kk][2], s[mt][2 * kk][3]);
      pa[mt][2] = pack_bf16x2(s[mt][2 * kk + 1][0], s[mt][2 * kk + 1][1]);
      pa[mt][3] = pack_bf16x2(s[mt][2 * kk + 1][2], s[mt][2 * kk + 1][3]);
    }
#pragma unroll
    for (int dn = 0; dn < D / 16; ++dn) {
      std::uint32_t b[4];
      ldmatrix_x4_trans(v_tile + swz<D>(kk * 16 + (lane & 7) + (((lane >> 3) & 1) << 3), dn * 2 + (lane >> 4)), b);
#pragma unroll
      for (int mt = 0; mt < kMT; ++mt) {
        mma_bf16(o[mt][2 * dn], pa[mt], b[0], b[1]);
        mma_bf16(o[mt][2 * dn + 1], pa[mt], b[2], b[3]);
      }
    }
  }
}

}  // namespace foresight::kernels::prefill_mma

// Inline-PTX wrappers for bf16 tensor-core decode attention (sm_80+):
// mma.sync m16n8k16, ldmatrix and cp.async. Private to kernels/cuda.
#pragma once

#include <cstdint>

#include <cuda_bf16.h>

namespace foresight::kernels::detail {

// C[16x8] += A[16x16] (row) * B[16x8] (col), bf16 in, fp32 accumulate.
// Fragments (g = lane / 4, q = lane % 4): a0 = A[g][2q..2q+1], a1 = A[g+8][2q..],
// a2 = A[g][2q+8..], a3 = A[g+8][2q+8..]; b0 = B[2q..2q+1][g], b1 = B[2q+8..][g];
// c0,c1 = C[g][2q..2q+1], c2,c3 = C[g+8][2q..2q+1]. Low half = lower index.
__device__ __forceinline__ void mma_bf16_16816(float* c, const std::uint32_t* a, std::uint32_t b0, std::uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Four transposed 8x8 b16 tiles from shared memory; lane l gives the row
// address of tile l / 8, row l % 8.
__device__ __forceinline__ void ldmatrix_x4_trans(std::uint32_t* r, const void* smem_row) {
  const auto addr = static_cast<std::uint32_t>(__cvta_generic_to_shared(smem_row));
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// 16-byte global -> shared async copy; src_bytes 0 writes zeros.
__device__ __forceinline__ void cp_async_16(void* smem_dst, const void* gmem_src, int src_bytes) {
  const auto addr = static_cast<std::uint32_t>(__cvta_generic_to_shared(smem_dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(addr), "l"(gmem_src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::: "memory"); }
// Wait until at most N of this thread's committed groups are still in flight.
template <int N>
__device__ __forceinline__ void cp_async_wait_group() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

__device__ __forceinline__ std::uint32_t pack_bf16x2(float lo, float hi) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const std::uint32_t*>(&v);
}

}  // namespace foresight::kernels::detail

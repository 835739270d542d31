// Hopper's bulk copy engine (cp.async.bulk, sm_90) and the mbarrier it
// completes on, as thin device functions. One thread issues; the engine moves
// the bytes without the SM's load/store units. Addresses 16-byte aligned,
// sizes multiples of 16 bytes. Compiled only for sm_90 and newer; on older
// targets these trap (kv_gather_cuda refuses the bulk path there).
#pragma once

#include <cstdint>

namespace foresight::kernels::bulk {

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
#define FORESIGHT_BULK_COPY 1
#endif

__device__ __forceinline__ std::uint32_t smem_addr(const void* p) {
  return static_cast<std::uint32_t>(__cvta_generic_to_shared(p));
}

// Makes `bar` expect one arrival.
__device__ __forceinline__ void barrier_init(std::uint64_t* bar) {
#ifdef FORESIGHT_BULK_COPY
  asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;" ::"r"(smem_addr(bar)) : "memory");
  asm volatile("fence.mbarrier_init.release.cluster;" ::: "memory");
#else
  __trap();
#endif
}

// The arrival, announcing `bytes` that bulk copies will complete on `bar`.
__device__ __forceinline__ void arrive_expect(std::uint64_t* bar, std::uint32_t bytes) {
#ifdef FORESIGHT_BULK_COPY
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(smem_addr(bar)), "r"(bytes) : "memory");
#else
  __trap();
#endif
}

// Spins until the phase of `bar` with this parity has completed.
__device__ __forceinline__ void wait(std::uint64_t* bar, std::uint32_t parity) {
#ifdef FORESIGHT_BULK_COPY
  std::uint32_t done = 0;
  do {
    asm volatile(
        "{ .reg .pred p; mbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2; selp.u32 %0, 1, 0, p; }"
        : "=r"(done)
        : "r"(smem_addr(bar)), "r"(parity)
        : "memory");
  } while (!done);
#else
  __trap();
#endif
}

// global (device or mapped host memory) -> shared, completing on `bar`.
__device__ __forceinline__ void load(void* dst_smem, const void* src, std::uint32_t bytes, std::uint64_t* bar) {
#ifdef FORESIGHT_BULK_COPY
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];" ::"r"(
                   smem_addr(dst_smem)),
               "l"(__cvta_generic_to_global(src)), "r"(bytes), "r"(smem_addr(bar))
               : "memory");
#else
  __trap();
#endif
}

// shared -> global, in the current bulk group.
__device__ __forceinline__ void store(void* dst, const void* src_smem, std::uint32_t bytes) {
#ifdef FORESIGHT_BULK_COPY
  asm volatile("cp.async.bulk.global.shared::cta.bulk_group [%0], [%1], %2;" ::"l"(__cvta_generic_to_global(dst)),
               "r"(smem_addr(src_smem)), "r"(bytes)
               : "memory");
#else
  __trap();
#endif
}

__device__ __forceinline__ void commit() {
#ifdef FORESIGHT_BULK_COPY
  asm volatile("cp.async.bulk.commit_group;" ::: "memory");
#endif
}

// Waits until at most N committed store groups still read shared memory.
template <int N>
__device__ __forceinline__ void wait_reads() {
#ifdef FORESIGHT_BULK_COPY
  asm volatile("cp.async.bulk.wait_group.read %0;" ::"n"(N) : "memory");
#endif
}

// Waits until every committed store group has completed (writes visible).
__device__ __forceinline__ void wait_all() {
#ifdef FORESIGHT_BULK_COPY
  asm volatile("cp.async.bulk.wait_group 0;" ::: "memory");
#endif
}

}  // namespace foresight::kernels::bulk

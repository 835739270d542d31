// CUDA KV block gather and tail write-back (see kv_gather.hpp): persistent
// kernels of n_ctas CTAs; each CTA copies whole blocks (K then V) with
// 16-byte loads, kUnroll loads in flight per thread before the stores, which
// is what keeps enough PCIe reads outstanding when the source is mapped
// pinned host memory.
#include "foresight/kernels/kv_gather.hpp"

#include "foresight/kernels/cuda_check.hpp"

namespace foresight::kernels {
namespace {

constexpr int kThreads = 512;
constexpr int kUnroll = 4;

// Copies one K block and one V block (vecs 16-byte vectors each).
__device__ __forceinline__ void copy_block_pair(const uint4* __restrict__ src_k, const uint4* __restrict__ src_v,
                                                uint4* __restrict__ dst_k, uint4* __restrict__ dst_v,
                                                std::int64_t vecs) {
  const std::int64_t total = 2 * vecs;
  for (std::int64_t base = threadIdx.x; base < total; base += std::int64_t{kThreads} * kUnroll) {
    uint4 r[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const std::int64_t i = base + std::int64_t{u} * kThreads;
      if (i < total) r[u] = i < vecs ? src_k[i] : src_v[i - vecs];
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const std::int64_t i = base + std::int64_t{u} * kThreads;
      if (i < total) {
        if (i < vecs) dst_k[i] = r[u]; else dst_v[i - vecs] = r[u];
      }
    }
  }
}

// Work item = (list entry i, row r), i-major so the live entries of all rows
// come first and spread over the CTAs.
__global__ void __launch_bounds__(kThreads) kv_gather_kernel(KvGatherParams p) {
  const std::int64_t vecs = kv_block_bytes(p.block_tokens, p.head_dim) / 16;
  const std::int64_t items = std::int64_t{p.rows} * p.list_stride;
  for (std::int64_t item = blockIdx.x; item < items; item += gridDim.x) {
    const int i = static_cast<int>(item / p.rows), r = static_cast<int>(item % p.rows);
    if (i >= p.load_count[r]) continue;
    const std::int64_t blk = p.load_block[std::int64_t{r} * p.list_stride + i];
    const std::int64_t slot = p.load_slot[std::int64_t{r} * p.list_stride + i];
    if (blk < 0 || blk >= p.max_blocks || slot < 0 || slot >= p.slots_per_row) continue;
    const std::int64_t src = (std::int64_t{r} * p.max_blocks + blk) * vecs;
    const std::int64_t dst = (std::int64_t{r} * p.slots_per_row + slot) * vecs;
    copy_block_pair(reinterpret_cast<const uint4*>(p.store_k) + src, reinterpret_cast<const uint4*>(p.store_v) + src,
                    reinterpret_cast<uint4*>(p.slots_k) + dst, reinterpret_cast<uint4*>(p.slots_v) + dst, vecs);
  }
}

__global__ void __launch_bounds__(kThreads) kv_writeback_kernel(KvWritebackParams p) {
  const std::int64_t vecs = kv_block_bytes(p.block_tokens, p.head_dim) / 16;
  for (int r = blockIdx.x; r < p.rows; r += gridDim.x) {
    const std::int64_t blk = p.writeback_block[r];
    if (blk < 0 || blk >= p.max_blocks) continue;
    const std::int64_t src = (std::int64_t{r} * p.slots_per_row + p.tail_slot) * vecs;
    const std::int64_t dst = (std::int64_t{r} * p.max_blocks + blk) * vecs;
    copy_block_pair(reinterpret_cast<const uint4*>(p.slots_k) + src, reinterpret_cast<const uint4*>(p.slots_v) + src,
                    reinterpret_cast<uint4*>(p.store_k) + dst, reinterpret_cast<uint4*>(p.store_v) + dst, vecs);
  }
}

}  // namespace

void kv_gather_cuda(const KvGatherParams& p, cudaStream_t stream) {
  validate_kv_gather(p);
  kv_gather_kernel<<<p.n_ctas, kThreads, 0, stream>>>(p);
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

void kv_writeback_cuda(const KvWritebackParams& p, cudaStream_t stream) {
  validate_kv_writeback(p);
  kv_writeback_kernel<<<p.n_ctas, kThreads, 0, stream>>>(p);
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

}  // namespace foresight::kernels

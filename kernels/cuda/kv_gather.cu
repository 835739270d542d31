// CUDA KV block gather and tail write-back (see kv_gather.hpp): persistent
// kernels of n_ctas CTAs. A CTA splits into `groups` thread groups (more
// groups for small blocks) and each group copies whole blocks (K then V) with
// 16-byte loads, kUnroll loads in flight per thread before the stores. Every
// thread thus keeps kUnroll reads outstanding whatever the block size, which
// is what keeps PCIe busy when the source is mapped pinned host memory.
#include "foresight/kernels/kv_gather.hpp"

#include "foresight/kernels/cuda_check.hpp"

namespace foresight::kernels {
namespace {

constexpr int kThreads = 512;
constexpr int kUnroll = 4;

// Thread groups per CTA for blocks of `vecs` 16-byte vectors: a power of two
// such that each group still has kUnroll vectors per thread to copy
// (at most 16 groups, so a group is at least one warp).
__host__ __device__ constexpr int groups_for(std::int64_t vecs) {
  int groups = 1;
  while (groups < 16 && 2 * vecs * groups * 2 <= std::int64_t{kThreads} * kUnroll) groups *= 2;
  return groups;
}

// Copies one K block and one V block (vecs 16-byte vectors each) with the
// `nthreads` threads of a group; tid is the thread's index in its group.
__device__ __forceinline__ void copy_block_pair(const uint4* __restrict__ src_k, const uint4* __restrict__ src_v,
                                                uint4* __restrict__ dst_k, uint4* __restrict__ dst_v,
                                                std::int64_t vecs, int tid, int nthreads) {
  const std::int64_t total = 2 * vecs;
  for (std::int64_t base = tid; base < total; base += std::int64_t{nthreads} * kUnroll) {
    uint4 r[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const std::int64_t i = base + std::int64_t{u} * nthreads;
      if (i < total) r[u] = i < vecs ? src_k[i] : src_v[i - vecs];
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const std::int64_t i = base + std::int64_t{u} * nthreads;
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
  const int groups = groups_for(vecs), nthreads = kThreads / groups;
  const int group = threadIdx.x / nthreads, tid = threadIdx.x % nthreads;
  for (std::int64_t item = std::int64_t{blockIdx.x} * groups + group; item < items;
       item += std::int64_t{gridDim.x} * groups) {
    const int i = static_cast<int>(item / p.rows), r = static_cast<int>(item % p.rows);
    if (i >= p.load_count[r]) continue;
    const std::int64_t blk = p.load_block[std::int64_t{r} * p.list_stride + i];
    const std::int64_t slot = p.load_slot[std::int64_t{r} * p.list_stride + i];
    if (blk < 0 || blk >= p.max_blocks || slot < 0 || slot >= p.slots_per_row) continue;
    const std::int64_t src = (std::int64_t{r} * p.max_blocks + blk) * vecs;
    const std::int64_t dst = (std::int64_t{r} * p.slots_per_row + slot) * vecs;
    copy_block_pair(reinterpret_cast<const uint4*>(p.store_k) + src, reinterpret_cast<const uint4*>(p.store_v) + src,
                    reinterpret_cast<uint4*>(p.slots_k) + dst, reinterpret_cast<uint4*>(p.slots_v) + dst, vecs, tid,
                    nthreads);
  }
}

__global__ void __launch_bounds__(kThreads) kv_writeback_kernel(KvWritebackParams p) {
  const std::int64_t vecs = kv_block_bytes(p.block_tokens, p.head_dim) / 16;
  const int groups = groups_for(vecs), nthreads = kThreads / groups;
  const int group = threadIdx.x / nthreads, tid = threadIdx.x % nthreads;
  for (int r = blockIdx.x * groups + group; r < p.rows; r += gridDim.x * groups) {
    const std::int64_t blk = p.writeback_block[r];
    if (blk < 0 || blk >= p.max_blocks) continue;
    const std::int64_t src = (std::int64_t{r} * p.slots_per_row + p.tail_slot) * vecs;
    const std::int64_t dst = (std::int64_t{r} * p.max_blocks + blk) * vecs;
    copy_block_pair(reinterpret_cast<const uint4*>(p.slots_k) + src, reinterpret_cast<const uint4*>(p.slots_v) + src,
                    reinterpret_cast<uint4*>(p.store_k) + dst, reinterpret_cast<uint4*>(p.store_v) + dst, vecs, tid,
                    nthreads);
  }
}

static_assert(groups_for(64 * 128 * 2 / 16) == 1, "16 KiB blocks: one group");
static_assert(groups_for(16 * 128 * 2 / 16) == 4, "4 KiB blocks: four groups of 128 threads");
static_assert(groups_for(1) == 16, "tiny blocks: 16 groups of one warp");

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

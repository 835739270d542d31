// CUDA KV block gather and tail write-back (see kv_gather.hpp): persistent
// kernels of n_ctas CTAs. A CTA splits into `groups` thread groups (more
// groups for small blocks) and each group copies whole blocks (K then V) with
// 16-byte loads, kUnroll loads in flight per thread before the stores. Every
// thread thus keeps kUnroll reads outstanding whatever the block size, which
// is what keeps PCIe busy when the source is mapped pinned host memory.
// The bulk_copy path (kv_gather.hpp) hands the bytes to the copy engine of
// each of its few SMs instead; its kernel is below the sm_loads kernels.
#include "foresight/kernels/kv_gather.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "bulk_copy.cuh"
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

// The longest load list, clamped to [0, list_stride], read by all threads of
// the CTA (a multiple of 32; `shared_max` unused when it is one warp); items
// past rows * this are dead in every row.
// The lists are written on the GPU, so each CTA reads them (rows <= a few
// hundred: one pass) rather than scanning rows * list_stride dead items.
__device__ __forceinline__ int longest_list(const KvGatherParams& p, int* shared_max) {
  int m = 0;
  for (int r = static_cast<int>(threadIdx.x); r < p.rows; r += static_cast<int>(blockDim.x))
    m = max(m, min(p.load_count[r], p.list_stride));
  m = __reduce_max_sync(0xffffffffu, m);
  if (blockDim.x == 32) return m;
  if (threadIdx.x == 0) *shared_max = 0;
  __syncthreads();
  if (threadIdx.x % 32 == 0) atomicMax(shared_max, m);
  __syncthreads();
  return *shared_max;
}

// Work item = (list entry i, row r), i-major so the live entries of all rows
// come first and spread over the CTAs.
__global__ void __launch_bounds__(kThreads) kv_gather_kernel(KvGatherParams p) {
  __shared__ int longest;
  const std::int64_t vecs = kv_block_bytes(p.block_tokens, p.head_dim) / 16;
  const std::int64_t items = std::int64_t{p.rows} * longest_list(p, &longest);
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

// ---- bulk_copy path: one warp per CTA. The warp reads the load list 32
// items at a time into shared memory; lane 0 then streams each live item's
// pieces through `stages` shared-memory buffers: bulk load (host -> shared,
// completing on the stage's mbarrier), bulk store (shared -> slot).
constexpr int kBulkMaxStages = 32;

struct BulkPipe {
  unsigned char* buf;           // stages * piece bytes
  std::uint64_t* bars;          // [stages]
  unsigned char** dsts;         // [stages]: where each stage's piece goes
  std::uint32_t piece = 0;
  int stages = 0, issued = 0, done = 0;
  std::uint32_t parity = 0;     // bit s: the phase of stage s to wait for next

  // Bulk-stores the oldest piece in flight once it has landed.
  __device__ void retire() {
    const int s = done % stages;
    bulk::wait(&bars[s], (parity >> s) & 1u);
    parity ^= 1u << s;
    bulk::store(dsts[s], buf + std::size_t(s) * piece, piece);
    bulk::commit();
    ++done;
  }
  __device__ void push(const unsigned char* src, unsigned char* dst) {
    if (issued - done == stages) {
      retire();
      bulk::wait_reads<0>();  // its buffer is free again once the store has read it
    }
    const int s = issued % stages;
    dsts[s] = dst;
    bulk::arrive_expect(&bars[s], piece);
    bulk::load(buf + std::size_t(s) * piece, src, piece, &bars[s]);
    ++issued;
  }
  __device__ void drain() {
    while (done < issued) retire();
    bulk::wait_all();
  }
};

__global__ void __launch_bounds__(32) kv_gather_bulk_kernel(KvGatherParams p, std::uint32_t piece, int stages) {
  extern __shared__ __align__(128) unsigned char bulk_buf[];
  __shared__ std::uint64_t bars[kBulkMaxStages];
  __shared__ unsigned char* dsts[kBulkMaxStages];
  __shared__ std::int64_t src_off[32], dst_off[32];  // bytes into store / slots; -1: nothing to load
  const int lane = static_cast<int>(threadIdx.x);
  const std::int64_t block_bytes = kv_block_bytes(p.block_tokens, p.head_dim);
  const std::int64_t items = std::int64_t{p.rows} * longest_list(p, nullptr);
  BulkPipe pipe{bulk_buf, bars, dsts, piece, stages};
  if (lane == 0)
    for (int s = 0; s < stages; ++s) bulk::barrier_init(&bars[s]);
  for (std::int64_t base = std::int64_t{blockIdx.x} * 32; base < items; base += std::int64_t{gridDim.x} * 32) {
    const std::int64_t item = base + lane;
    std::int64_t so = -1, dof = -1;
    if (item < items) {
      const int i = static_cast<int>(item / p.rows), r = static_cast<int>(item % p.rows);
      if (i < p.load_count[r]) {
        const std::int64_t blk = p.load_block[std::int64_t{r} * p.list_stride + i];
        const std::int64_t slot = p.load_slot[std::int64_t{r} * p.list_stride + i];
        if (blk >= 0 && blk < p.max_blocks && slot >= 0 && slot < p.slots_per_row) {
          so = (std::int64_t{r} * p.max_blocks + blk) * block_bytes;
          dof = (std::int64_t{r} * p.slots_per_row + slot) * block_bytes;
        }
      }
    }
    src_off[lane] = so, dst_off[lane] = dof;
    __syncwarp();
    if (lane == 0) {
      for (int j = 0; j < 32; ++j) {
        if (src_off[j] < 0) continue;
        for (int t = 0; t < 2; ++t) {
          const auto* src = reinterpret_cast<const unsigned char*>(t == 0 ? p.store_k : p.store_v) + src_off[j];
          auto* dst = reinterpret_cast<unsigned char*>(t == 0 ? p.slots_k : p.slots_v) + dst_off[j];
          for (std::int64_t at = 0; at < block_bytes; at += piece) pipe.push(src + at, dst + at);
        }
      }
    }
    __syncwarp();
  }
  if (lane == 0) pipe.drain();
}

int max_optin_smem() {
  int dev = 0, bytes = 0;
  FORESIGHT_CUDA_CHECK(cudaGetDevice(&dev));
  FORESIGHT_CUDA_CHECK(cudaDeviceGetAttribute(&bytes, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
  return bytes;
}

void kv_gather_bulk(const KvGatherParams& p, cudaStream_t stream) {
  int dev = 0, major = 0;
  FORESIGHT_CUDA_CHECK(cudaGetDevice(&dev));
  FORESIGHT_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev));
  require_param(major >= 9, "kv_gather", "path", "bulk_copy needs a Hopper (sm_90) or newer GPU");
  const auto piece = static_cast<std::uint32_t>(kv_gather_piece_bytes(kv_block_bytes(p.block_tokens, p.head_dim)));
  static const int smem_cap = [] {  // leaves room for the barriers and the list batch; raised once
    const int cap = max_optin_smem() - 4096;
    FORESIGHT_CUDA_CHECK(cudaFuncSetAttribute(kv_gather_bulk_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, cap));
    return cap;
  }();
  const int fit = std::min(kBulkMaxStages, smem_cap / static_cast<int>(piece));
  const int stages = p.bulk_stages > 0 ? std::min(p.bulk_stages, fit) : fit;
  require_param(stages >= 1, "kv_gather", "block_tokens*head_dim", "piece does not fit in shared memory");
  const int smem = stages * static_cast<int>(piece);
  kv_gather_bulk_kernel<<<p.n_ctas, 32, smem, stream>>>(p, piece, stages);
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

}  // namespace

void kv_gather_cuda(const KvGatherParams& p, cudaStream_t stream) {
  validate_kv_gather(p);
  if (p.path == GatherPath::bulk_copy) return kv_gather_bulk(p, stream);
  kv_gather_kernel<<<p.n_ctas, kThreads, 0, stream>>>(p);
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

void kv_writeback_cuda(const KvWritebackParams& p, cudaStream_t stream) {
  validate_kv_writeback(p);
  kv_writeback_kernel<<<p.n_ctas, kThreads, 0, stream>>>(p);
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

}  // namespace foresight::kernels

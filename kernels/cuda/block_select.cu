// CUDA pooling + forced blocks + top-k (see block_select.hpp). One CTA per
// (batch, kv_head) row: pooled keys in shared memory, an 8-bit-digit radix
// select finds the k-th largest key, ties at that key go to the lowest ids,
// and a prefix sum in id order writes the selection sorted.
#include "foresight/kernels/block_select.hpp"

#include "foresight/kernels/cuda_check.hpp"
#include "sparse_util.cuh"

namespace foresight::kernels {
namespace {

constexpr int kThreads = 512;

__device__ __forceinline__ float pooled(const float* row, int n_comp, int n_blocks, int b, const BlockSelectParams& p) {
  if (b < p.sink_blocks || b >= n_blocks - p.local_blocks) return INFINITY;
  const int lo = max(0, b * p.pool_stride - p.pool_padding);
  const int hi = min(n_comp, b * p.pool_stride - p.pool_padding + p.pool_kernel);
  float m = -INFINITY;
  for (int j = lo; j < hi; ++j) {
    const float s = row[j];
    if (s == s) m = fmaxf(m, s);
  }
  return m;
}

__global__ void __launch_bounds__(kThreads) block_select_kernel(BlockSelectParams p) {
  extern __shared__ std::uint32_t keys[];  // [max_blocks]
  __shared__ int scan_scratch[33];
  __shared__ unsigned hist[256];
  __shared__ std::uint32_t s_prefix;
  __shared__ int s_remaining;
  const int row = blockIdx.x, b = row / p.kv_heads;
  const int n = min(p.n_blocks[b], p.max_blocks), n_comp = min(p.n_comp[b], p.max_comp);
  std::int32_t* out = p.selected + std::int64_t{row} * p.k;
  if (n <= p.k) {  // everything fits
    for (int i = threadIdx.x; i < p.k; i += kThreads) out[i] = i < n ? i : -1;
    return;
  }
  const float* scores = p.scores + std::int64_t{row} * p.max_comp;
  for (int i = threadIdx.x; i < n; i += kThreads) keys[i] = detail::ordered_key(pooled(scores, n_comp, n, i, p));
  if (threadIdx.x == 0) {
    s_prefix = 0;
    s_remaining = p.k;
  }
  // Radix select: after the pass for `shift`, the digits above and at `shift`
  // of the k-th largest key are known; s_remaining counts how many keys equal
  // to that prefix still belong to the top k.
  std::uint32_t mask = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int i = threadIdx.x; i < 256; i += kThreads) hist[i] = 0;
    __syncthreads();
    const std::uint32_t prefix = s_prefix;
    for (int i = threadIdx.x; i < n; i += kThreads) {
      const std::uint32_t key = keys[i];
      if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & 255u], 1u);
    }
    __syncthreads();
    if (threadIdx.x < 32) {
      // Lane l owns digits 255-8l .. 248-8l (descending). Every lane reads
      // `need` before the winning lane rewrites s_remaining below; shuffles
      // do not order shared-memory accesses, so __syncwarp() does (this was
      // the hazard compute-sanitizer racecheck reported).
      const int lane = threadIdx.x;
      const unsigned need = static_cast<unsigned>(s_remaining);
      unsigned local[8], sum = 0;
#pragma unroll
      for (int t = 0; t < 8; ++t) {
        local[t] = hist[255 - (lane * 8 + t)];
        sum += local[t];
      }
      __syncwarp();
      unsigned incl = sum;
#pragma unroll
      for (int o = 1; o < 32; o <<= 1) {
        const unsigned y = __shfl_up_sync(0xffffffffu, incl, o);
        if (lane >= o) incl += y;
      }
      const unsigned above = incl - sum;  // keys with a larger digit, over earlier lanes
      if (above < need && need <= incl) {
        unsigned acc = above;
#pragma unroll
        for (int t = 0; t < 8; ++t) {
          if (acc < need && need <= acc + local[t]) {
            s_prefix = prefix | (static_cast<std::uint32_t>(255 - (lane * 8 + t)) << shift);
            s_remaining = static_cast<int>(need - acc);
          }
          acc += local[t];
        }
      }
    }
    mask |= 255u << shift;
    __syncthreads();
  }
  const std::uint32_t kth = s_prefix;
  const int take_equal = s_remaining;
  // Contiguous id range per thread so prefix sums follow id order.
  const int per = (n + kThreads - 1) / kThreads;
  const int lo = min(n, static_cast<int>(threadIdx.x) * per), hi = min(n, lo + per);
  int equal = 0;
  for (int i = lo; i < hi; ++i) equal += keys[i] == kth;
  int total = 0;
  int equal_before = detail::block_exclusive_scan(equal, scan_scratch, &total);
  int chosen = 0;
  for (int i = lo, e = equal_before; i < hi; ++i) {
    const std::uint32_t key = keys[i];
    if (key > kth || (key == kth && e++ < take_equal)) ++chosen;
  }
  int pos = detail::block_exclusive_scan(chosen, scan_scratch, &total);
  for (int i = lo, e = equal_before; i < hi; ++i) {
    const std::uint32_t key = keys[i];
    if (key > kth || (key == kth && e++ < take_equal)) out[pos++] = i;
  }
}

}  // namespace

void block_select_cuda(const BlockSelectParams& p, cudaStream_t stream) {
  validate_block_select(p);
  const std::size_t smem = sizeof(std::uint32_t) * static_cast<std::size_t>(p.max_blocks);
  if (smem > 48 * 1024)
    FORESIGHT_CUDA_CHECK(
        cudaFuncSetAttribute(block_select_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  block_select_kernel<<<p.batch * p.kv_heads, kThreads, smem, stream>>>(p);
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

}  // namespace foresight::kernels

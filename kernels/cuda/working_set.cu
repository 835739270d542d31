// CUDA working-set update (see working_set.hpp). One CTA per row:
// resident slots look their block up in the (sorted) selection by binary
// search; new blocks and victim slots are ranked with prefix sums (exact
// variant) or by counting smaller (last_used, slot) keys (LRU variant,
// O(n_slots^2 / threads)); new block of rank r goes to victim of rank r.
// If a row selects more blocks than it has slots, load_count[row] = -1.
#include "foresight/kernels/working_set.hpp"

#include "foresight/kernels/cuda_check.hpp"
#include "sparse_util.cuh"

namespace foresight::kernels {
namespace {

constexpr int kThreads = 256;

// Shared memory: map[n_slots], victim_of_rank[n_slots], found[k] ints.
// Block ids in a row's map must be distinct.
__global__ void __launch_bounds__(kThreads) working_set_kernel(WorkingSetParams p) {
  extern __shared__ int smem[];
  int* map = smem;
  int* victim_of_rank = map + p.n_slots;
  int* found = victim_of_rank + p.n_slots;  // slot of selection i, -1 if new or skipped
  __shared__ int scan_scratch[33];
  const int r = blockIdx.x;
  std::int32_t* g_map = p.block_map + std::int64_t{r} * p.n_slots;
  std::int64_t* used = p.last_used ? p.last_used + std::int64_t{r} * p.n_slots : nullptr;
  const std::int32_t* sel = p.selected + std::int64_t{r} * p.k;
  const int tail = p.tail_block ? p.tail_block[r] : -1;

  // Valid selection prefix (ids ascending, then -1 padding).
  int valid_local = 0;
  for (int i = threadIdx.x; i < p.k; i += kThreads) {
    valid_local += sel[i] >= 0;
    found[i] = -1;
  }
  for (int s = threadIdx.x; s < p.n_slots; s += kThreads) map[s] = g_map[s];
  int n_valid = 0;
  detail::block_exclusive_scan(valid_local, scan_scratch, &n_valid);  // also a barrier

  // Resident slots that stay selected.
  for (int s = threadIdx.x; s < p.n_slots; s += kThreads) {
    const int blk = map[s];
    if (blk < 0 || blk == tail) continue;
    int lo = 0, hi = n_valid;
    while (lo < hi) {
      const int mid = (lo + hi) >> 1;
      if (sel[mid] < blk) lo = mid + 1; else hi = mid;
    }
    if (lo < n_valid && sel[lo] == blk) found[lo] = s;
  }
  __syncthreads();

  // Rank new blocks in selection order (= ascending id).
  int n_new = 0;
  for (int base = 0; base < p.k; base += kThreads) {
    const int i = base + threadIdx.x;
    const bool is_new = i < n_valid && sel[i] != tail && found[i] < 0;
    int total = 0;
    const int rank = n_new + detail::block_exclusive_scan(is_new, scan_scratch, &total);
    if (is_new) found[i] = -2 - rank;  // encode the rank
    n_new += total;
  }

  // Which slots are kept: a slot is kept when some found[i] names it. Mark
  // by rewriting victim_of_rank as a keep flag first.
  for (int s = threadIdx.x; s < p.n_slots; s += kThreads) victim_of_rank[s] = 0;
  __syncthreads();
  for (int i = threadIdx.x; i < n_valid; i += kThreads)
    if (found[i] >= 0) {
      victim_of_rank[found[i]] = 1;
      if (used) used[found[i]] = p.step;
    }
  __syncthreads();
  // Victim ranks: empty slots first, then by (last_used, slot).
  int rank_of_slot[(4096 + kThreads - 1) / kThreads];  // this thread's slots; -1: kept or absent
  for (int i = 0; i < (4096 + kThreads - 1) / kThreads; ++i) rank_of_slot[i] = -1;
  int n_victims = 0;
  if (!used) {
    int n_empty = 0;
    for (int base = 0; base < p.n_slots; base += kThreads) {  // pass 1: empty victims
      const int s = base + threadIdx.x;
      const bool e = s < p.n_slots && !victim_of_rank[s] && map[s] < 0;
      int total = 0;
      const int before = detail::block_exclusive_scan(e, scan_scratch, &total);
      if (e) rank_of_slot[base / kThreads] = n_empty + before;
      n_empty += total;
    }
    n_victims = n_empty;
    for (int base = 0; base < p.n_slots; base += kThreads) {  // pass 2: occupied victims
      const int s = base + threadIdx.x;
      const bool o = s < p.n_slots && !victim_of_rank[s] && map[s] >= 0;
      int total = 0;
      const int before = detail::block_exclusive_scan(o, scan_scratch, &total);
      if (o) rank_of_slot[base / kThreads] = n_victims + before;
      n_victims += total;
    }
  } else {
    for (int base = 0; base < p.n_slots; base += kThreads) {
      const int s = base + threadIdx.x;
      const bool v = s < p.n_slots && !victim_of_rank[s];
      if (v) {
        const std::int64_t key = map[s] < 0 ? INT64_MIN : used[s];
        int rank = 0;
        for (int t = 0; t < p.n_slots; ++t) {
          if (victim_of_rank[t]) continue;
          const std::int64_t kt = map[t] < 0 ? INT64_MIN : used[t];
          rank += kt < key || (kt == key && t < s);
        }
        rank_of_slot[base / kThreads] = rank;
      }
      int total = 0;
      detail::block_exclusive_scan(v, scan_scratch, &total);
      n_victims += total;
    }
  }
  __syncthreads();  // all keep flags read before victim_of_rank is rewritten
  for (int base = 0; base < p.n_slots; base += kThreads) {
    const int rank = rank_of_slot[base / kThreads];
    if (rank >= 0 && rank < n_new) victim_of_rank[rank] = base + threadIdx.x;
  }
  __syncthreads();
  if (n_new > n_victims) {
    if (threadIdx.x == 0) p.load_count[r] = -1;
    return;
  }
  std::int32_t* lb = p.load_block + std::int64_t{r} * p.n_slots;
  std::int32_t* ls = p.load_slot + std::int64_t{r} * p.n_slots;
  for (int i = threadIdx.x; i < n_valid; i += kThreads) {
    if (found[i] > -2) continue;
    const int rank = -2 - found[i];
    const int s = victim_of_rank[rank];
    g_map[s] = sel[i];
    if (used) used[s] = p.step;
    lb[rank] = sel[i];
    ls[rank] = s;
  }
  if (threadIdx.x == 0) p.load_count[r] = n_new;
}

}  // namespace

void working_set_update_cuda(const WorkingSetParams& p, cudaStream_t stream) {
  validate_working_set(p);
  const std::size_t smem = sizeof(int) * (2 * static_cast<std::size_t>(p.n_slots) + p.k);
  if (smem > 48 * 1024)
    FORESIGHT_CUDA_CHECK(
        cudaFuncSetAttribute(working_set_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem)));
  working_set_kernel<<<p.rows, kThreads, smem, stream>>>(p);
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

}  // namespace foresight::kernels

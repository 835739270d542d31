// CUDA slot list and cache counters (see slot_list.hpp). One CTA per row:
// the row's block map goes to shared memory; each thread takes one selection
// entry per pass, finds its slot (the tail, else the lowest map slot holding
// the id, by a linear scan: n_slots <= 4096), and a prefix count over the
// entries that found a slot gives its place in the list, so selection order
// is kept. Thread 0 adds the row's counts to the counters.
#include "foresight/kernels/slot_list.hpp"

#include "foresight/kernels/cuda_check.hpp"
#include "sparse_util.cuh"

namespace foresight::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxSlots = 4096;

__global__ void __launch_bounds__(kThreads) slot_list_kernel(SlotListParams p) {
  __shared__ std::int32_t map[kMaxSlots];
  __shared__ int scan_scratch[33];
  const int r = blockIdx.x;
  const std::int32_t* sel = p.selected + std::int64_t{r} * p.k;
  std::int32_t* list = p.slot_list + std::int64_t{r} * p.list_stride;
  for (int s = threadIdx.x; s < p.n_slots; s += kThreads) map[s] = p.block_map[std::int64_t{r} * p.n_slots + s];
  __syncthreads();
  const int tail = p.tail_block[r];
  int len = 0, n_selected = 0, n_missing = 0;  // running totals, the same in every thread
  for (int base = 0; base < p.k; base += kThreads) {
    const int j = base + threadIdx.x;
    const int id = j < p.k ? sel[j] : -1;
    int slot = -1;
    if (id >= 0) {
      if (id == tail) {
        slot = p.tail_slot;
      } else {
        for (int s = 0; s < p.n_slots; ++s)
          if (map[s] == id) {
            slot = s;
            break;
          }
      }
    }
    int found = 0, valid = 0;
    const int place = len + detail::block_exclusive_scan(slot >= 0, scan_scratch, &found);
    detail::block_exclusive_scan(id >= 0, scan_scratch, &valid);
    if (slot >= 0) list[place] = slot;
    len += found;
    n_selected += valid;
    n_missing += valid - found;
  }
  for (int j = len + threadIdx.x; j < p.list_stride; j += kThreads) list[j] = -1;
  if (threadIdx.x == 0) {
    p.list_len[r] = len;
    if (p.counters) {
      auto* counters = reinterpret_cast<unsigned long long*>(p.counters);
      const int loaded = p.load_count ? p.load_count[r] : 0;
      if (n_selected > 0) atomicAdd(counters + 0, static_cast<unsigned long long>(n_selected));
      if (loaded > 0) atomicAdd(counters + 1, static_cast<unsigned long long>(loaded));
      if (n_missing > 0) atomicAdd(counters + 2, static_cast<unsigned long long>(n_missing));
    }
  }
}

static_assert(sizeof(unsigned long long) == sizeof(std::uint64_t), "counters are 64-bit");

}  // namespace

void slot_list_cuda(const SlotListParams& p, cudaStream_t stream) {
  validate_slot_list(p);
  slot_list_kernel<<<p.rows, kThreads, 0, stream>>>(p);
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

}  // namespace foresight::kernels

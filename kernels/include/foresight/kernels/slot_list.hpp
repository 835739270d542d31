// Slot list for sparse decode attention, built on the device after the
// working-set update (so the decode loop never reads the block map on the
// host), plus the per-layer cache counters.
//
// For row r (= seq * kv_heads + kv_head) and every selected block id
// selected[r, j] >= 0, in selection order:
//   - id == tail_block[r]: the tail slot (tail_slot);
//   - otherwise the slot s with block_map[r, s] == id;
//   - no such slot: the block is skipped and counted as missing (a bug in the
//     caller: the working-set update must have run first).
// list_len[r] = entries written; unused entries of slot_list are -1.
// counters (optional, accumulated with atomics; zero them per step/layer):
//   counters[0] += selected ids >= 0
//   counters[1] += load_count[r] (blocks this update loaded: the misses)
//   counters[2] += selected ids that had no slot (must stay 0)
#pragma once

#include <cstdint>

#include "foresight/kernels/cuda_stream.hpp"
#include "foresight/kernels/param_check.hpp"

namespace foresight::kernels {

struct SlotListParams {
  const std::int32_t* selected = nullptr;    // [rows, k], -1 padded
  const std::int32_t* block_map = nullptr;   // [rows, n_slots], -1 = empty
  const std::int32_t* tail_block = nullptr;  // [rows]
  const std::int32_t* load_count = nullptr;  // [rows] or null (counters[1] unchanged)
  std::int32_t* slot_list = nullptr;         // [rows, list_stride] out
  std::int32_t* list_len = nullptr;          // [rows] out
  std::uint64_t* counters = nullptr;         // [3] in/out, or null
  int rows = 0;
  int k = 0;
  int n_slots = 0;
  int tail_slot = 0;
  int list_stride = 0;                       // >= k
};

inline void validate_slot_list(const SlotListParams& p) {
  const char* op = "slot_list";
  require_param(p.selected && p.block_map && p.tail_block && p.slot_list && p.list_len, op,
                "selected/block_map/tail_block/slot_list/list_len", "must be set");
  require_param(p.rows > 0 && p.k > 0 && p.n_slots > 0, op, "rows/k/n_slots", "must be positive");
  require_param(p.n_slots <= 4096, op, "n_slots", "must be <= 4096");
  require_param(p.list_stride >= p.k, op, "list_stride", "must be >= k");
}

void slot_list_cpu(const SlotListParams& p);
#ifdef FORESIGHT_HAVE_CUDA
void slot_list_cuda(const SlotListParams& p, cudaStream_t stream);
#endif

}  // namespace foresight::kernels

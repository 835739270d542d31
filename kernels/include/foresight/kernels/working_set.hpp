// Working-set update: which GPU slot holds which KV block of a
// (sequence, layer, kv_head) row, and what must be loaded for a new selection.
//
// A row has n_slots regular slots plus a tail slot (kept outside this map)
// that holds the current, partly filled block. block_map[slot] is the block a
// slot holds, -1 when empty.
//
// For each row, given the new selection (block_select output: ascending ids,
// -1 padded):
//   - the selected id equal to tail_block[row] lives in the tail slot: it is
//     neither mapped nor loaded (the tail slot stays);
//   - a selected block already resident keeps its slot;
//   - every other selected block ("new", taken in ascending id order) gets a
//     victim slot, and (block, slot) is appended to the load list;
//   - victims are slots whose block is not selected, in order:
//       exact variant (last_used == nullptr): empty slots first, then by slot index;
//       LRU variant   (last_used != nullptr): empty slots first, then least
//       recently used (smallest last_used), ties by slot index.
//     Unchosen non-selected slots keep their blocks (a later hit is free).
//   - LRU variant: last_used[slot] = step for every selected resident and
//     loaded slot.
// With n_slots == k (SparDA) every non-selected slot is freed; with more
// slots the cache keeps extra blocks (the general variant).
// Requires: selections per row <= n_slots (else std::invalid_argument on CPU).
#pragma once

#include <cstdint>

#include "foresight/kernels/param_check.hpp"

#include "foresight/kernels/cuda_stream.hpp"

namespace foresight::kernels {

struct WorkingSetParams {
  std::int32_t* block_map = nullptr;          // [rows, n_slots] in/out, -1 = empty
  std::int64_t* last_used = nullptr;          // [rows, n_slots] in/out step numbers; null = exact variant
  const std::int32_t* selected = nullptr;     // [rows, k] ascending block ids, -1 padded
  const std::int32_t* tail_block = nullptr;   // [rows] block in the tail slot (-1: none); may be null
  std::int32_t* load_block = nullptr;         // [rows, n_slots] out: block ids to load, first load_count
  std::int32_t* load_slot = nullptr;          // [rows, n_slots] out: their slots
  std::int32_t* load_count = nullptr;         // [rows] out
  int rows = 0;     // batch * kv_heads for one layer
  int n_slots = 0;  // regular slots per row (>= selections per row); GPU: <= 4096
  int k = 0;        // selection width
  std::int64_t step = 0;  // LRU clock value written for used slots
};

inline void validate_working_set(const WorkingSetParams& p) {
  const char* op = "working_set_update";
  require_param(p.block_map && p.selected && p.load_block && p.load_slot && p.load_count, op,
                "block_map/selected/load_*", "must be set");
  require_param(p.rows > 0, op, "rows", "must be positive");
  require_param(p.n_slots > 0 && p.n_slots <= 4096, op, "n_slots", "must be in [1, 4096]");
  require_param(p.k > 0 && p.k <= 4096, op, "k", "must be in [1, 4096]");
}

void working_set_update_cpu(const WorkingSetParams& p);
#ifdef FORESIGHT_HAVE_CUDA
// One CTA per row.
void working_set_update_cuda(const WorkingSetParams& p, cudaStream_t stream);
#endif

}  // namespace foresight::kernels

// CPU references for KV block gather and tail write-back (see kv_gather.hpp).
#include "foresight/kernels/kv_gather.hpp"

#include <cstring>

namespace foresight::kernels {

void kv_gather_cpu(const KvGatherParams& p) {
  validate_kv_gather(p);
  const std::int64_t elems = std::int64_t{p.block_tokens} * p.head_dim;
  for (int r = 0; r < p.rows; ++r) {
    const int n = p.load_count[r];
    require_param(n >= 0 && n <= p.list_stride, "kv_gather", "load_count[r]", "must be in [0, list_stride]");
    const std::int64_t store_row = std::int64_t{r} * p.max_blocks;  // (seq * kv_heads + head) == r
    for (int i = 0; i < n; ++i) {
      const std::int64_t blk = p.load_block[std::int64_t{r} * p.list_stride + i];
      const std::int64_t slot = p.load_slot[std::int64_t{r} * p.list_stride + i];
      require_param(blk >= 0 && blk < p.max_blocks, "kv_gather", "load_block", "out of [0, max_blocks)");
      require_param(slot >= 0 && slot < p.slots_per_row, "kv_gather", "load_slot", "out of [0, slots_per_row)");
      const std::int64_t src = (store_row + blk) * elems;
      const std::int64_t dst = (std::int64_t{r} * p.slots_per_row + slot) * elems;
      std::memcpy(p.slots_k + dst, p.store_k + src, static_cast<std::size_t>(elems) * sizeof(bf16));
      std::memcpy(p.slots_v + dst, p.store_v + src, static_cast<std::size_t>(elems) * sizeof(bf16));
    }
  }
}

void kv_writeback_cpu(const KvWritebackParams& p) {
  validate_kv_writeback(p);
  const std::int64_t elems = std::int64_t{p.block_tokens} * p.head_dim;
  for (int r = 0; r < p.rows; ++r) {
    const std::int64_t blk = p.writeback_block[r];
    if (blk < 0) continue;
    require_param(blk < p.max_blocks, "kv_writeback", "writeback_block", "out of [0, max_blocks)");
    const std::int64_t dst = (std::int64_t{r} * p.max_blocks + blk) * elems;
    const std::int64_t src = (std::int64_t{r} * p.slots_per_row + p.tail_slot) * elems;
    std::memcpy(p.store_k + dst, p.slots_k + src, static_cast<std::size_t>(elems) * sizeof(bf16));
    std::memcpy(p.store_v + dst, p.slots_v + src, static_cast<std::size_t>(elems) * sizeof(bf16));
  }
}

}  // namespace foresight::kernels

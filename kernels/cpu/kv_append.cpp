// CPU reference for the K/V append (see kv_append.hpp). Rows are applied in
// order, so when two rows of one sequence hit the same place (a prefill chunk
// that crosses a block boundary reuses tail-slot token indices; a repeated
// position reuses a store row) the later row wins; the CUDA kernel keeps the
// same rule.
#include "foresight/kernels/kv_append.hpp"

#include <cstring>

namespace foresight::kernels {

void kv_append_cpu(const KvAppendParams& p) {
  validate_kv_append(p);
  const std::size_t row_bytes = static_cast<std::size_t>(p.head_dim) * sizeof(bf16);
  for (int i = 0; i < p.rows; ++i) {
    const std::int64_t pos = p.positions[i];
    require_param(pos >= 0, "kv_append", "positions[i]", "must be >= 0");
    require_param(!p.store_k || pos < p.max_tokens, "kv_append", "positions[i]", "must be < max_tokens");
    const std::int64_t seq = p.one_sequence ? p.first_seq : std::int64_t{p.first_seq} + i;
    const bf16* src = p.src + std::int64_t{i} * p.src_row_stride;
    for (int g = 0; g < p.kv_heads; ++g) {
      const bf16* k = src + p.k_offset + std::int64_t{g} * p.head_dim;
      const bf16* v = src + p.v_offset + std::int64_t{g} * p.head_dim;
      const std::int64_t head_row = seq * p.kv_heads + g;  // (sequence, kv head)
      if (p.store_k) {
        const std::int64_t at = (head_row * p.max_tokens + pos) * p.head_dim;
        std::memcpy(p.store_k + at, k, row_bytes);
        std::memcpy(p.store_v + at, v, row_bytes);
      }
      if (p.slots_k) {
        const std::int64_t at =
            ((head_row * p.slots_per_row + p.tail_slot) * p.block_tokens + pos % p.block_tokens) * p.head_dim;
        std::memcpy(p.slots_k + at, k, row_bytes);
        std::memcpy(p.slots_v + at, v, row_bytes);
      }
      if (p.tail_block) p.tail_block[head_row] = static_cast<std::int32_t>(pos / p.block_tokens);
    }
  }
}

}  // namespace foresight::kernels

// CUDA K/V append (see kv_append.hpp). One CTA per source row copies the K
// and V rows of every kv head (16-byte vectors when the source columns and
// the destinations are 16-byte aligned, else 2-byte elements) to the store
// (GPU or mapped pinned host memory: plain stores) and the tail slot.
//
// Same result as the CPU reference, which applies rows in order: in
// one_sequence mode a row skips its tail-slot write when a later row uses the
// same token index (position % block_tokens) and its store write when a later
// row has the same position; only the last row writes tail_block. Rows with
// an out-of-range position (which the CPU reference rejects) write nothing.
#include "foresight/kernels/kv_append.hpp"

#include <cstdint>

#include "foresight/kernels/cuda_check.hpp"

namespace foresight::kernels {
namespace {

constexpr int kThreads = 128;

template <class Vec>
__global__ void __launch_bounds__(kThreads) kv_append_kernel(KvAppendParams p) {
  constexpr int kPerVec = static_cast<int>(sizeof(Vec) / sizeof(bf16));
  const int i = blockIdx.x;
  const std::int64_t pos = p.positions[i];
  const std::int64_t slot_tok = pos % p.block_tokens;
  bool write_store = p.store_k != nullptr && pos >= 0 && pos < p.max_tokens;
  bool write_slot = p.slots_k != nullptr && pos >= 0;
  if (p.one_sequence && (write_store || write_slot)) {
    // Does a later row overwrite what this row would write?
    int later_same_tok = 0, later_same_pos = 0;
    for (int j = i + 1 + threadIdx.x; j < p.rows; j += kThreads) {
      const std::int64_t q = p.positions[j];
      if (q < 0) continue;
      later_same_tok |= q % p.block_tokens == slot_tok;
      later_same_pos |= q == pos;
    }
    if (__syncthreads_or(later_same_tok)) write_slot = false;
    if (__syncthreads_or(later_same_pos)) write_store = false;
  }
  const std::int64_t seq = p.one_sequence ? p.first_seq : std::int64_t{p.first_seq} + i;
  if (p.tail_block && pos >= 0 && (!p.one_sequence || i == p.rows - 1))
    for (int g = threadIdx.x; g < p.kv_heads; g += kThreads)
      p.tail_block[seq * p.kv_heads + g] = static_cast<std::int32_t>(pos / p.block_tokens);
  if (!write_store && !write_slot) return;

  const int vecs_per_head = p.head_dim / kPerVec;
  const bf16* src = p.src + std::int64_t{i} * p.src_row_stride;
  for (int v = threadIdx.x; v < 2 * p.kv_heads * vecs_per_head; v += kThreads) {
    const bool is_v = v >= p.kv_heads * vecs_per_head;
    const int hv = is_v ? v - p.kv_heads * vecs_per_head : v;
    const int g = hv / vecs_per_head, e = (hv % vecs_per_head) * kPerVec;  // element in the head row
    const Vec x = *reinterpret_cast<const Vec*>(src + (is_v ? p.v_offset : p.k_offset) +
                                                std::int64_t{g} * p.head_dim + e);
    const std::int64_t head_row = seq * p.kv_heads + g;
    if (write_store) {
      bf16* store = is_v ? p.store_v : p.store_k;
      *reinterpret_cast<Vec*>(store + (head_row * p.max_tokens + pos) * p.head_dim + e) = x;
    }
    if (write_slot) {
      bf16* slots = is_v ? p.slots_v : p.slots_k;
      *reinterpret_cast<Vec*>(
          slots + ((head_row * p.slots_per_row + p.tail_slot) * p.block_tokens + slot_tok) * p.head_dim + e) = x;
    }
  }
}

bool aligned16(const void* ptr) { return reinterpret_cast<std::uintptr_t>(ptr) % 16 == 0; }

}  // namespace

void kv_append_cuda(const KvAppendParams& p, cudaStream_t stream) {
  validate_kv_append(p);
  // head_dim is a multiple of 8, so rows are 16-byte vectors when the row
  // starts are 16-byte aligned.
  const bool vec16 = p.src_row_stride % 8 == 0 && p.k_offset % 8 == 0 && p.v_offset % 8 == 0 && aligned16(p.src) &&
                     aligned16(p.store_k) && aligned16(p.store_v) && aligned16(p.slots_k) && aligned16(p.slots_v);
  if (vec16)
    kv_append_kernel<uint4><<<p.rows, kThreads, 0, stream>>>(p);
  else
    kv_append_kernel<std::uint16_t><<<p.rows, kThreads, 0, stream>>>(p);
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

}  // namespace foresight::kernels

// Appends the K and V rows of new tokens (decode: one token per sequence;
// prefill: a chunk of one sequence) to a layer's KV store and, optionally,
// to the tail slot of the GPU working set.
//
// Source rows are QKVF GEMM outputs: row i holds K at src[i*src_row_stride +
// k_offset + g*head_dim + d] and V at ... v_offset ..., for kv head g.
// Row i belongs to sequence seq(i) = one_sequence ? first_seq : first_seq + i
// and holds the token at position positions[i].
//
// Store (K and V separately, bf16): [seqs, kv_heads, max_tokens, head_dim]
// (kv_gather's store layout with max_tokens = max_blocks * block_tokens). It
// may be GPU memory or mapped pinned host memory (a write-through of the new
// token to the host copy). Null store pointers skip the store.
// Slots (optional): [seqs, kv_heads, slots_per_row, block_tokens, head_dim];
// the token goes to slot tail_slot at token index position % block_tokens
// (the tail slot holds the current, partly filled block).
// tail_block (optional, out): [seqs * kv_heads], set to position / block_tokens
// for every written (sequence, kv head).
#pragma once

#include <cstdint>

#include "foresight/kernels/bf16.hpp"
#include "foresight/kernels/cuda_stream.hpp"
#include "foresight/kernels/param_check.hpp"

namespace foresight::kernels {

struct KvAppendParams {
  const bf16* src = nullptr;              // [rows, src_row_stride]
  std::int64_t src_row_stride = 0;        // elements
  int k_offset = 0;                       // elements into a row: K [kv_heads, head_dim]
  int v_offset = 0;                       // elements into a row: V [kv_heads, head_dim]
  const std::int32_t* positions = nullptr;  // [rows] token positions (< max_tokens)
  int rows = 0;
  int first_seq = 0;
  bool one_sequence = false;              // true: every row belongs to first_seq
  bf16* store_k = nullptr;                // [seqs, kv_heads, max_tokens, head_dim] or null
  bf16* store_v = nullptr;
  std::int64_t max_tokens = 0;
  bf16* slots_k = nullptr;                // [seqs, kv_heads, slots_per_row, block_tokens, head_dim] or null
  bf16* slots_v = nullptr;
  int slots_per_row = 0;
  int tail_slot = 0;
  int block_tokens = 64;
  std::int32_t* tail_block = nullptr;     // [seqs * kv_heads] out, or null
  int kv_heads = 0;
  int head_dim = 0;                       // multiple of 8 (16-byte rows)
};

inline void validate_kv_append(const KvAppendParams& p) {
  const char* op = "kv_append";
  require_param(p.src && p.positions, op, "src/positions", "must be set");
  require_param(p.rows > 0 && p.kv_heads > 0 && p.head_dim > 0 && p.head_dim % 8 == 0, op,
                "rows/kv_heads/head_dim", "must be positive, head_dim a multiple of 8");
  require_param(p.src_row_stride >= p.k_offset + p.kv_heads * p.head_dim &&
                    p.src_row_stride >= p.v_offset + p.kv_heads * p.head_dim,
                op, "src_row_stride", "must cover the K and V columns");
  require_param((p.store_k == nullptr) == (p.store_v == nullptr), op, "store_k/store_v", "must both be set or both null");
  require_param(!p.store_k || p.max_tokens > 0, op, "max_tokens", "must be positive with a store");
  require_param((p.slots_k == nullptr) == (p.slots_v == nullptr), op, "slots_k/slots_v", "must both be set or both null");
  require_param(!p.slots_k || (p.tail_slot >= 0 && p.tail_slot < p.slots_per_row), op, "tail_slot",
                "must be in [0, slots_per_row)");
  require_param(p.block_tokens > 0, op, "block_tokens", "must be positive");
  require_param(p.first_seq >= 0, op, "first_seq", "must be >= 0");
}

void kv_append_cpu(const KvAppendParams& p);
#ifdef FORESIGHT_HAVE_CUDA
void kv_append_cuda(const KvAppendParams& p, cudaStream_t stream);
#endif

}  // namespace foresight::kernels

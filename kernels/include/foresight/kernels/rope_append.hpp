// Decode step's rope + q gather + K/V append as one op (one CUDA launch on the
// fast path). For each sequence b of a decode step (one token per sequence,
// at positions[b]) it does exactly, in this order:
//   1. rope_cpu(rope): rotate q, k (and f when set) of QKVF row b in place;
//   2. q_out[b] = the rotated q of row b (contiguous [n_heads, head_dim]);
//   3. kv_append_cpu(append): the row's rotated K and its V to the store, the
//      tail slot and tail_block.
// It replaces rope + kv_append + a strided 2-D copy of q (three launches).
#pragma once

#include "foresight/kernels/cuda_stream.hpp"
#include "foresight/kernels/kv_append.hpp"
#include "foresight/kernels/rope.hpp"

namespace foresight::kernels {

struct RopeAppendParams {
  RopeParams rope;        // as for rope_cpu; rope.batch sequences (> 0)
  bf16* q_out = nullptr;  // [rope.batch, rope.n_heads, rope.head_dim] contiguous, or null (no copy)
  // As for kv_append_cpu, over the same QKVF rows: append.rows == rope.batch,
  // append.one_sequence false, append.src + append.k_offset == rope.k,
  // append.src_row_stride == rope.k_batch_stride (resolved),
  // append.positions == rope.positions, append.kv_heads == rope.n_kv_heads,
  // append.head_dim == rope.head_dim.
  KvAppendParams append;
};

// Validates both parts and their consistency; throws std::invalid_argument
// naming the op and the field ("rope_append: append.rows ...").
void validate_rope_append(const RopeAppendParams& p);

// CPU reference: rope_cpu, then the q copy, then kv_append_cpu. Positions are
// checked (>= 0, < append.max_tokens with a store) before anything is written.
void rope_append_cpu(const RopeAppendParams& p);

#ifdef FORESIGHT_HAVE_CUDA
// Bit-identical to rope_cuda(p.rope) + cudaMemcpy2DAsync of q + kv_append_cuda(p.append).
// One kernel launch when rows are 16-byte vectors (head_dim / 2 a multiple of
// 8; q, k, f, V, q_out, store and slot pointers 16-byte aligned; strides and
// offsets multiples of 8 elements); otherwise those three calls. No host
// synchronisation or allocation: CUDA-graph capturable. The store may be
// mapped pinned host memory (plain stores, a write-through).
void rope_append_cuda(const RopeAppendParams& p, cudaStream_t stream);
#endif

}  // namespace foresight::kernels

// Decode attention (one new query token per sequence), GQA: query head h uses
// KV head h / (n_heads / kv_heads). softmax scale 1/sqrt(head_dim) unless set.
// bf16 in/out, fp32 accumulation, online softmax.
//
// Sparse: over the row's resident slots. Row (b, g) attends to the slots
// slot_list[b, g, 0 .. list_len[b, g]); each holds block_tokens tokens,
// except the slot equal to tail_slot, which holds tail_tokens[b] (0 .. 64).
// Dense: over a contiguous cache, tokens [0, seq_len[b]).
//
// GPU (flash-decoding): the row's 64-token tiles are dealt round-robin to
// n_splits parts; one CTA per (split, kv_head, batch) reads the group's KV
// once for all its query heads (tiles staged through a shared-memory
// pipeline) and writes partial (max, sum, output) to the workspace; a
// combine kernel merges the splits. A row with no tokens outputs zeros.
#pragma once

#include <cstddef>
#include <cstdint>

#include "foresight/kernels/bf16.hpp"
#include "foresight/kernels/param_check.hpp"

#include "foresight/kernels/cuda_stream.hpp"

namespace foresight::kernels {

struct DecodeAttentionShape {
  int batch = 0;
  int n_heads = 0;
  int kv_heads = 0;   // n_heads % kv_heads == 0, group size <= 16 on the GPU
  int head_dim = 128; // GPU: 64 or 128
  float softmax_scale = 0.f;  // 0 means 1/sqrt(head_dim)
  int n_splits = 1;   // GPU split-KV parts (>= 1); see default_decode_splits
  void* workspace = nullptr;  // GPU scratch of decode_attention_workspace_bytes
};

struct SparseDecodeAttentionParams {
  DecodeAttentionShape shape;
  const bf16* q = nullptr;        // [batch, n_heads, head_dim]
  const bf16* slots_k = nullptr;  // [batch, kv_heads, slots_per_row, block_tokens, head_dim]
  const bf16* slots_v = nullptr;
  const std::int32_t* slot_list = nullptr;  // [batch, kv_heads, list_stride] slot indices
  const std::int32_t* list_len = nullptr;   // [batch, kv_heads]
  const std::int32_t* tail_tokens = nullptr;  // [batch] valid tokens of the tail slot
  bf16* out = nullptr;            // [batch, n_heads, head_dim]
  int slots_per_row = 0;
  int list_stride = 0;
  int tail_slot = -1;             // -1: no tail slot
  int block_tokens = 64;          // GPU: 64
};

struct DenseDecodeAttentionParams {
  DecodeAttentionShape shape;
  const bf16* q = nullptr;       // [batch, n_heads, head_dim]
  const bf16* k = nullptr;       // [batch, kv_heads, max_tokens, head_dim]
  const bf16* v = nullptr;
  const std::int32_t* seq_len = nullptr;  // [batch] tokens per sequence (<= max_tokens)
  bf16* out = nullptr;           // [batch, n_heads, head_dim]
  std::int64_t max_tokens = 0;
};

// GPU workspace: partial outputs [batch, n_heads, n_splits, head_dim] and
// (max, sum) pairs [batch, n_heads, n_splits, 2], fp32.
inline std::size_t decode_attention_workspace_bytes(const DecodeAttentionShape& s) {
  return sizeof(float) * static_cast<std::size_t>(s.batch) * s.n_heads * s.n_splits * (s.head_dim + 2);
}
// Splits for one CTA per SM: the GPU kernel's CTA (a 3-tile shared-memory
// pipeline) pulls one SM's share of HBM bandwidth, and SMs holding a second
// CTA become the slowest (H100, batch 16, 97 tiles, back-to-back: 4 splits
// 43.9 us, 5: 48.9, 7: 46.0, 8: 45.1; bench/RESULTS-kernels.md round 2), so
// aim at sm_count CTAs in all, at least one split and at most one per 64-token
// tile. MiniCPM batch 16 on 132 SMs: 4 splits (128 CTAs of 24-25 tiles).
inline int default_decode_splits(int batch, int kv_heads, int max_tiles, int sm_count) {
  const int rows = batch * kv_heads > 0 ? batch * kv_heads : 1;
  int splits = sm_count / rows;
  if (splits > max_tiles) splits = max_tiles;
  return splits < 1 ? 1 : splits;
}

inline void validate_decode_shape(const DecodeAttentionShape& s, const char* op) {
  require_param(s.batch > 0 && s.n_heads > 0 && s.kv_heads > 0, op, "batch/n_heads/kv_heads", "must be positive");
  require_param(s.n_heads % s.kv_heads == 0, op, "n_heads", "must be a multiple of kv_heads");
  require_param(s.head_dim > 0, op, "head_dim", "must be positive");
  require_param(s.n_splits >= 1, op, "n_splits", "must be >= 1");
}
inline void validate_sparse_decode(const SparseDecodeAttentionParams& p) {
  const char* op = "sparse_decode_attention";
  validate_decode_shape(p.shape, op);
  require_param(p.q && p.slots_k && p.slots_v && p.slot_list && p.list_len && p.out, op,
                "q/slots_k/slots_v/slot_list/list_len/out", "must be set");
  require_param(p.tail_slot < 0 || p.tail_tokens, op, "tail_tokens", "must be set when tail_slot >= 0");
  require_param(p.slots_per_row > 0 && p.list_stride > 0 && p.block_tokens > 0, op,
                "slots_per_row/list_stride/block_tokens", "must be positive");
}
inline void validate_dense_decode(const DenseDecodeAttentionParams& p) {
  const char* op = "dense_decode_attention";
  validate_decode_shape(p.shape, op);
  require_param(p.q && p.k && p.v && p.seq_len && p.out, op, "q/k/v/seq_len/out", "must be set");
  require_param(p.max_tokens > 0, op, "max_tokens", "must be positive");
}

void sparse_decode_attention_cpu(const SparseDecodeAttentionParams& p);
void dense_decode_attention_cpu(const DenseDecodeAttentionParams& p);
#ifdef FORESIGHT_HAVE_CUDA
void sparse_decode_attention_cuda(const SparseDecodeAttentionParams& p, cudaStream_t stream);
void dense_decode_attention_cuda(const DenseDecodeAttentionParams& p, cudaStream_t stream);
#endif

}  // namespace foresight::kernels

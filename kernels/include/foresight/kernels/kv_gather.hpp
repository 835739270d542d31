// KV block transfers between the full KV store (pinned host memory, or GPU
// memory in the no-offload modes) and the per-row GPU slot storage.
//
// Store layout, separately for K and for V (bf16):
//   [layer][seq][kv_head][block][token][head_dim]
// so one block is block_tokens * head_dim * 2 bytes (16 KiB for 64 x 128),
// contiguous; kv_store_block_index() gives its index in units of blocks.
// A kernel receives the store pointer of ONE layer: [seq][kv_head][block][...]
// with max_blocks blocks per (seq, kv_head).
// Slot storage (K and V separately): [batch, kv_heads, slots_per_row,
// block_tokens, head_dim]; row = batch * kv_heads + kv_head.
//
// Host store memory must be device-accessible: cudaHostAlloc(...,
// cudaHostAllocMapped) and the pointer from cudaHostGetDevicePointer (or the
// same pointer under unified addressing). The gather is zero-copy, by one of
// two paths (KvGatherParams::path):
//   sm_loads:  a persistent kernel of n_ctas CTAs x 512 threads reads the host
//              memory with 16-byte loads (16-32 CTAs reach the link);
//   bulk_copy: n_ctas one-warp CTAs, one thread each driving Hopper's bulk
//              copy engine (cp.async.bulk, sm_90): host -> shared memory in
//              pieces of at most 32 KiB, `bulk_stages` pieces in flight, then
//              shared -> slot. Holds few SMs, so compute keeps the rest.
// Either way block bytes must be a multiple of 16 and pointers 16-byte aligned.
#pragma once

#include <cstddef>
#include <cstdint>

#include "foresight/kernels/bf16.hpp"
#include "foresight/kernels/param_check.hpp"

#include "foresight/kernels/cuda_stream.hpp"

namespace foresight::kernels {

constexpr std::int64_t kv_block_bytes(int block_tokens, int head_dim) {
  return std::int64_t{block_tokens} * head_dim * 2;
}
constexpr std::int64_t kv_store_block_index(std::int64_t layer, std::int64_t seq, std::int64_t kv_head,
                                            std::int64_t block, std::int64_t n_seqs, int kv_heads,
                                            std::int64_t max_blocks) {
  return ((layer * n_seqs + seq) * kv_heads + kv_head) * max_blocks + block;
}

enum class GatherPath { sm_loads, bulk_copy };

struct KvGatherParams {
  const bf16* store_k = nullptr;  // one layer: [seqs, kv_heads, max_blocks, block_tokens, head_dim]
  const bf16* store_v = nullptr;
  bf16* slots_k = nullptr;        // [batch, kv_heads, slots_per_row, block_tokens, head_dim]
  bf16* slots_v = nullptr;
  // Load list (working_set output): for row r, entries [0, load_count[r]).
  const std::int32_t* load_block = nullptr;  // [rows, list_stride] block ids
  const std::int32_t* load_slot = nullptr;   // [rows, list_stride] slot indices
  const std::int32_t* load_count = nullptr;  // [rows]
  int rows = 0;           // batch * kv_heads; row r reads store sequence r / kv_heads
  int kv_heads = 0;
  int list_stride = 0;    // columns of load_block / load_slot
  int slots_per_row = 0;
  std::int64_t max_blocks = 0;  // blocks per (seq, kv_head) in the store
  int block_tokens = 64;
  int head_dim = 128;
  int n_ctas = 16;        // persistent CTAs (GPU); 16-32 saturate PCIe on the H100
  GatherPath path = GatherPath::sm_loads;  // GPU only; the CPU reference ignores it
  int bulk_stages = 0;    // bulk_copy: pieces in flight per CTA (0: as many as shared memory holds)
};

// bulk_copy's piece: the largest part of a block_bytes block that divides it
// into equal 16-byte multiples of at most 32 KiB (bytes).
constexpr std::int64_t kv_gather_piece_bytes(std::int64_t block_bytes) {
  for (std::int64_t n = (block_bytes + 32767) / 32768; n <= block_bytes / 16; ++n)
    if (block_bytes % n == 0 && (block_bytes / n) % 16 == 0) return block_bytes / n;
  return 16;
}

// Write-back of filled tail blocks: slot tail_slot of row r goes to store
// block writeback_block[r] (rows with -1 are skipped).
struct KvWritebackParams {
  const bf16* slots_k = nullptr;  // [batch, kv_heads, slots_per_row, block_tokens, head_dim]
  const bf16* slots_v = nullptr;
  bf16* store_k = nullptr;        // one layer: [seqs, kv_heads, max_blocks, block_tokens, head_dim]
  bf16* store_v = nullptr;
  const std::int32_t* writeback_block = nullptr;  // [rows], -1 = nothing to write
  int rows = 0;
  int kv_heads = 0;
  int slots_per_row = 0;
  int tail_slot = 0;
  std::int64_t max_blocks = 0;
  int block_tokens = 64;
  int head_dim = 128;
  int n_ctas = 16;
};

inline void validate_kv_gather(const KvGatherParams& p) {
  const char* op = "kv_gather";
  require_param(p.store_k && p.store_v && p.slots_k && p.slots_v, op, "store_*/slots_*", "must be set");
  require_param(p.load_block && p.load_slot && p.load_count, op, "load_*", "must be set");
  require_param(p.rows > 0 && p.kv_heads > 0 && p.rows % p.kv_heads == 0, op, "rows", "must be a positive multiple of kv_heads");
  require_param(p.list_stride > 0 && p.slots_per_row > 0 && p.max_blocks > 0, op, "list_stride/slots_per_row/max_blocks", "must be positive");
  require_param(p.block_tokens > 0 && p.head_dim > 0 && kv_block_bytes(p.block_tokens, p.head_dim) % 16 == 0, op,
                "block_tokens*head_dim", "must give a positive multiple of 16 bytes");
  require_param(p.n_ctas > 0, op, "n_ctas", "must be positive");
  require_param(p.bulk_stages >= 0, op, "bulk_stages", "must be >= 0");
}
inline void validate_kv_writeback(const KvWritebackParams& p) {
  const char* op = "kv_writeback";
  require_param(p.store_k && p.store_v && p.slots_k && p.slots_v && p.writeback_block, op,
                "store_*/slots_*/writeback_block", "must be set");
  require_param(p.rows > 0 && p.kv_heads > 0 && p.rows % p.kv_heads == 0, op, "rows", "must be a positive multiple of kv_heads");
  require_param(p.tail_slot >= 0 && p.tail_slot < p.slots_per_row, op, "tail_slot", "must be in [0, slots_per_row)");
  require_param(p.max_blocks > 0, op, "max_blocks", "must be positive");
  require_param(p.block_tokens > 0 && p.head_dim > 0 && kv_block_bytes(p.block_tokens, p.head_dim) % 16 == 0, op,
                "block_tokens*head_dim", "must give a positive multiple of 16 bytes");
  require_param(p.n_ctas > 0, op, "n_ctas", "must be positive");
}

void kv_gather_cpu(const KvGatherParams& p);
void kv_writeback_cpu(const KvWritebackParams& p);
#ifdef FORESIGHT_HAVE_CUDA
void kv_gather_cuda(const KvGatherParams& p, cudaStream_t stream);
void kv_writeback_cuda(const KvWritebackParams& p, cudaStream_t stream);
#endif

}  // namespace foresight::kernels

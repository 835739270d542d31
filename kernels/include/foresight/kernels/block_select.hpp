// Block selection: max-pool compressed scores onto 64-token blocks, force the
// sink and local-window blocks, take the top-k block ids per (batch, kv_head).
//
// Pooling (kernel 5, stride 4, padding 1 over compressed positions): with
// compression kernel 32 / stride 16, compressed key j covers tokens
// [16j, 16j + 32), and block b covers tokens [64b, 64b + 64). The compressed
// windows that overlap block b are exactly j in [4b - 1, 4b + 3] (window 4b-1
// covers its first 16 tokens, window 4b+3 its last 16 plus 16 of block b+1),
// which is max_pool1d(kernel 5, stride 4, padding 1) output b. So
//   pooled[b] = max over j in [4b - 1, 4b + 3] ∩ [0, n_comp) of score[j],
// and -inf where that set is empty (blocks newer than every full window).
// NaN scores count as -inf.
//
// Forced blocks: blocks [0, sink_blocks) and the last local_blocks blocks
// [n_blocks - local_blocks, n_blocks) (the current, partly filled block plus
// the local window) get +inf. MiniCPM4.1-8B: sink 1, local 2048/64 = 32.
//
// Top-k: the min(k, n_blocks) blocks with the largest pooled score; ties
// (including among +inf and -inf) go to the LOWER block id, so the result is
// deterministic. Output ids are sorted ascending, padded with -1.
#pragma once

#include <cstdint>

#include "foresight/kernels/param_check.hpp"

#include "foresight/kernels/cuda_stream.hpp"

namespace foresight::kernels {

struct BlockSelectParams {
  const float* scores = nullptr;           // [batch, kv_heads, max_comp] fp32 (block_score output)
  const std::int32_t* n_comp = nullptr;    // [batch], valid compressed positions
  const std::int32_t* n_blocks = nullptr;  // [batch], blocks = ceil(tokens / 64) incl. the partial one
  std::int32_t* selected = nullptr;        // [batch, kv_heads, k] block ids ascending, -1 padded
  int batch = 0;
  int kv_heads = 0;
  int max_comp = 0;
  int max_blocks = 0;   // >= every n_blocks[b]; GPU shared memory is 4 bytes per block (<= 16384)
  int k = 96;
  int sink_blocks = 1;
  int local_blocks = 32;
  int pool_kernel = 5;  // fixed pooling geometry, kept as fields so the contract is visible
  int pool_stride = 4;
  int pool_padding = 1;
};

inline void validate_block_select(const BlockSelectParams& p) {
  const char* op = "block_select";
  require_param(p.scores && p.n_comp && p.n_blocks && p.selected, op, "scores/n_comp/n_blocks/selected", "must be set");
  require_param(p.batch > 0 && p.kv_heads > 0 && p.max_comp >= 0, op, "batch/kv_heads/max_comp", "must be positive");
  require_param(p.k > 0, op, "k", "must be positive");
  require_param(p.max_blocks > 0 && p.max_blocks <= 16384, op, "max_blocks", "must be in [1, 16384]");
  require_param(p.sink_blocks >= 0 && p.local_blocks >= 0, op, "sink_blocks/local_blocks", "must be >= 0");
  require_param(p.pool_kernel > 0 && p.pool_stride > 0 && p.pool_padding >= 0, op, "pool_*", "must be positive");
}

// Pooled, forced score of block b (shared by the CPU reference and tests).
float pooled_block_score(const float* score_row, int n_comp, int n_blocks, int b,
                         const BlockSelectParams& p);

void block_select_cpu(const BlockSelectParams& p);
#ifdef FORESIGHT_HAVE_CUDA
void block_select_cuda(const BlockSelectParams& p, cudaStream_t stream);
#endif

}  // namespace foresight::kernels

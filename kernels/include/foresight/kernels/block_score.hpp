// Stage-1 block scoring: a selector vector against the compressed keys of its
// KV head. Compressed key j of a sequence is the mean of K over tokens
// [16j, 16j + 32) (see key_compress.hpp); scores are per compressed position.
//
// - block_score_forecast: SparDA. One Forecast vector per KV head; the score is
//   the raw dot product f . Kc[j] (no scale, no softmax).
// - block_score_query_group: the baselines' query-based selector. For every
//   query head h of GQA group g (h / (n_heads / kv_heads) == g), p_h = softmax
//   over j in [0, n_comp) of scale * q_h . Kc_g[j]; the group score is
//   sum over the group's heads of p_h[j] (so each row sums to group size).
//
// Positions j >= n_comp[b] of an output row are written as -inf.
// Inputs bf16, fp32 accumulation, fp32 output.
#pragma once

#include <cstddef>
#include <cstdint>

#include "foresight/kernels/bf16.hpp"
#include "foresight/kernels/param_check.hpp"

#include "foresight/kernels/cuda_stream.hpp"

namespace foresight::kernels {

struct BlockScoreParams {
  // Forecast: [batch, kv_heads, head_dim] (query: [batch, n_heads, head_dim]),
  // contiguous per batch row, sel_batch_stride elements between rows.
  const bf16* sel = nullptr;
  // Compressed keys: [batch, max_comp, kv_heads, head_dim], kc_batch_stride
  // elements between sequences (0 means max_comp * kv_heads * head_dim).
  const bf16* kc = nullptr;
  const std::int32_t* n_comp = nullptr;  // [batch], compressed keys per sequence (<= max_comp)
  float* scores = nullptr;               // [batch, kv_heads, max_comp] fp32
  int batch = 0;
  int kv_heads = 0;
  int n_heads = 0;  // query heads (query selector only); multiple of kv_heads
  int head_dim = 0; // multiple of 8 (16-byte vector loads on the GPU)
  int max_comp = 0;
  std::int64_t sel_batch_stride = 0;  // 0 means (kv_heads or n_heads) * head_dim
  std::int64_t kc_batch_stride = 0;
  float softmax_scale = 0.f;  // query selector; 0 means 1/sqrt(head_dim)
  // Query selector on the GPU only: scratch of query_group_workspace_bytes().
  void* workspace = nullptr;
};

// Chunk of compressed positions per CTA in the query selector's first pass.
constexpr int kQueryGroupChunk = 256;

// Bytes of GPU scratch block_score_query_group_cuda needs: logits
// [batch, n_heads, max_comp] and per-chunk (max, sum) [batch, n_heads, chunks, 2].
inline std::size_t query_group_workspace_bytes(const BlockScoreParams& p) {
  const std::size_t chunks = (static_cast<std::size_t>(p.max_comp) + kQueryGroupChunk - 1) / kQueryGroupChunk;
  const std::size_t rows = static_cast<std::size_t>(p.batch) * p.n_heads;
  return sizeof(float) * rows * (static_cast<std::size_t>(p.max_comp) + 2 * chunks);
}

// Throw std::invalid_argument naming the field when a size is inconsistent.
inline void validate_block_score(const BlockScoreParams& p, bool query_group) {
  const char* op = query_group ? "block_score_query_group" : "block_score_forecast";
  require_param(p.sel && p.kc && p.n_comp && p.scores, op, "sel/kc/n_comp/scores", "must be set");
  require_param(p.batch > 0 && p.kv_heads > 0 && p.max_comp >= 0, op, "batch/kv_heads/max_comp", "must be positive");
  require_param(p.head_dim > 0 && p.head_dim % 8 == 0, op, "head_dim", "must be a positive multiple of 8");
  if (query_group)
    require_param(p.n_heads > 0 && p.n_heads % p.kv_heads == 0, op, "n_heads", "must be a multiple of kv_heads");
}

void block_score_forecast_cpu(const BlockScoreParams& p);
void block_score_query_group_cpu(const BlockScoreParams& p);
#ifdef FORESIGHT_HAVE_CUDA
void block_score_forecast_cuda(const BlockScoreParams& p, cudaStream_t stream);
void block_score_query_group_cuda(const BlockScoreParams& p, cudaStream_t stream);
#endif

}  // namespace foresight::kernels

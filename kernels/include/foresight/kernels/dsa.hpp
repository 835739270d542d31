// DeepSeek-V3.2 sparse attention (DSA) decode path: the lightning indexer
// scores every cached token, the top-k tokens are selected, and their K/V
// rows are gathered into a contiguous buffer for attention.
//
// - indexer_score: score[b][t] = sum_h w[b][h] * ReLU(q_I[b][h] . k_I[b][t])
//   for t < n_tokens[b], -inf for t in [n_tokens[b], max_tokens).
// - token_select: per sequence, the take = min(topk, n_tokens[b]) tokens with
//   the largest score among t < n_tokens[b]; the first sink_tokens and the
//   last local_tokens tokens (the newest: t >= n_tokens[b] - local_tokens)
//   are always kept (they rank above every score, +inf included). Ranking is
//   by token_select_key (NaN counts as -inf, -0 as +0); ties go to the LOWER
//   token id, so CPU and GPU agree exactly. ids are sorted ascending, entries
//   [take, topk) are -1, count[b] = take.
// - token_gather: K and V rows of the selected tokens, from the KV store of
//   one layer (kv_gather.hpp's layout) into [batch, kv_heads, topk, head_dim],
//   which dense decode attention reads with max_tokens = topk, seq_len = count.
//
// Inputs bf16, fp32 accumulation, fp32 scores.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "foresight/kernels/bf16.hpp"
#include "foresight/kernels/param_check.hpp"

#include "foresight/kernels/cuda_stream.hpp"

namespace foresight::kernels {

struct IndexerScoreParams {
  const bf16* q = nullptr;        // [batch, heads, head_dim] indexer queries (q_batch_stride apart)
  const bf16* w = nullptr;        // [batch, heads] per-head weights (w_batch_stride apart)
  const bf16* k = nullptr;        // [batch, max_tokens, head_dim] indexer keys (one per cached token)
  const std::int32_t* n_tokens = nullptr;  // [batch], cached tokens per sequence (<= max_tokens)
  float* scores = nullptr;        // [batch, max_tokens] fp32
  int batch = 0;
  int heads = 4;                  // H_I (GPU: <= 16)
  int head_dim = 64;              // D_I, multiple of 8 (GPU: 8 * a power of two, <= 256)
  int max_tokens = 0;
  std::int64_t k_batch_stride = 0;  // elements between sequences of k; 0 means max_tokens * head_dim
  // Elements between sequences' q and w rows (a projection's output row
  // holds both): 0 means heads * head_dim and heads (packed). q's stride is a
  // multiple of 8 (16-byte loads).
  std::int64_t q_batch_stride = 0;
  std::int64_t w_batch_stride = 0;
};

struct TokenSelectParams {
  const float* scores = nullptr;           // [batch, max_tokens] (indexer_score output)
  const std::int32_t* n_tokens = nullptr;  // [batch], <= max_tokens
  std::int32_t* ids = nullptr;             // [batch, topk] token ids ascending, -1 padded
  std::int32_t* count = nullptr;           // [batch] = min(topk, n_tokens[b])
  int batch = 0;  // GPU: <= 65535
  int max_tokens = 0;
  int topk = 2048;
  int sink_tokens = 0;
  int local_tokens = 1;  // the current token is always attended
  void* workspace = nullptr;  // GPU only: token_select_workspace_bytes(p) bytes
};

struct TokenGatherParams {
  // KV store of one layer, K and V separately (kv_gather.hpp):
  // [seqs, kv_heads, max_blocks, block_tokens, head_dim], i.e. per (seq,
  // kv_head) max_tokens = max_blocks * block_tokens consecutive token rows.
  // Sequence b of the batch reads store sequence b. Device memory or mapped
  // pinned host memory (zero-copy; 16-byte loads, so 16-byte aligned).
  const bf16* store_k = nullptr;
  const bf16* store_v = nullptr;
  const std::int32_t* ids = nullptr;    // [batch, topk] (token_select output)
  const std::int32_t* count = nullptr;  // [batch]; entries [0, count[b]) of ids are gathered
  bf16* out_k = nullptr;  // [batch, kv_heads, topk, head_dim] (dense decode attention's K layout with
                          // max_tokens = topk); rows >= count[b] left untouched
  bf16* out_v = nullptr;
  int batch = 0;
  int topk = 2048;
  int kv_heads = 2;
  int head_dim = 128;            // multiple of 8 (16-byte rows)
  std::int64_t max_tokens = 0;   // token rows per (seq, kv_head) in the store
};

// Rank of a score in token_select: larger key, higher rank. Forced tokens get
// 0xffffffff, above +inf (0xff800000); NaN ranks as -inf, -0 as +0.
FORESIGHT_HD std::uint32_t token_select_key(float score, bool forced) {
  if (forced) return 0xffffffffu;
  if (score != score) score = -INFINITY;
  if (score == 0.f) score = 0.f;
  std::uint32_t u;
  std::memcpy(&u, &score, sizeof u);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// Token chunk of one CTA in the GPU token_select (also sizes its workspace).
constexpr int kTokenSelectChunk = 1024;

// GPU scratch of token_select_cuda, 32-bit words: per sequence a 2048-bin
// histogram plus 4 words of state (arrival counter, threshold prefix, rank),
// then per sequence and chunk two counts.
constexpr int kTokenSelectStateWords = 2048 + 4;
inline std::size_t token_select_chunks(const TokenSelectParams& p) {
  return (static_cast<std::size_t>(p.max_tokens) + kTokenSelectChunk - 1) / kTokenSelectChunk;
}
inline std::size_t token_select_workspace_bytes(const TokenSelectParams& p) {
  return sizeof(std::uint32_t) * static_cast<std::size_t>(p.batch) *
         (kTokenSelectStateWords + 2 * token_select_chunks(p));
}

inline void validate_indexer_score(const IndexerScoreParams& p) {
  const char* op = "indexer_score";
  require_param(p.q && p.w && p.k && p.n_tokens && p.scores, op, "q/w/k/n_tokens/scores", "must be set");
  require_param(p.batch > 0, op, "batch", "must be positive");
  require_param(p.heads > 0, op, "heads", "must be positive");
  require_param(p.head_dim > 0 && p.head_dim % 8 == 0, op, "head_dim", "must be a positive multiple of 8");
  require_param(p.max_tokens >= 0, op, "max_tokens", "must be >= 0");
  require_param(p.k_batch_stride == 0 || p.k_batch_stride >= std::int64_t{p.max_tokens} * p.head_dim, op,
                "k_batch_stride", "must be 0 or >= max_tokens * head_dim");
  require_param(p.q_batch_stride == 0 || (p.q_batch_stride >= std::int64_t{p.heads} * p.head_dim &&
                                          p.q_batch_stride % 8 == 0),
                op, "q_batch_stride", "must be 0 or a multiple of 8 >= heads * head_dim");
  require_param(p.w_batch_stride == 0 || p.w_batch_stride >= p.heads, op, "w_batch_stride",
                "must be 0 or >= heads");
}

// Strides of q and w rows with 0 resolved (IndexerScoreParams).
FORESIGHT_HD std::int64_t indexer_q_stride(const IndexerScoreParams& p) {
  return p.q_batch_stride ? p.q_batch_stride : std::int64_t{p.heads} * p.head_dim;
}
FORESIGHT_HD std::int64_t indexer_w_stride(const IndexerScoreParams& p) {
  return p.w_batch_stride ? p.w_batch_stride : p.heads;
}

inline void validate_token_select(const TokenSelectParams& p) {
  const char* op = "token_select";
  require_param(p.scores && p.n_tokens && p.ids && p.count, op, "scores/n_tokens/ids/count", "must be set");
  require_param(p.batch > 0, op, "batch", "must be positive");
  require_param(p.max_tokens >= 0, op, "max_tokens", "must be >= 0");
  require_param(p.topk > 0, op, "topk", "must be positive");
  require_param(p.sink_tokens >= 0, op, "sink_tokens", "must be >= 0");
  require_param(p.local_tokens >= 0, op, "local_tokens", "must be >= 0");
  require_param(std::int64_t{p.sink_tokens} + p.local_tokens <= p.topk, op, "sink_tokens + local_tokens",
                "must be <= topk");
}

inline void validate_token_gather(const TokenGatherParams& p) {
  const char* op = "token_gather";
  require_param(p.store_k && p.store_v && p.ids && p.count && p.out_k && p.out_v, op,
                "store_*/ids/count/out_*", "must be set");
  require_param(p.batch > 0, op, "batch", "must be positive");
  require_param(p.topk > 0, op, "topk", "must be positive");
  require_param(p.kv_heads > 0, op, "kv_heads", "must be positive");
  require_param(p.head_dim > 0 && p.head_dim % 8 == 0, op, "head_dim", "must be a positive multiple of 8");
  require_param(p.max_tokens > 0, op, "max_tokens", "must be positive");
}

void indexer_score_cpu(const IndexerScoreParams& p);
void token_select_cpu(const TokenSelectParams& p);
void token_gather_cpu(const TokenGatherParams& p);
#ifdef FORESIGHT_HAVE_CUDA
void indexer_score_cuda(const IndexerScoreParams& p, cudaStream_t stream);
void token_select_cuda(const TokenSelectParams& p, cudaStream_t stream);  // needs p.workspace
void token_gather_cuda(const TokenGatherParams& p, cudaStream_t stream);
#endif

}  // namespace foresight::kernels

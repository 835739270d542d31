// Dynamic sparse prefill (SparseAccelerate, issue #18), the facts a run, the
// simulator and the plan share: which prefill attention a run uses, what each
// of its ops costs (bytes, FLOPs), and how a recorded head's computed tiles
// grow with the prompt. The kernels' semantics: kernels/include/foresight/
// kernels/sparse_prefill.hpp.
//
// A layer of a dynamic-sparse prefill runs three ops where dense runs one
// (stage prefill_attention):
//   prefill_estimate          the last kSparsePrefillQueries queries' attention
//                             over every key, summed per head into key, offset
//                             and block-offset masses (GPU)
//   prefill_choose            the masses to the host, a pattern per query head
//                             (the fewest tiles reaching the target recall),
//                             lowered to tile lists and uploaded (host work the
//                             GPU waits for; OpKind::host)
//   prefill_sparse_attention  block-sparse causal attention over the tiles (GPU)
// and the whole prompt is one chunk (the estimate needs the prompt's last
// queries): prefill_chunk_tokens must cover the longest prompt.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "foresight/config/model.hpp"

namespace foresight::config {

// dense: cuDNN / mma causal attention. dynamic_sparse: per head the cheapest of
// the three patterns. The other three: every head gets that one pattern (its
// full-coverage form where the target recall is out of its reach).
enum class PrefillAttention : std::uint8_t { dense, dynamic_sparse, triangular, interval_slash, block_cluster };

const char* to_string(PrefillAttention a);  // "dense", "dynamic-sparse", "triangular", ...
// Throws ConfigError naming `field` (and listing the names) for an unknown name.
PrefillAttention parse_prefill_attention(const std::string& s, const std::string& field);
std::vector<std::string> prefill_attention_names();
inline bool prefill_is_sparse(PrefillAttention a) { return a != PrefillAttention::dense; }
// The pattern kinds choose_sparse_prefill may try: bit (1 << kind), kinds
// numbered as kernels::SparsePatternKind (0 triangular, 1 interval-slash,
// 2 block-cluster); 0 for dense.
unsigned prefill_pattern_kinds(PrefillAttention a);
// Name of a recorded pattern kind (trace::PrefillPattern::kind): "triangular",
// "interval-slash", "block-cluster"; "unknown" past them.
const char* prefill_pattern_name(std::uint8_t kind);
inline constexpr std::uint8_t kPrefillPatternKinds = 3;

inline constexpr std::int64_t kSparsePrefillBlock = 64;    // tokens per query and key tile
inline constexpr int kSparsePrefillQueries = 64;           // queries the estimate reads (the last ones)
inline constexpr int kSparsePrefillEstimateTilesPerSplit = 16;  // key tiles per CTA of the GPU estimate

inline std::int64_t prefill_query_blocks(std::int64_t tokens) {
  return (tokens + kSparsePrefillBlock - 1) / kSparsePrefillBlock;
}
// Tiles of dense causal attention of one head over `tokens` (Q (Q + 1) / 2).
inline std::int64_t dense_prefill_tiles(std::int64_t tokens) {
  const std::int64_t q = prefill_query_blocks(tokens);
  return q * (q + 1) / 2;
}
// Scratch of the GPU estimate, fp32 floats: a (max, sum) per head, estimated
// query and split of kSparsePrefillEstimateTilesPerSplit key tiles
// (2 x n_heads x 64 x splits; 2 MiB for 32 heads at 128K).
inline std::int64_t prefill_estimate_scratch_floats(int n_heads, std::int64_t tokens) {
  const std::int64_t splits =
      (prefill_query_blocks(tokens) + kSparsePrefillEstimateTilesPerSplit - 1) / kSparsePrefillEstimateTilesPerSplit;
  return 2 * std::int64_t{n_heads} * kSparsePrefillQueries * splits;
}

struct PrefillOpCost {
  std::uint64_t bytes = 0;
  std::uint64_t flops = 0;
};
// One layer, one sequence of `tokens` prompt tokens (all heads):
//   estimate:  reads every key (n_kv_heads x tokens x head_dim) and the last
//              queries, writes fp32 key and offset masses [n_heads, tokens];
//              FLOPs 4 x queries x tokens x n_heads x head_dim (scores twice:
//              row maxima, then masses)
//   choose:    the masses down (2 x n_heads x tokens x 4 B) and the tile list
//              up (tiles x 4 B); no FLOPs (host work)
//   attention: per computed tile (64 x 64 of one head) Q.K and P.V, 4 x 64 x 64
//              x head_dim FLOPs, and its K and V rows; Q and O once
PrefillOpCost prefill_estimate_cost(const ModelConfig& m, std::int64_t tokens);
PrefillOpCost prefill_choose_cost(const ModelConfig& m, std::int64_t tokens, std::uint64_t tiles);
PrefillOpCost prefill_sparse_attention_cost(const ModelConfig& m, std::int64_t tokens, std::uint64_t tiles);

// GPU memory of a sparse prefill of `tokens` tokens (one sequence, reused by
// every layer): the estimate's fp32 masses (key and offset [n_heads, tokens],
// block offset [n_heads, Q]) and its scratch (prefill_estimate_scratch_floats), and
// the largest lowered layout (every head dense: n_heads x Q (Q + 1) / 2 tile
// entries of 4 B, tile offsets n_heads x Q + 1 of 8 B, column lists up to
// n_heads x tokens of 4 B and offsets, column and slash bit sets 2 x n_heads
// x Q words of 8 B, per-head rules 12 B).
std::uint64_t prefill_sparse_bytes(const ModelConfig& m, std::int64_t tokens);

// How a recorded head's tiles change at another prompt length, where the
// run would choose its pattern again for the same target recall:
//   share     it keeps its share of the causal tiles: tiles x D(to) / D(from),
//             D = dense_prefill_tiles. Attention spread over the whole
//             context (random-like scores, as synthetic weights give) needs
//             the same share of the keys for the same recall at any length;
//             measured on the H100 with MiniCPM4.1-8B shapes, the share at
//             recall 0.8 stayed 0.64-0.66 from 16K to 128K.
//   patterns  it keeps its pattern's absolute extents (sink and band widths,
//             columns, slash offsets, cluster blocks, local width: the
//             structure of a trained model's heads), so its tiles per query
//             block stay fixed: tiles x Q(to) / Q(from). SmolLM2-135M (real
//             weights) lies between: 24.4% of the tiles at 4K, 14.9% at 8K.
// Both at most dense; a head that fell back to full coverage stays dense.
enum class PrefillGrowth : std::uint8_t { share, patterns };
const char* to_string(PrefillGrowth g);  // "share", "patterns"
PrefillGrowth parse_prefill_growth(const std::string& s, const std::string& field);
std::uint64_t scaled_prefill_tiles(std::uint64_t tiles, bool full_coverage, std::int64_t from_tokens,
                                   std::int64_t to_tokens, PrefillGrowth growth = PrefillGrowth::share);

}  // namespace foresight::config

// Workload model: synthetic block-selection streams with stated locality.
// Shared by the synthesizer (sim/) and the runtime's --selections workload
// mode (runtime/), so it lives beside the trace contract. Semantics, defaults
// and their sources: docs/workload-model.md.
//
// For each (layer, seq, kv_head) and decode step t it yields k = min(topk,
// n_blocks) distinct block ids in [0, n_blocks), n_blocks = ceil((context + t
// + 1) / block_tokens). When n_blocks <= topk every block is selected.
// Otherwise the sink blocks [0, sink) and the local window (the last `window`
// blocks, current block included) are always selected (forced); the other
// r = k - forced picks ("free picks") are, in order:
//   kept:   round(reuse * r) blocks from the previous step's selection of the
//           same stream (those not forced now), those that layer l-1 also
//           selects at this step first, then uniformly among the others;
//   copied: round(cross_layer * (r - kept)) blocks drawn uniformly from layer
//           l-1's selection at the same step (not forced, not in this
//           stream's previous selection);
//   zipf:   the rest, drawn from Zipf(zipf_s) over a fixed random permutation
//           of the sequence's blocks (rank i has weight 1/(i+1)^zipf_s),
//           never a block of the previous selection or of layer l-1's.
// round() is stochastic rounding (floor(x) + [u < frac(x)]), so in
// expectation exactly a fraction `reuse` of the free picks stays from one step
// to the next and a fraction `cross_layer` of the fresh ones is shared with
// layer l-1. (When too few candidate blocks remain, the exclusions are relaxed:
// first layer l-1's blocks, then the previous selection's.)
//
// Deterministic in `seed`: every draw comes from a splitmix64 stream seeded by
// hashing (seed, step, layer, seq, kv_head), so the output does not depend on
// how calls of different streams interleave, nor on the standard library.
#pragma once

#include <cstdint>
#include <vector>

#include "foresight/config/model.hpp"
#include "foresight/config/run.hpp"

namespace foresight::workload {

struct SelectionModelParams {
  std::int64_t topk_blocks = 96;    // selected blocks per (layer, seq, kv_head), forced included
  std::int64_t sink_blocks = 1;     // always-selected leading blocks
  std::int64_t window_blocks = 32;  // always-selected trailing blocks (current block included)
  std::int64_t block_tokens = 64;   // tokens per block
  config::WorkloadConfig locality;  // reuse, cross_layer, zipf_s
  std::uint64_t seed = 1;
};

class SelectionModel {
 public:
  // context_tokens: [batch] prompt length of each sequence (tokens, >= 0).
  // Throws std::invalid_argument naming the field if a value is out of range.
  SelectionModel(const SelectionModelParams& p, std::int64_t n_layers,
                 std::int64_t n_kv_heads, std::vector<std::int64_t> context_tokens);

  // Selection of decode step `step` (0-based; the sequence then holds
  // context_tokens[seq] + step + 1 tokens, the new one included). Each
  // (layer, seq, kv_head) stream must be called for steps 0, 1, 2, ... in
  // order, and layer l-1's call of a step must precede layer l's (e.g. all
  // streams of step t before step t+1, layers ascending); otherwise
  // std::logic_error. Returns ids sorted ascending; the reference stays valid
  // until the next call for the same stream.
  const std::vector<std::uint32_t>& next(std::int32_t step, std::int32_t layer,
                                         std::int32_t seq, std::int32_t kv_head);

  std::int64_t n_blocks(std::int32_t seq, std::int32_t step) const;
  // Whether `block` is forced (sink or local window) at (seq, step); when
  // n_blocks <= topk every block is.
  bool forced(std::int32_t seq, std::int32_t step, std::uint32_t block) const;

  const SelectionModelParams& params() const { return p_; }

 private:
  struct Rng;
  std::size_t stream_index(std::int32_t layer, std::int32_t seq, std::int32_t kv_head) const;
  std::uint32_t rank_to_block(std::int32_t seq, std::uint64_t rank) const;
  void extend_zipf(std::int64_t n);

  SelectionModelParams p_;
  std::int64_t n_layers_, n_kv_heads_;
  std::vector<std::int64_t> context_;
  std::vector<std::vector<std::uint32_t>> sel_;  // [(layer*seqs+seq)*heads+head] last selection
  std::vector<std::int32_t> last_step_;          // same index; -1 = none yet
  std::vector<std::vector<std::uint32_t>> perm_; // [seq] popularity rank -> block (first blocks)
  std::vector<double> zipf_cdf_;                 // [rank] prefix sums of 1/(i+1)^s
  std::vector<std::uint64_t> mark_;              // [block] per-call membership stamps
  std::uint64_t stamp_ = 0;
  std::vector<std::uint32_t> out_, pool_;        // scratch
};

}  // namespace foresight::workload

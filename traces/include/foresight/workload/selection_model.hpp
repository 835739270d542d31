// Workload model: synthetic block-selection streams with stated locality.
// Shared by the synthesizer (sim/) and the runtime's --selections workload
// mode (runtime/), so it lives beside the trace contract.
//
// For each (layer, seq, kv_head) and decode step it yields `topk` distinct
// block ids in [0, n_blocks(step)): the sink blocks and the local window are
// always selected; of the remaining picks a fraction `reuse` is kept from the
// previous step's selection of the same (layer, seq, kv_head), a fraction
// `cross_layer` of the fresh picks is copied from layer l-1's selection at the
// same step, and the rest is drawn from a Zipf(zipf_s) popularity over blocks
// (a fixed random permutation per sequence). Deterministic in `seed`.
#pragma once

#include <cstdint>
#include <vector>

#include "foresight/config/model.hpp"
#include "foresight/config/run.hpp"

namespace foresight::workload {

struct SelectionModelParams {
  std::int64_t topk_blocks = 96;
  std::int64_t sink_blocks = 1;
  std::int64_t window_blocks = 32;
  std::int64_t block_tokens = 64;
  config::WorkloadConfig locality;
  std::uint64_t seed = 1;
};

class SelectionModel {
 public:
  SelectionModel(const SelectionModelParams& p, std::int64_t n_layers,
                 std::int64_t n_kv_heads, std::vector<std::int64_t> context_tokens);

  // Selection of decode step `step` (0-based; the sequence then holds
  // context_tokens[seq] + step tokens). Must be called in order: all
  // (layer, seq, head) of step t before step t+1, layers ascending within a
  // step. Returns ids sorted ascending, size min(topk, n_blocks).
  const std::vector<std::uint32_t>& next(std::int32_t step, std::int32_t layer,
                                         std::int32_t seq, std::int32_t kv_head);

  std::int64_t n_blocks(std::int32_t seq, std::int32_t step) const;

 private:
  struct State;
  SelectionModelParams p_;
  std::int64_t n_layers_, n_kv_heads_;
  std::vector<std::int64_t> context_;
  std::vector<std::vector<std::uint32_t>> prev_;  // [(layer*seqs+seq)*heads+head]
  std::vector<std::uint32_t> out_;
  std::vector<std::uint64_t> rng_;                 // per-sequence RNG state
};

}  // namespace foresight::workload

// A trace's recorded token selections (DSA modes, Trace::token_keys): an
// index by (step, layer, sequence), the tokens each simulated sequence
// gathers per step, and their replay through an L2 reservation.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "foresight/config/scenario.hpp"
#include "foresight/trace/metrics.hpp"
#include "foresight/trace/schema.hpp"

namespace foresight::sim {

// Row of each recorded (step, layer, seq) and where its ids start.
struct TokenIndex {
  std::int32_t layers = 0, seqs = 0, steps = 0;  // steps: max step + 1
  std::vector<std::int64_t> row;      // [(step * layers + layer) * seqs + seq] row, -1 if none
  std::vector<std::size_t> first;     // [row] index of its first id in Trace::token_ids
  // Throws std::invalid_argument for a repeated (step, layer, seq) or when
  // steps * layers * seqs exceeds 2^27 (a malformed trace).
  static TokenIndex build(const trace::Trace& t);
  bool empty() const { return first.empty(); }
  // The ids of (step, layer, seq); empty if none was recorded.
  std::span<const std::uint32_t> ids(const trace::Trace& t, std::int32_t step, std::int32_t layer,
                                     std::int32_t seq) const;
};

// Tokens gathered per (decode step, layer) by a batch whose sequence i
// replays recorded sequence seq_map[i]: CacheOutcome rows with selected =
// misses = tokens (the packed buffer is rebuilt every step: no GPU token
// cache), hits 0, loaded_bytes = tokens * token_bytes.
std::vector<trace::CacheOutcome> token_gather_outcomes(const trace::Trace& t, const TokenIndex& idx,
                                                       const std::vector<std::int32_t>& seq_map,
                                                       std::uint64_t token_bytes);

// L2 outcomes of the recorded token selections, accessed step by step,
// layer by layer, sequence by sequence (the gather's order), through a
// reservation of `reserve_bytes` under `policy`: lru, token-lru and opt keep
// tokens (entries of token_bytes: K and V of every KV head); block-lru keeps
// the blocks of block_tokens tokens holding selected tokens (entries of
// block_tokens * token_bytes), and a hit serves the selected tokens in it.
// Throws std::invalid_argument if a key field does not fit its bits.
std::vector<trace::L2Outcome> l2_token_outcomes(const trace::Trace& t, const TokenIndex& idx,
                                                const std::vector<std::int32_t>& seq_map,
                                                std::int64_t reserve_bytes, config::L2Policy policy,
                                                std::uint64_t token_bytes, std::int64_t block_tokens);

}  // namespace foresight::sim

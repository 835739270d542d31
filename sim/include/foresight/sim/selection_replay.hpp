// Replays a trace's recorded block selections through a GPU block cache
// (sim/cache_policy.hpp) to get misses per (step, layer): the H2D bytes of a
// what-if. Outcomes are kept per recorded (layer, sequence) stream so a batch
// resampled from the recorded sequences costs no extra replay.
#pragma once

#include <cstdint>
#include <vector>

#include "foresight/config/run.hpp"
#include "foresight/trace/schema.hpp"

namespace foresight::sim {

// Rows of Trace::selection_keys grouped by (layer, seq, kv_head), in step order.
struct SelectionIndex {
  std::int32_t layers = 0, seqs = 0, heads = 0, steps = 0;  // steps: max step + 1
  std::vector<std::vector<std::uint32_t>> rows;              // [(layer*seqs+seq)*heads+head]
  static SelectionIndex build(const trace::Trace& t);
  bool empty() const { return rows.empty(); }
};

// Hits and misses summed over KV heads, [(layer * seqs + seq) * steps + step].
struct StreamOutcomes {
  std::int32_t layers = 0, seqs = 0, steps = 0;
  std::vector<std::uint32_t> hits, misses;
};

// `capacity`: slots per (layer, KV head) excluding the tail slot. Layers for
// which `replay_layer[l]` is false are skipped (left at zero). Throws
// std::invalid_argument if capacity < a selection's size.
StreamOutcomes replay_selections(const trace::Trace& t, const SelectionIndex& idx,
                                 config::Eviction policy, std::int64_t capacity,
                                 const std::vector<bool>& replay_layer);

// Cache outcomes per (step, layer) for a batch whose sequence i replays the
// recorded sequence seq_map[i]; only layers with replay_layer[l].
std::vector<trace::CacheOutcome> aggregate_outcomes(const StreamOutcomes& o,
                                                    const std::vector<std::int32_t>& seq_map,
                                                    const std::vector<bool>& replay_layer,
                                                    std::uint64_t block_bytes);

}  // namespace foresight::sim

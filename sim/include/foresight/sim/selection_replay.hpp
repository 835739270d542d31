// Replays a trace's recorded block selections through a GPU block cache
// (sim/cache_policy.hpp) to get misses per (step, layer): the H2D bytes of a
// what-if. Outcomes are kept per recorded (layer, sequence) stream so a batch
// resampled from the recorded sequences costs no extra replay.
#pragma once

#include <cstdint>
#include <span>
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

// Layers whose block cache is replayed: every layer of a mode that selects
// blocks, layer 0 of the Forecast modes included. The runtime runs its working
// set on that layer too (its KV is resident, so misses are device-to-device
// copies, not H2D) and records its outcomes, so cache.hit_rate compares like
// with like, and the schedule gathers there too (config::decode_layer_plan).
std::vector<bool> cache_layers(config::Mode mode, std::int64_t n_layers);

// Block in the tail slot of a sequence at decode step `step` (the runtime's
// rule): the block of the token decoded then, position context_tokens - 1 +
// step; -1 when that position is negative.
std::int64_t tail_block(std::int64_t context_tokens, std::int32_t step, std::int64_t block_tokens);

// `capacity`: regular slots per (layer, seq, KV head), excluding the tail
// slot. As in the runtime's working set (kernels/working_set.hpp), a selected
// block equal to the tail block of (seq, step) (from header
// run.context_tokens[seq] and model.sparse.block_tokens) is served by the tail
// slot: it counts as a hit and never enters the cache (no lookup, no insert,
// no change to the policy's state); every other selected block goes through
// the cache. Layers for which `replay_layer[l]` is false are skipped (left at
// zero). `sparda` at capacity == run.topk_blocks is the runtime's exact
// variant (victims by slot index); `sparda` above it and `lru` at any capacity
// are the runtime's LRU variant (oldest last-selected step, ties by lowest
// slot index), so a replay of recorded selections gives the runtime's hits.
// Throws std::invalid_argument if capacity < a selection's size, or the
// header lacks a sequence's context or a positive block_tokens.
StreamOutcomes replay_selections(const trace::Trace& t, const SelectionIndex& idx,
                                 config::Eviction policy, std::int64_t capacity,
                                 const std::vector<bool>& replay_layer);

// The policy whose replay_selections gives the same outcomes as `policy` at
// `capacity` with run.topk_blocks `topk`, so replays can be shared: lru is
// sparda's rule except at capacity == topk (where sparda is the exact
// variant); every other policy is itself.
config::Eviction replay_equivalent(config::Eviction policy, std::int64_t capacity, std::int64_t topk);

// The policy-independent part of replay_selections: each row's selected
// blocks minus the one the tail slot serves, stored stream after stream
// (SelectionIndex::rows order) so a replay reads them sequentially; built
// once and shared by the replays of every policy and capacity. Throws as
// replay_selections does for the header.
struct SelectionStreams {
  std::vector<std::uint32_t> blocks;       // cache-bound block ids, row after row
  std::vector<std::size_t> row_begin;      // per row position p (plus one end) into blocks
  std::vector<std::uint8_t> tail_hit;      // per row position: 1 if the tail slot served one block
  std::vector<std::size_t> stream_begin;   // per SelectionIndex::rows entry (plus one end): first position
  static SelectionStreams build(const trace::Trace& t, const SelectionIndex& idx);
  std::span<const std::uint32_t> row(std::size_t p) const {
    return {blocks.data() + row_begin[p], row_begin[p + 1] - row_begin[p]};
  }
};
// replay_selections with the streams of `t` already built.
StreamOutcomes replay_selections(const SelectionIndex& idx, const SelectionStreams& streams,
                                 const trace::Trace& t, config::Eviction policy,
                                 std::int64_t capacity, const std::vector<bool>& replay_layer);

// Cache outcomes per (step, layer) for a batch whose sequence i replays the
// recorded sequence seq_map[i]; only layers with replay_layer[l].
std::vector<trace::CacheOutcome> aggregate_outcomes(const StreamOutcomes& o,
                                                    const std::vector<std::int32_t>& seq_map,
                                                    const std::vector<bool>& replay_layer,
                                                    std::uint64_t block_bytes);

}  // namespace foresight::sim

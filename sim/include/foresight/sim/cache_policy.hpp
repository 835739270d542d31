// GPU block-cache replay for one (layer, KV head) stream of selections.
// Capacity is in blocks; the tail slot being written is outside `capacity`.
//
//   sparda: exactly `capacity` >= topk slots; a slot whose block left the
//           selection is reused for a newly selected block (no recency).
//   lru / lfu / fifo / arc: classic policies over `capacity` slots; every
//           selected block must be resident for the step, so capacity >= topk.
//   opt:    Belady's MIN using the future of the same stream (needs the whole
//           stream up front); no policy can beat its hit count.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "foresight/config/run.hpp"

namespace foresight::sim {

struct AccessOutcome {
  std::uint32_t hits = 0;
  std::uint32_t misses = 0;  // blocks loaded this step
};

class BlockCache {
 public:
  virtual ~BlockCache() = default;
  // One step's selection (distinct ids, any order). Loads the misses, evicting
  // as the policy says, and returns the counts.
  virtual AccessOutcome access(std::span<const std::uint32_t> selection) = 0;
};

// `future` is the whole selection stream of this (layer, head), one vector per
// step; only `opt` reads it (others may pass {}). Throws std::invalid_argument
// if capacity < largest selection.
std::unique_ptr<BlockCache> make_block_cache(
    config::Eviction policy, std::int64_t capacity,
    std::span<const std::vector<std::uint32_t>> future = {});

}  // namespace foresight::sim

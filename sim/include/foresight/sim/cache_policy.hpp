// GPU block-cache replay for one (layer, KV head) stream of selections.
// Capacity is in blocks; the tail slot being written is outside `capacity`.
// Every policy keeps ALL blocks of the current step's selection resident at
// once (attention reads them together), so capacity >= selection size and no
// eviction ever takes a block of the current selection. Within a step, hits
// are processed first (in selection order), then victims are evicted, then the
// misses are loaded (in selection order).
//
//   sparda: exactly `capacity` >= topk slots; a slot whose block left the
//           selection is reused for a newly selected block. Empty slots are
//           filled first (slot order); then the victim is the resident block
//           unselected for the longest time (oldest last-selected step), ties
//           by lowest slot index. With capacity == topk (SparDA's own
//           scheme) this is pure overlap: hits = |S_t ∩ S_{t-1}|.
//   lru:    least recently used; after a step its whole selection is the most
//           recent, in selection order (hits and misses alike), so the order
//           does not depend on capacity: LRU is a stack algorithm and its hits
//           never fall when capacity grows.
//   lfu:    least frequently used, counting accesses while resident (the
//           count restarts at 1 when a block is reloaded); ties by LRU.
//   fifo:   oldest load first; hits do not refresh; blocks of the current
//           selection are skipped (they keep their place in the queue).
//   arc:    Megiddo & Modha's ARC (FAST 2003) with ghost lists B1/B2 of
//           capacity c each and an integer target p (delta = max(1, |B_other|
//           / |B_this|), integer division). Adaptation: hits of a step are
//           processed first; if REPLACE's preferred list (T1 or T2) has its LRU
//           block in the current selection, the LRU of the other list is
//           evicted instead (one of the two is always unselected: see
//           cache_arc.cpp).
//   opt:    Belady's MIN using the future of the same stream (needs the whole
//           stream up front): evict the unselected resident block whose next
//           use is farthest (never = farthest), ties by higher block id. With
//           set requests this is still optimal (exchange argument; tests
//           compare it with an exhaustive search); no policy beats its hits.
//
// Cost per step: O(selection) for lru/fifo/lfu/arc (amortised), and
// O(selection + misses * log capacity) for sparda and O(selection * log
// capacity) for opt. State lives in flat arrays indexed by block id (grown to
// the largest id seen); nothing is allocated per access once they have grown.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "foresight/config/run.hpp"

namespace foresight::sim {

// Block ids must be below this (flat per-block arrays; 2^24 blocks of 64
// tokens is a 1G-token context).
inline constexpr std::uint32_t kMaxBlockId = 1u << 24;

struct AccessOutcome {
  std::uint32_t hits = 0;
  std::uint32_t misses = 0;  // blocks loaded this step
};

class BlockCache {
 public:
  virtual ~BlockCache() = default;
  // One step's selection (distinct ids < kMaxBlockId, any order). Loads the
  // misses, evicting as the policy says, and returns the counts. Throws
  // std::invalid_argument (state unchanged) if the selection is larger than
  // the capacity, has a duplicate or an id out of range; `opt` also throws if
  // it differs from the next step of the stream it was built with.
  virtual AccessOutcome access(std::span<const std::uint32_t> selection) = 0;
  // Whether `block` is resident now.
  virtual bool resident(std::uint32_t block) const = 0;
  // Number of resident blocks (<= capacity).
  virtual std::int64_t resident_count() const = 0;
  virtual std::int64_t capacity() const = 0;
};

// `future` is the whole selection stream of this (layer, head), one vector per
// step; only `opt` reads it (others may pass {}; when given, it is checked).
// Throws std::invalid_argument if capacity < 1 or capacity < the largest
// selection of `future`.
std::unique_ptr<BlockCache> make_block_cache(
    config::Eviction policy, std::int64_t capacity,
    std::span<const std::vector<std::uint32_t>> future = {});

// Replays a whole stream through a fresh cache: one outcome per step.
std::vector<AccessOutcome> replay_stream(config::Eviction policy, std::int64_t capacity,
                                         std::span<const std::vector<std::uint32_t>> stream);

}  // namespace foresight::sim

// SparDA's working set: `capacity` slots and a block map. A slot whose block
// is not in the current selection may take a newly selected block. Slots are
// filled in index order and never emptied afterwards (an eviction refills the
// slot at once), so the empty slots are [used_, capacity) and are created on
// first use. Once full, the
// victims are the unselected slots with the oldest last-selected step, ties by
// lowest slot index. With capacity == |selection| every unselected slot is
// replaced, which is exactly SparDA's diff against the block map.
#include <algorithm>

#include "cache_detail.hpp"

namespace foresight::sim::detail {
namespace {

class SpardaCache final : public CacheBase {
 public:
  explicit SpardaCache(std::int64_t capacity)
      : CacheBase(capacity) {
    const auto reserve = static_cast<std::size_t>(std::min<std::int64_t>(capacity, 4096));
    slot_block_.reserve(reserve);
    slot_last_.reserve(reserve);
    victims_.reserve(reserve);
  }

  AccessOutcome access(std::span<const std::uint32_t> sel) override {
    begin_step(sel);
    ++step_;
    AccessOutcome o;
    for (std::uint32_t b : sel)
      if (block_slot_[b] != kNone) {
        slot_last_[block_slot_[b]] = step_;
        ++o.hits;
      }
    o.misses = static_cast<std::uint32_t>(sel.size()) - o.hits;
    if (o.misses == 0) return o;

    // Slots the misses go to, in order: empty slots, then victims.
    const std::uint32_t n_empty = std::min<std::uint32_t>(
        o.misses, static_cast<std::uint32_t>(capacity_) - used_);
    victims_.clear();
    if (o.misses > n_empty) {
      for (std::uint32_t s = 0; s < used_; ++s)
        if (slot_last_[s] != step_) victims_.push_back(s);
      const std::size_t need = o.misses - n_empty;
      if (victims_.size() < need) invariant_failed("sparda found too few unselected slots");
      if (victims_.size() > need) {
        auto older = [this](std::uint32_t a, std::uint32_t b) {
          return slot_last_[a] != slot_last_[b] ? slot_last_[a] < slot_last_[b] : a < b;
        };
        std::partial_sort(victims_.begin(), victims_.begin() + static_cast<std::ptrdiff_t>(need),
                          victims_.end(), older);
        victims_.resize(need);
      }
    }
    std::size_t next_victim = 0;
    for (std::uint32_t b : sel) {
      if (block_slot_[b] != kNone) continue;
      std::uint32_t s;
      if (used_ < capacity_) {  // slots are created on first use
        s = used_++;
        slot_block_.push_back(kNone);
        slot_last_.push_back(0);
      } else {
        s = victims_[next_victim++];
        block_slot_[slot_block_[s]] = kNone;
      }
      slot_block_[s] = b;
      slot_last_[s] = step_;
      block_slot_[b] = s;
    }
    return o;
  }
  bool resident(std::uint32_t b) const override {
    return b < block_slot_.size() && block_slot_[b] != kNone;
  }
  std::int64_t resident_count() const override { return used_; }

 private:
  void grow_blocks(std::size_t n) override { block_slot_.resize(n, kNone); }

  std::vector<std::uint32_t> slot_block_;  // [used_] block held, kNone = empty
  std::vector<std::uint32_t> slot_last_;   // [used_] last step its block was selected
  std::vector<std::uint32_t> block_slot_;  // [block id] slot, kNone = not resident
  std::vector<std::uint32_t> victims_;     // scratch
  std::uint32_t used_ = 0;
  std::uint32_t step_ = 0;  // steps seen (1-based; 0 = never)
};

}  // namespace

std::unique_ptr<BlockCache> make_sparda_cache(std::int64_t capacity) {
  return std::make_unique<SpardaCache>(capacity);
}

}  // namespace foresight::sim::detail

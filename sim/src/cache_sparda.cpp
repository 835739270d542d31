// SparDA's working set: `capacity` slots and a block map. A slot whose block
// is not in the current selection may take a newly selected block. Slots are
// filled in index order and never emptied afterwards (an eviction refills the
// slot at once), so the empty slots are [used_, capacity); they are created on
// first use. Once full, the victims are the unselected slots with the oldest
// last-selected step, ties by lowest slot index. With capacity == |selection|
// every unselected slot is replaced, which is exactly SparDA's diff against
// the block map.
//
// Victims come from a min-heap of (last-selected step, slot), pushed when a
// slot leaves the selection. Entries go stale when the slot is selected again
// (its last step changes) and are dropped when they reach the top, so a step
// costs O((selection + misses) log capacity), not O(capacity).
//
// by_slot variant (the runtime's exact working set, used when capacity equals
// the top-k: kernels/working_set.hpp): once full, victims are the unselected
// slots in slot-index order, whatever their age. It differs from the default
// only when a step has more unselected slots than misses, e.g. when the tail
// slot serves one of the top-k blocks and one regular slot keeps a stale block.
// Its heap orders (slot, last-selected step) instead.
#include <algorithm>
#include <functional>

#include "cache_detail.hpp"

namespace foresight::sim::detail {
namespace {

class SpardaCache final : public CacheBase {
 public:
  SpardaCache(std::int64_t capacity, bool by_slot) : CacheBase(capacity), by_slot_(by_slot) {
    const auto reserve = static_cast<std::size_t>(std::min<std::int64_t>(capacity, 4096));
    slot_block_.reserve(reserve);
    slot_last_.reserve(reserve);
    prev_slots_.reserve(reserve);
    cur_slots_.reserve(reserve);
  }

  AccessOutcome access(std::span<const std::uint32_t> sel) override {
    begin_step(sel);
    ++step_;
    AccessOutcome o;
    cur_slots_.clear();
    for (std::uint32_t b : sel)
      if (block_slot_[b] != kNone) {
        slot_last_[block_slot_[b]] = step_;
        cur_slots_.push_back(block_slot_[b]);
        ++o.hits;
      }
    o.misses = static_cast<std::uint32_t>(sel.size()) - o.hits;
    for (std::uint32_t s : prev_slots_)  // slots that just left the selection
      if (slot_last_[s] != step_) push(slot_last_[s], s);
    if (heap_.size() > 4 * static_cast<std::size_t>(used_) + 1024) compact();
    for (std::uint32_t b : sel) {
      if (block_slot_[b] != kNone) continue;
      std::uint32_t s;
      if (used_ < capacity_) {
        s = used_++;
        slot_block_.push_back(kNone);
        slot_last_.push_back(0);
      } else {
        s = pop_victim();
        block_slot_[slot_block_[s]] = kNone;
      }
      slot_block_[s] = b;
      slot_last_[s] = step_;
      block_slot_[b] = s;
      cur_slots_.push_back(s);
    }
    prev_slots_.swap(cur_slots_);
    return o;
  }
  bool resident(std::uint32_t b) const override {
    return b < block_slot_.size() && block_slot_[b] != kNone;
  }
  std::int64_t resident_count() const override { return used_; }

 private:
  void grow_blocks(std::size_t n) override { block_slot_.resize(n, kNone); }

  // Heap entries: (last << 32 | slot), or (slot << 32 | last) when by_slot_.
  std::uint64_t entry(std::uint32_t last, std::uint32_t slot) const {
    return by_slot_ ? (std::uint64_t{slot} << 32 | last) : (std::uint64_t{last} << 32 | slot);
  }
  std::uint32_t entry_slot(std::uint64_t e) const {
    return static_cast<std::uint32_t>(by_slot_ ? e >> 32 : e);
  }
  std::uint32_t entry_last(std::uint64_t e) const {
    return static_cast<std::uint32_t>(by_slot_ ? e : e >> 32);
  }
  void push(std::uint32_t last, std::uint32_t slot) {
    heap_.push_back(entry(last, slot));
    std::push_heap(heap_.begin(), heap_.end(), std::greater<>());
  }
  // Oldest (last step, slot) whose entry is still current: that slot has not
  // been selected since, so it is not in the current selection.
  std::uint32_t pop_victim() {
    while (!heap_.empty()) {
      const std::uint64_t top = heap_.front();
      std::pop_heap(heap_.begin(), heap_.end(), std::greater<>());
      heap_.pop_back();
      const std::uint32_t slot = entry_slot(top), last = entry_last(top);
      if (slot_last_[slot] == last) return slot;
    }
    invariant_failed("sparda found no unselected slot");
  }
  void compact() {  // drop stale entries
    std::erase_if(heap_, [this](std::uint64_t e) { return slot_last_[entry_slot(e)] != entry_last(e); });
    std::make_heap(heap_.begin(), heap_.end(), std::greater<>());
  }

  std::vector<std::uint32_t> slot_block_;  // [used_] block held
  std::vector<std::uint32_t> slot_last_;   // [used_] last step its block was selected
  std::vector<std::uint32_t> block_slot_;  // [block id] slot, kNone = not resident
  std::vector<std::uint64_t> heap_;        // min-heap of (last step << 32 | slot)
  std::vector<std::uint32_t> prev_slots_, cur_slots_;  // slots selected last / this step
  bool by_slot_;
  std::uint32_t used_ = 0;
  std::uint32_t step_ = 0;  // steps seen (1-based; 0 = never)
};

}  // namespace

std::unique_ptr<BlockCache> make_sparda_cache(std::int64_t capacity, bool victims_by_slot) {
  return std::make_unique<SpardaCache>(capacity, victims_by_slot);
}

}  // namespace foresight::sim::detail

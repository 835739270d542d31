// ARC (Megiddo & Modha, "ARC: A Self-Tuning, Low Overhead Replacement Cache",
// FAST 2003), cases I-IV of the paper's Fig. 4 with c = capacity, integer
// target p in [0, c] and delta = max(1, |B_other| / |B_this|) (integer
// division).
//
// Adaptation to set requests: a step's hits are processed first (moved to the
// MRU end of T2), then its misses in selection order. Every block of the
// current selection that is in T1 or T2 was therefore put there during this
// step, at the MRU end: the selected blocks of each list form a suffix. When
// REPLACE runs the cache is full (c blocks) and the requested block is not
// resident, so at most |S| - 1 <= c - 1 resident blocks are selected and at
// least one of the two LRU ends is unselected. If REPLACE's preferred list has
// a selected (or no) LRU block, the other list's LRU block is demoted instead.
#include <algorithm>

#include "cache_detail.hpp"

namespace foresight::sim::detail {
namespace {

enum Where : std::uint8_t { kOut = 0, kT1, kT2, kB1, kB2 };

class ArcCache final : public CacheBase {
 public:
  using CacheBase::CacheBase;

  AccessOutcome access(std::span<const std::uint32_t> sel) override {
    begin_step(sel);
    AccessOutcome o;
    for (std::uint32_t b : sel)  // case I
      if (where_[b] == kT1 || where_[b] == kT2) {
        move(b, kT2);
        ++o.hits;
      }
    o.misses = static_cast<std::uint32_t>(sel.size()) - o.hits;
    const std::int64_t c = capacity_;
    for (std::uint32_t b : sel) {
      const Where w = static_cast<Where>(where_[b]);
      if (w == kT1 || w == kT2) continue;
      if (w == kB1) {  // case II
        const std::int64_t delta = std::max<std::int64_t>(1, list(kB2).size / list(kB1).size);
        p_ = std::min(c, p_ + delta);
        replace(false);
        move(b, kT2);
      } else if (w == kB2) {  // case III
        const std::int64_t delta = std::max<std::int64_t>(1, list(kB1).size / list(kB2).size);
        p_ = std::max<std::int64_t>(0, p_ - delta);
        replace(true);
        move(b, kT2);
      } else {  // case IV
        const std::int64_t l1 = std::int64_t{list(kT1).size} + list(kB1).size;
        const std::int64_t total = l1 + list(kT2).size + list(kB2).size;
        if (l1 == c) {
          if (list(kT1).size < c) {
            move(list(kB1).head, kOut);
            replace(false);
          } else {
            const std::uint32_t v = list(kT1).head;
            if (selected(v)) invariant_failed("arc: T1 holds only selected blocks");
            move(v, kOut);
          }
        } else if (total >= c) {
          if (total == 2 * c) move(list(kB2).head, kOut);
          replace(false);
        }
        move(b, kT1);
      }
    }
    return o;
  }
  bool resident(std::uint32_t b) const override {
    return b < where_.size() && (where_[b] == kT1 || where_[b] == kT2);
  }
  std::int64_t resident_count() const override {
    return std::int64_t{lists_[kT1].size} + lists_[kT2].size;
  }

 private:
  void grow_blocks(std::size_t n) override {
    links_.resize(n);
    where_.resize(n, kOut);
  }
  List& list(Where w) { return lists_[w]; }
  // Moves b to the MRU end of list `to` (kOut: forget it).
  void move(std::uint32_t b, Where to) {
    if (where_[b] != kOut) lists_[where_[b]].remove(links_, b);
    if (to != kOut) lists_[to].push_back(links_, b);
    where_[b] = to;
  }
  // REPLACE(x, p): demote the LRU block of T1 (to B1) or of T2 (to B2).
  void replace(bool x_in_b2) {
    if (resident_count() < capacity_) return;  // room left: nothing to evict
    const std::int64_t t1 = list(kT1).size;
    const bool prefer_t1 = t1 >= 1 && ((x_in_b2 && t1 == p_) || t1 > p_);
    Where from = prefer_t1 ? kT1 : kT2;
    auto usable = [this](Where w) {
      return lists_[w].size > 0 && !selected(lists_[w].head);
    };
    if (!usable(from)) from = from == kT1 ? kT2 : kT1;
    if (!usable(from)) invariant_failed("arc found no unselected victim");
    move(list(from).head, from == kT1 ? kB1 : kB2);
  }

  Links links_;
  std::vector<std::uint8_t> where_;  // Where, per block id
  List lists_[5];                    // indexed by Where; head = LRU
  std::int64_t p_ = 0;               // target size of T1
};

}  // namespace

std::unique_ptr<BlockCache> make_arc_cache(std::int64_t capacity) {
  return std::make_unique<ArcCache>(capacity);
}

}  // namespace foresight::sim::detail

// LRU: one recency list. A step's hits are unlinked, victims leave from the
// oldest end (all unselected then), and the whole selection is appended in
// selection order, hits and misses alike. The recency order therefore does not
// depend on the capacity, so LRU stays a stack algorithm (the resident set of
// capacity c is contained in that of capacity c + 1, and hits never fall when
// the capacity grows). A replay of recorded selections (selection_replay.cpp)
// does not use it for `lru`: it runs the runtime's LRU working set instead
// (sparda's rule, ties by slot index), so that its hits equal the runtime's.
#include "cache_detail.hpp"

namespace foresight::sim::detail {
namespace {

class LruCache final : public CacheBase {
 public:
  using CacheBase::CacheBase;

  AccessOutcome access(std::span<const std::uint32_t> sel) override {
    begin_step(sel);
    AccessOutcome o;
    for (std::uint32_t b : sel)
      if (in_[b]) {
        order_.remove(links_, b);
        ++o.hits;
      }
    o.misses = static_cast<std::uint32_t>(sel.size()) - o.hits;
    const auto n_sel = static_cast<std::int64_t>(sel.size());
    for (std::int64_t e = std::int64_t{order_.size} + n_sel - capacity_; e > 0; --e) {
      const std::uint32_t v = order_.head;
      if (selected(v)) invariant_failed("lru victim is selected");
      order_.remove(links_, v);
      in_[v] = 0;
    }
    for (std::uint32_t b : sel) {
      order_.push_back(links_, b);
      in_[b] = 1;
    }
    return o;
  }
  bool resident(std::uint32_t b) const override { return b < in_.size() && in_[b]; }
  std::int64_t resident_count() const override { return order_.size; }

 private:
  void grow_blocks(std::size_t n) override {
    links_.resize(n);
    in_.resize(n, 0);
  }
  Links links_;
  List order_;  // head = least recently used
  std::vector<std::uint8_t> in_;
};

}  // namespace

std::unique_ptr<BlockCache> make_lru_cache(std::int64_t capacity) {
  return std::make_unique<LruCache>(capacity);
}

}  // namespace foresight::sim::detail

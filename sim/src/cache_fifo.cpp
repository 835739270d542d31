// FIFO: one load-order list; hits change nothing. Victims are taken from the
// oldest end, skipping blocks of the current selection (they keep their
// place). A cursor carries over between the victims of one step: a skipped
// block stays selected for the whole step, so the scan is O(selection).
#include "cache_detail.hpp"

namespace foresight::sim::detail {
namespace {

class FifoCache final : public CacheBase {
 public:
  using CacheBase::CacheBase;

  AccessOutcome access(std::span<const std::uint32_t> sel) override {
    begin_step(sel);
    AccessOutcome o;
    for (std::uint32_t b : sel) o.hits += in_[b];
    o.misses = static_cast<std::uint32_t>(sel.size()) - o.hits;
    std::uint32_t cur = order_.head;
    for (std::int64_t e = std::int64_t{order_.size} + o.misses - capacity_; e > 0; --e) {
      while (cur != kNone && selected(cur)) cur = links_.next[cur];
      if (cur == kNone) invariant_failed("fifo found no unselected victim");
      const std::uint32_t v = cur;
      cur = links_.next[cur];
      order_.remove(links_, v);
      in_[v] = 0;
    }
    for (std::uint32_t b : sel)
      if (!in_[b]) {
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
  List order_;  // head = loaded first
  std::vector<std::uint8_t> in_;
};

}  // namespace

std::unique_ptr<BlockCache> make_fifo_cache(std::int64_t capacity) {
  return std::make_unique<FifoCache>(capacity);
}

}  // namespace foresight::sim::detail

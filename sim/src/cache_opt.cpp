// Belady's MIN for set requests. Each resident block carries the step of its
// next use (kNever if none). At step t a selected resident block's key is t
// and every unselected resident block's key is > t, so popping the largest
// keys before updating the step's keys never takes a selected block.
// Optimality (same exchange argument as for single requests): if an optimal
// schedule evicts y where MIN evicts x (next(x) >= next(y)), swapping the two
// choices and then mirroring the optimal schedule until next(y) loses no hit.
// Tests compare it with an exhaustive search on small streams.
#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "cache_detail.hpp"

namespace foresight::sim::detail {
namespace {

constexpr std::uint32_t kNever = UINT32_MAX;

class OptCache final : public CacheBase {
 public:
  OptCache(std::int64_t capacity, std::span<const std::vector<std::uint32_t>> future)
      : CacheBase(capacity) {
    std::size_t total = 0;
    std::uint32_t max_id = 0;
    for (const auto& s : future) {
      total += s.size();
      for (std::uint32_t b : s) {
        if (b >= kMaxBlockId)
          throw std::invalid_argument(fmt::format(
              "block cache (opt): block id {} is not below the limit {}", b, kMaxBlockId));
        max_id = std::max(max_id, b);
      }
    }
    stream_.reserve(total);
    next_use_.resize(total);
    offset_.reserve(future.size() + 1);
    offset_.push_back(0);
    for (const auto& s : future) {
      stream_.insert(stream_.end(), s.begin(), s.end());
      offset_.push_back(stream_.size());
    }
    // Backward pass: next_use_[i] = next step after i's step selecting the block.
    std::vector<std::uint32_t> last(std::size_t{max_id} + 1, kNever);
    for (std::size_t t = future.size(); t-- > 0;) {
      for (std::size_t i = offset_[t]; i < offset_[t + 1]; ++i) next_use_[i] = last[stream_[i]];
      for (std::size_t i = offset_[t]; i < offset_[t + 1]; ++i)
        last[stream_[i]] = static_cast<std::uint32_t>(t);
    }
    heap_.reserve(static_cast<std::size_t>(std::min<std::int64_t>(capacity, 4096)));
  }

  AccessOutcome access(std::span<const std::uint32_t> sel) override {
    const std::size_t t = step_;
    if (t + 1 >= offset_.size())
      throw std::invalid_argument(fmt::format(
          "block cache (opt): step {} is past the end of the {}-step stream it was built with",
          t, offset_.size() - 1));
    const std::span<const std::uint32_t> expect(stream_.data() + offset_[t],
                                                offset_[t + 1] - offset_[t]);
    if (!std::equal(sel.begin(), sel.end(), expect.begin(), expect.end()))
      throw std::invalid_argument(fmt::format(
          "block cache (opt): the selection of step {} differs from the stream it was built "
          "with",
          t));
    begin_step(sel);
    AccessOutcome o;
    for (std::uint32_t b : sel) o.hits += pos_[b] != kNone;
    o.misses = static_cast<std::uint32_t>(sel.size()) - o.hits;
    for (std::int64_t e = static_cast<std::int64_t>(heap_.size()) + o.misses - capacity_; e > 0;
         --e) {
      if (selected(block_of(heap_[0]))) invariant_failed("opt victim is selected");
      pop_top();
    }
    for (std::size_t i = 0; i < sel.size(); ++i) {
      const std::uint32_t b = sel[i];
      const std::uint64_t e = std::uint64_t{next_use_[offset_[t] + i]} << 32 | b;
      if (pos_[b] == kNone) {
        pos_[b] = static_cast<std::uint32_t>(heap_.size());
        heap_.push_back(e);
      } else {
        heap_[pos_[b]] = e;  // next use grew from t: sift up
      }
      sift_up(pos_[b]);
    }
    ++step_;
    return o;
  }
  bool resident(std::uint32_t b) const override { return b < pos_.size() && pos_[b] != kNone; }
  std::int64_t resident_count() const override { return static_cast<std::int64_t>(heap_.size()); }

 private:
  void grow_blocks(std::size_t n) override { pos_.resize(n, kNone); }
  // Heap entries pack (next use << 32 | block): larger first, ties by block id.
  static std::uint32_t block_of(std::uint64_t e) { return static_cast<std::uint32_t>(e); }
  void place(std::size_t i, std::uint64_t e) {
    heap_[i] = e;
    pos_[block_of(e)] = static_cast<std::uint32_t>(i);
  }
  void sift_up(std::size_t i) {
    const std::uint64_t e = heap_[i];
    while (i > 0 && e > heap_[(i - 1) / 2]) {
      place(i, heap_[(i - 1) / 2]);
      i = (i - 1) / 2;
    }
    place(i, e);
  }
  void pop_top() {
    pos_[block_of(heap_[0])] = kNone;
    const std::uint64_t e = heap_.back();
    heap_.pop_back();
    if (heap_.empty()) return;
    std::size_t i = 0;
    const std::size_t n = heap_.size();
    for (;;) {
      std::size_t c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && heap_[c + 1] > heap_[c]) ++c;
      if (heap_[c] <= e) break;
      place(i, heap_[c]);
      i = c;
    }
    place(i, e);
  }

  std::vector<std::uint32_t> stream_;    // all selections, concatenated
  std::vector<std::uint32_t> next_use_;  // per entry of stream_: next step using it
  std::vector<std::size_t> offset_;      // [steps + 1] start of each step in stream_
  std::vector<std::uint64_t> heap_;      // resident blocks, max-heap of (next use, block)
  std::vector<std::uint32_t> pos_;       // [block id] index in heap_, kNone = not resident
  std::size_t step_ = 0;
};

}  // namespace

std::unique_ptr<BlockCache> make_opt_cache(std::int64_t capacity,
                                           std::span<const std::vector<std::uint32_t>> future) {
  return std::make_unique<OptCache>(capacity, future);
}

}  // namespace foresight::sim::detail

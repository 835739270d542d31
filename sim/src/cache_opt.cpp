// Belady's MIN for set requests. Each resident block carries the step of its
// next use (kNever if none). At step t a selected resident block's key is t
// and every unselected resident block's key is > t, so taking the largest
// keys (ties: the largest block id) before updating the step's keys never
// takes a selected block.
// Optimality (same exchange argument as for single requests): if an optimal
// schedule evicts y where MIN evicts x (next(x) >= next(y)), swapping the two
// choices and then mirroring the optimal schedule until next(y) loses no hit.
// Tests compare it with an exhaustive search on small streams.
//
// Resident blocks sit in one bucket per next-use step (plus one for never):
// the victim is the largest id of the highest non-empty bucket. A bucket is
// made a max-heap of block ids only when a victim is taken from it (blocks
// arrive in selection order, often ascending: pushing each onto a heap would
// sift it to the top). Bucket k only ever holds blocks selected at step k, so it
// lives in that step's slice of the stream's storage, and at step k every
// block in it is selected again: the bucket is emptied and its blocks move on.
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
    steps_ = future.size();
    bucket_heap_.resize(total);
    bucket_size_.assign(steps_, 0);
    nonempty_.assign(steps_ / 64 + 1, 0);  // bit k: bucket k non-empty; bit steps_: never
    heaped_.assign(steps_ + 1, 1);
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
    for (std::uint32_t b : sel) o.hits += bucket_of_[b] != kNone;
    o.misses = static_cast<std::uint32_t>(sel.size()) - o.hits;
    for (std::int64_t e = resident_ + o.misses - capacity_; e > 0; --e) evict(t);
    set_nonempty(t, false);  // its blocks are this step's hits: re-filed below
    bucket_size_[t] = 0;
    for (std::size_t i = 0; i < sel.size(); ++i) {
      const std::uint32_t b = sel[i];
      if (bucket_of_[b] == kNone) ++resident_;
      const std::uint32_t next = next_use_[offset_[t] + i];
      const std::size_t k = next == kNever ? steps_ : next;
      bucket_of_[b] = static_cast<std::uint32_t>(k);
      push(k, b);
    }
    ++step_;
    return o;
  }
  bool resident(std::uint32_t b) const override { return b < bucket_of_.size() && bucket_of_[b] != kNone; }
  std::int64_t resident_count() const override { return resident_; }

 private:
  void grow_blocks(std::size_t n) override { bucket_of_.resize(n, kNone); }

  // Bucket k's blocks: its step's slice of the storage (never: a vector of its own).
  std::uint32_t* heap_begin(std::size_t k) { return k == steps_ ? never_.data() : bucket_heap_.data() + offset_[k]; }
  std::size_t heap_size(std::size_t k) const { return k == steps_ ? never_.size() : bucket_size_[k]; }
  void set_nonempty(std::size_t k, bool on) {
    const std::uint64_t bit = std::uint64_t{1} << (k % 64);
    nonempty_[k / 64] = on ? nonempty_[k / 64] | bit : nonempty_[k / 64] & ~bit;
  }
  void push(std::size_t k, std::uint32_t b) {
    if (k == steps_) {
      never_.push_back(b);
    } else {
      bucket_heap_[offset_[k] + bucket_size_[k]++] = b;
    }
    heaped_[k] = 0;
    set_nonempty(k, true);
  }
  // Evicts the largest id of the highest non-empty bucket (above step t).
  void evict(std::size_t t) {
    std::size_t w = nonempty_.size();
    while (w > 0 && nonempty_[w - 1] == 0) --w;
    if (w == 0) invariant_failed("opt found no resident block");
    const std::size_t k = (w - 1) * 64 + (63 - static_cast<std::size_t>(__builtin_clzll(nonempty_[w - 1])));
    if (k <= t) invariant_failed("opt victim is selected");
    std::uint32_t* h = heap_begin(k);
    const std::size_t n = heap_size(k);
    if (!heaped_[k]) std::make_heap(h, h + n);
    heaped_[k] = 1;
    std::pop_heap(h, h + n);
    bucket_of_[h[n - 1]] = kNone;
    --resident_;
    if (k == steps_) {
      never_.pop_back();
    } else {
      --bucket_size_[k];
    }
    if (n == 1) set_nonempty(k, false);
  }

  std::vector<std::uint32_t> stream_;    // all selections, concatenated
  std::vector<std::uint32_t> next_use_;  // per entry of stream_: next step using it
  std::vector<std::size_t> offset_;      // [steps + 1] start of each step in stream_
  std::size_t steps_ = 0;
  std::vector<std::uint32_t> bucket_heap_;   // bucket k's blocks at [offset_[k], + bucket_size_[k])
  std::vector<std::uint32_t> bucket_size_;   // [steps]
  std::vector<std::uint32_t> never_;         // resident blocks never used again
  std::vector<std::uint8_t> heaped_;         // per bucket: its blocks form a max-heap
  std::vector<std::uint64_t> nonempty_;      // bit per bucket (steps_: never)
  std::vector<std::uint32_t> bucket_of_;     // [block id] bucket (next-use step, steps_: never), kNone = not resident
  std::int64_t resident_ = 0;
  std::size_t step_ = 0;
};

}  // namespace

std::unique_ptr<BlockCache> make_opt_cache(std::int64_t capacity,
                                           std::span<const std::vector<std::uint32_t>> future) {
  return std::make_unique<OptCache>(capacity, future);
}

}  // namespace foresight::sim::detail

// LFU with LRU tie-break (the O(1) bucket scheme): one list of blocks per
// access count, in recency order, and a sorted list of the non-empty counts.
// Counts are accesses since the block was loaded (a reload starts at 1) and
// saturate at kMaxCount. Victims: the least recent block of the lowest count
// that has an unselected block. Touched blocks sit at the newest end of their
// bucket, so a bucket whose oldest block is selected holds only selected
// blocks; the scan skips it, and a cursor carries over between the victims of
// one step (victims are taken before the misses are inserted).
#include "cache_detail.hpp"

namespace foresight::sim::detail {
namespace {

constexpr std::uint32_t kMaxCount = 65535;

class LfuCache final : public CacheBase {
 public:
  explicit LfuCache(std::int64_t capacity) : CacheBase(capacity), buckets_(2) {}

  AccessOutcome access(std::span<const std::uint32_t> sel) override {
    begin_step(sel);
    AccessOutcome o;
    for (std::uint32_t b : sel)
      if (count_[b] != 0) {
        ++o.hits;
        if (count_[b] < kMaxCount) bump(b);
        else move_to_back(b, count_[b]);
      }
    o.misses = static_cast<std::uint32_t>(sel.size()) - o.hits;
    std::uint32_t f = first_;
    for (std::int64_t e = std::int64_t{resident_} + o.misses - capacity_; e > 0; --e) {
      while (f != kNone && selected(buckets_[f].blocks.head)) f = buckets_[f].next;
      if (f == kNone) invariant_failed("lfu found no unselected victim");
      const std::uint32_t v = buckets_[f].blocks.head;
      const std::uint32_t after = buckets_[f].next;
      take(v);
      if (buckets_[f].blocks.size == 0) f = after;
      count_[v] = 0;
      --resident_;
    }
    for (std::uint32_t b : sel)
      if (count_[b] == 0) {
        if (buckets_[1].blocks.size == 0) link_bucket(1, kNone);
        put(b, 1);
        ++resident_;
      }
    return o;
  }
  bool resident(std::uint32_t b) const override { return b < count_.size() && count_[b] != 0; }
  std::int64_t resident_count() const override { return resident_; }

 private:
  struct Bucket {
    List blocks;                         // head = least recent
    std::uint32_t prev = kNone, next = kNone;  // neighbouring non-empty counts
  };

  void grow_blocks(std::size_t n) override {
    links_.resize(n);
    count_.resize(n, 0);
  }
  void put(std::uint32_t b, std::uint32_t f) {
    buckets_[f].blocks.push_back(links_, b);
    count_[b] = f;
  }
  // Removes b from its bucket, unlinking the bucket if it empties.
  void take(std::uint32_t b) {
    const std::uint32_t f = count_[b];
    buckets_[f].blocks.remove(links_, b);
    if (buckets_[f].blocks.size == 0) unlink_bucket(f);
  }
  void move_to_back(std::uint32_t b, std::uint32_t f) {
    buckets_[f].blocks.remove(links_, b);
    buckets_[f].blocks.push_back(links_, b);
  }
  void bump(std::uint32_t b) {
    const std::uint32_t f = count_[b], g = f + 1;
    if (g >= buckets_.size()) buckets_.resize(std::size_t{g} * 2);
    if (buckets_[g].blocks.size == 0) link_bucket(g, f);  // f is non-empty: holds b
    take(b);
    put(b, g);
  }
  // Links empty bucket f into the count list after `after` (kNone: first).
  void link_bucket(std::uint32_t f, std::uint32_t after) {
    const std::uint32_t nx = after == kNone ? first_ : buckets_[after].next;
    buckets_[f].prev = after;
    buckets_[f].next = nx;
    if (after == kNone) first_ = f; else buckets_[after].next = f;
    if (nx != kNone) buckets_[nx].prev = f;
  }
  void unlink_bucket(std::uint32_t f) {
    const std::uint32_t p = buckets_[f].prev, n = buckets_[f].next;
    if (p == kNone) first_ = n; else buckets_[p].next = n;
    if (n != kNone) buckets_[n].prev = p;
    buckets_[f].prev = buckets_[f].next = kNone;
  }

  Links links_;
  std::vector<std::uint32_t> count_;  // 0 = not resident
  std::vector<Bucket> buckets_;       // indexed by count
  std::uint32_t first_ = kNone;       // lowest non-empty count
  std::uint32_t resident_ = 0;
};

}  // namespace

std::unique_ptr<BlockCache> make_lfu_cache(std::int64_t capacity) {
  return std::make_unique<LfuCache>(capacity);
}

}  // namespace foresight::sim::detail

// Internals shared by the cache policies (cache_*.cpp): selection marking and
// validation, and intrusive doubly linked lists over block ids.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "foresight/sim/cache_policy.hpp"

namespace foresight::sim::detail {

inline constexpr std::uint32_t kNone = UINT32_MAX;

// Base of every policy: capacity, the current step's selection marks and the
// growth of per-block arrays.
class CacheBase : public BlockCache {
 public:
  explicit CacheBase(std::int64_t capacity);
  std::int64_t capacity() const override { return capacity_; }

 protected:
  // Validates `sel` (throws std::invalid_argument, state unchanged), grows
  // per-block arrays to cover its ids (calling grow_blocks) and marks it as
  // the current selection.
  void begin_step(std::span<const std::uint32_t> sel);
  bool selected(std::uint32_t b) const { return stamp_[b] == cur_; }
  // Per-block arrays must hold at least n entries (n only increases).
  virtual void grow_blocks(std::size_t n) = 0;
  std::size_t n_blocks() const { return stamp_.size(); }

  std::int64_t capacity_;

 private:
  std::vector<std::uint32_t> stamp_;
  std::uint32_t cur_ = 0;
};

// prev/next links shared by several lists (a block is in at most one list).
struct Links {
  std::vector<std::uint32_t> prev, next;
  void resize(std::size_t n) {
    prev.resize(n, kNone);
    next.resize(n, kNone);
  }
};

// head = oldest / least recent end, tail = newest end.
struct List {
  std::uint32_t head = kNone, tail = kNone;
  std::uint32_t size = 0;

  void push_back(Links& l, std::uint32_t b) {
    l.prev[b] = tail;
    l.next[b] = kNone;
    if (tail != kNone) l.next[tail] = b; else head = b;
    tail = b;
    ++size;
  }
  void remove(Links& l, std::uint32_t b) {
    const std::uint32_t p = l.prev[b], n = l.next[b];
    if (p != kNone) l.next[p] = n; else head = n;
    if (n != kNone) l.prev[n] = p; else tail = p;
    l.prev[b] = l.next[b] = kNone;
    --size;
  }
};

// Throws std::logic_error: an internal invariant broke (a bug, not bad input).
[[noreturn]] void invariant_failed(const char* what);

// victims_by_slot: the runtime's exact variant (see cache_sparda.cpp).
std::unique_ptr<BlockCache> make_sparda_cache(std::int64_t capacity, bool victims_by_slot = false);
std::unique_ptr<BlockCache> make_lru_cache(std::int64_t capacity);
std::unique_ptr<BlockCache> make_lfu_cache(std::int64_t capacity);
std::unique_ptr<BlockCache> make_fifo_cache(std::int64_t capacity);
std::unique_ptr<BlockCache> make_arc_cache(std::int64_t capacity);
std::unique_ptr<BlockCache> make_opt_cache(std::int64_t capacity,
                                           std::span<const std::vector<std::uint32_t>> future);

}  // namespace foresight::sim::detail

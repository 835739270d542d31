// Policy factory, stream replay and the validation shared by every policy.
#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "cache_detail.hpp"

namespace foresight::sim {
namespace detail {

CacheBase::CacheBase(std::int64_t capacity) : capacity_(capacity) {
  if (capacity < 1)
    throw std::invalid_argument(fmt::format("block cache: capacity must be >= 1 block, got {}",
                                            capacity));
}

void CacheBase::begin_step(std::span<const std::uint32_t> sel) {
  if (static_cast<std::int64_t>(sel.size()) > capacity_)
    throw std::invalid_argument(fmt::format(
        "block cache: selection of {} blocks exceeds the capacity of {} blocks", sel.size(),
        capacity_));
  auto next_stamp = [this] {  // a fresh mark; also drops partial marks
    if (++cur_ == 0) {         // wrapped: forget every old mark
      std::fill(stamp_.begin(), stamp_.end(), 0);
      cur_ = 1;
    }
  };
  next_stamp();
  for (std::uint32_t b : sel) {  // one pass: range, growth, duplicates, marks
    if (b >= stamp_.size()) {
      if (b >= kMaxBlockId) {
        next_stamp();
        throw std::invalid_argument(
            fmt::format("block cache: block id {} is not below the limit {}", b, kMaxBlockId));
      }
      const std::size_t n = std::min<std::size_t>(
          std::max<std::size_t>(std::size_t{b} + 1, 2 * stamp_.size()), kMaxBlockId);
      stamp_.resize(n, 0);
      grow_blocks(n);
    }
    if (stamp_[b] == cur_) {
      next_stamp();
      throw std::invalid_argument(
          fmt::format("block cache: block {} appears twice in one selection", b));
    }
    stamp_[b] = cur_;
  }
}

void invariant_failed(const char* what) {
  throw std::logic_error(fmt::format("block cache internal error: {}", what));
}

}  // namespace detail

std::unique_ptr<BlockCache> make_block_cache(config::Eviction policy, std::int64_t capacity,
                                             std::span<const std::vector<std::uint32_t>> future) {
  for (std::size_t t = 0; t < future.size(); ++t)
    if (static_cast<std::int64_t>(future[t].size()) > capacity)
      throw std::invalid_argument(fmt::format(
          "block cache: step {} selects {} blocks, more than the capacity of {} blocks", t,
          future[t].size(), capacity));
  switch (policy) {
    case config::Eviction::sparda: return detail::make_sparda_cache(capacity);
    case config::Eviction::lru: return detail::make_lru_cache(capacity);
    case config::Eviction::lfu: return detail::make_lfu_cache(capacity);
    case config::Eviction::fifo: return detail::make_fifo_cache(capacity);
    case config::Eviction::arc: return detail::make_arc_cache(capacity);
    case config::Eviction::opt: return detail::make_opt_cache(capacity, future);
  }
  throw std::invalid_argument("block cache: unknown eviction policy");
}

std::vector<AccessOutcome> replay_stream(config::Eviction policy, std::int64_t capacity,
                                         std::span<const std::vector<std::uint32_t>> stream) {
  auto cache = make_block_cache(policy, capacity, stream);
  std::vector<AccessOutcome> out;
  out.reserve(stream.size());
  for (const auto& sel : stream) out.push_back(cache->access(sel));
  return out;
}

}  // namespace foresight::sim

// Bad input to the cache policies: clear std::invalid_argument, state unchanged.
#include <cstdint>
#include <stdexcept>
#include <vector>

#include "catch.hpp"
#include "foresight/sim/cache_policy.hpp"

using foresight::config::Eviction;
using foresight::sim::make_block_cache;
using Stream = std::vector<std::vector<std::uint32_t>>;

namespace {
const Eviction kAll[] = {Eviction::sparda, Eviction::lru, Eviction::lfu,
                         Eviction::fifo,   Eviction::arc, Eviction::opt};
}

TEST_CASE("capacity below the selection size is rejected") {
  const Stream s{{1, 2}, {2, 3, 4}};
  for (Eviction pol : kAll) {
    CHECK_THROWS_AS(make_block_cache(pol, 2, s), std::invalid_argument);
    CHECK_THROWS_AS(make_block_cache(pol, 0, {}), std::invalid_argument);
    CHECK_THROWS_AS(make_block_cache(pol, -3, {}), std::invalid_argument);
  }
  for (Eviction pol : kAll) {
    if (pol == Eviction::opt) continue;  // opt checks its stream up front
    auto cache = make_block_cache(pol, 2);
    CHECK(cache->access(s[0]).misses == 2);
    CHECK_THROWS_AS(cache->access(s[1]), std::invalid_argument);
    // State unchanged: the same blocks are still resident and hit.
    CHECK(cache->access(s[0]).hits == 2);
  }
}

TEST_CASE("duplicate and out-of-range block ids are rejected, state unchanged") {
  for (Eviction pol : kAll) {
    const Stream s{{5, 6}, {6, 7}};
    auto cache = make_block_cache(pol, 3, s);
    CHECK(cache->access(s[0]).misses == 2);
    if (pol != Eviction::opt) {
      const std::vector<std::uint32_t> dup{8, 6, 8};
      CHECK_THROWS_AS(cache->access(dup), std::invalid_argument);
      const std::vector<std::uint32_t> big{foresight::sim::kMaxBlockId};
      CHECK_THROWS_AS(cache->access(big), std::invalid_argument);
    }
    const auto o = cache->access(s[1]);
    CHECK(o.hits == 1);
    CHECK(o.misses == 1);
  }
}

TEST_CASE("opt refuses a selection other than its stream's next") {
  const Stream s{{1, 2}, {2, 3}};
  auto cache = make_block_cache(Eviction::opt, 2, s);
  const std::vector<std::uint32_t> other{1, 3};
  CHECK_THROWS_AS(cache->access(other), std::invalid_argument);
  CHECK(cache->access(s[0]).misses == 2);
  CHECK(cache->access(s[1]).hits == 1);
  CHECK_THROWS_AS(cache->access(s[1]), std::invalid_argument);  // past the end
}

// Hand-computed hit/miss sequences for every cache policy (traces in comments).
#include <cstdint>
#include <vector>

#include "catch.hpp"
#include "foresight/sim/cache_policy.hpp"

using foresight::config::Eviction;
using foresight::sim::make_block_cache;
using Stream = std::vector<std::vector<std::uint32_t>>;

namespace {

// Replays `stream` and returns the hits of each step (checking hits + misses).
std::vector<std::uint32_t> hits_of(Eviction policy, std::int64_t capacity, const Stream& stream,
                                   std::vector<std::uint32_t>* resident_after = nullptr) {
  auto cache = make_block_cache(policy, capacity, stream);
  std::vector<std::uint32_t> hits;
  for (const auto& sel : stream) {
    const auto o = cache->access(sel);
    REQUIRE(o.hits + o.misses == sel.size());
    hits.push_back(o.hits);
  }
  if (resident_after) {
    resident_after->clear();
    for (std::uint32_t b = 0; b < 16; ++b)
      if (cache->resident(b)) resident_after->push_back(b);
  }
  return hits;
}

using V = std::vector<std::uint32_t>;

}  // namespace

TEST_CASE("lru, single requests") {
  // c=3: 1 2 3 | 1 hit [2 3 1] | 4 evicts 2 | 2 evicts 3 | 5 evicts 1 | 1 evicts 4
  const Stream s{{1}, {2}, {3}, {1}, {4}, {2}, {5}, {1}};
  V res;
  CHECK(hits_of(Eviction::lru, 3, s, &res) == V{0, 0, 0, 1, 0, 0, 0, 0});
  CHECK(res == V{1, 2, 5});
}

TEST_CASE("lru, set requests keep the selection and evict the least recent") {
  // c=3: {1,2} [1 2] | {2,3} [1 2 3] | {3,4} evicts 1 [2 3 4] | {1,4} evicts 2 [3 1 4]
  const Stream s{{1, 2}, {2, 3}, {3, 4}, {1, 4}};
  V res;
  CHECK(hits_of(Eviction::lru, 3, s, &res) == V{0, 1, 1, 1});
  CHECK(res == V{1, 3, 4});
  // c=2: {1} {2} {1,3}: 1 is the LRU block but selected, so 2 goes.
  CHECK(hits_of(Eviction::lru, 2, Stream{{1}, {2}, {1, 3}}, &res) == V{0, 0, 1});
  CHECK(res == V{1, 3});
}

TEST_CASE("fifo: hits do not refresh; selected blocks are skipped") {
  // c=3: 1 2 3 | 1 hit | 4 evicts 1 | 2 hit | 5 evicts 2 | 1 evicts 3
  const Stream s{{1}, {2}, {3}, {1}, {4}, {2}, {5}, {1}};
  V res;
  CHECK(hits_of(Eviction::fifo, 3, s, &res) == V{0, 0, 0, 1, 0, 1, 0, 0});
  CHECK(res == V{1, 4, 5});
  // c=2: [1 2] | {1,3}: 1 oldest but selected, 2 goes: [1 3] | {4}: 1 goes.
  CHECK(hits_of(Eviction::fifo, 2, Stream{{1}, {2}, {1, 3}, {4}}, &res) == V{0, 0, 1, 0});
  CHECK(res == V{3, 4});
}

TEST_CASE("lfu: lowest count first, ties by least recent") {
  // c=3: 1(1) 1(2) 2(1) 3(1) | 4: counts 1 tie 2,3 -> 2 older goes | 1(3) hit |
  // 2: count-1 blocks 3, 4 -> 3 older goes
  const Stream s{{1}, {1}, {2}, {3}, {4}, {1}, {2}};
  V res;
  CHECK(hits_of(Eviction::lfu, 3, s, &res) == V{0, 1, 0, 0, 0, 1, 0});
  CHECK(res == V{1, 2, 4});
  // A lowest-count bucket holding only selected blocks is skipped. c=2:
  // {1}x3 -> 1:3 | {2} -> 2:1 | {2,3}: 2 hit -> 2:2, the count-2 bucket holds
  // only selected 2, so the victim is 1 (count 3).
  CHECK(hits_of(Eviction::lfu, 2, Stream{{1}, {1}, {1}, {2}, {2, 3}}, &res) ==
        V{0, 1, 1, 0, 1});
  CHECK(res == V{2, 3});
}

TEST_CASE("arc: scan resistance and the adapted REPLACE") {
  // c=2: 1 -> T1 | 1 hit -> T2 | 2 -> T1 | 3: REPLACE demotes 2 (T1 > p=0) | 1 hit
  const Stream s{{1}, {1}, {2}, {3}, {1}};
  V res;
  CHECK(hits_of(Eviction::arc, 2, s, &res) == V{0, 1, 0, 0, 1});
  CHECK(res == V{1, 3});
  // LRU on the same stream evicts 1 at step 3 and misses it at step 4.
  CHECK(hits_of(Eviction::lru, 2, s) == V{0, 1, 0, 0, 0});
  // c=2: {1} {1}: T2=[1] | {2,3}: 2 -> T1; 3: REPLACE prefers T1 whose LRU (2)
  // is selected, so T2's 1 is demoted to B2 | {1}: ghost hit in B2, p stays 0,
  // REPLACE demotes T1's LRU 2.
  CHECK(hits_of(Eviction::arc, 2, Stream{{1}, {1}, {2, 3}, {1}}, &res) == V{0, 1, 0, 0});
  CHECK(res == V{1, 3});
}

TEST_CASE("arc: ghost hits adapt p") {
  // c=2: 1 2 | 1 hit (T2=[1], T1=[2]) | 3 demotes 2 to B1 | 2 ghost hit in B1:
  // p=1, REPLACE takes T2's 1 (T1 = p) | 1 ghost hit in B2: p=0, REPLACE takes
  // T1's 3 | 3 ghost hit in B1: p=1, T1 empty so T2's 2 goes.
  const Stream s{{1}, {2}, {1}, {3}, {2}, {1}, {3}};
  V res;
  CHECK(hits_of(Eviction::arc, 2, s, &res) == V{0, 0, 1, 0, 0, 0, 0});
  CHECK(res == V{1, 3});
}

TEST_CASE("opt: farthest next use goes first") {
  // c=2: 1 2 | 3: next(1)=3, next(2)=4 -> 2 goes | 1 hit | 2: next(1)=never -> 1 goes | 3 hit
  const Stream s{{1}, {2}, {3}, {1}, {2}, {3}};
  CHECK(hits_of(Eviction::opt, 2, s) == V{0, 0, 0, 1, 0, 1});
  CHECK(hits_of(Eviction::lru, 2, s) == V{0, 0, 0, 0, 0, 0});
  // c=3, sets: {1,2} {3} | {1,4}: 2 used at 3, 3 never -> 3 goes | {2} hit
  V res;
  CHECK(hits_of(Eviction::opt, 3, Stream{{1, 2}, {3}, {1, 4}, {2}}, &res) == V{0, 0, 1, 1});
  CHECK(res == V{1, 2, 4});
}

TEST_CASE("sparda: empty slots first, then the slot unselected longest") {
  // c=3: {1,2} slots 0:1 1:2 | {2,3} 3 -> empty slot 2 | {4,5}: unselected slots
  // 0 (last step 1), 1 (2), 2 (2) -> slots 0 and 1 | {3,1}: slots 0 (4), 1 (5)
  // both last selected at step 3 -> lowest slot 0 (block 4) goes.
  const Stream s{{1, 2}, {2, 3}, {4, 5}, {3, 1}};
  V res;
  CHECK(hits_of(Eviction::sparda, 3, s, &res) == V{0, 1, 0, 1});
  CHECK(res == V{1, 3, 5});
  // capacity == selection size: hits are the overlap with the previous step.
  CHECK(hits_of(Eviction::sparda, 3, Stream{{1, 2, 3}, {2, 3, 4}, {5, 6, 2}, {2, 5, 6}}) ==
        V{0, 2, 1, 3});
}

// The fast policies against a naive reference: each resident block carries a
// sort key and the victim is the unselected block with the smallest key,
// found by a linear scan.
//   sparda: (last selected step, slot)      lru: (last step, index in selection)
//   fifo:   (load step, index at load)      lfu: (count since load, last step, index)
#include <algorithm>
#include <cstdint>
#include <random>
#include <tuple>
#include <vector>

#include "catch.hpp"
#include "foresight/sim/cache_policy.hpp"
#include "foresight/workload/selection_model.hpp"

using foresight::config::Eviction;
using Stream = std::vector<std::vector<std::uint32_t>>;

namespace {

struct Entry {
  std::uint32_t block, slot;
  std::uint64_t count, step, index;  // index: position in the selection
};

using Key = std::tuple<std::uint64_t, std::uint64_t, std::uint64_t>;
Key key_of(Eviction pol, const Entry& e) {
  switch (pol) {
    case Eviction::sparda: return {e.step, e.slot, 0};
    case Eviction::lfu: return {e.count, e.step, e.index};
    default: return {e.step, e.index, 0};  // lru; fifo keeps the load step in `step`
  }
}

// Replays and returns per-step hits plus the sorted resident set after each step.
std::pair<std::vector<std::uint32_t>, Stream> naive(Eviction pol, std::size_t cap, const Stream& s) {
  std::vector<Entry> res;
  std::vector<std::uint32_t> hits;
  Stream resident;
  for (std::uint64_t t = 0; t < s.size(); ++t) {
    const auto& sel = s[t];
    auto find = [&](std::uint32_t b) {
      return std::find_if(res.begin(), res.end(), [b](const Entry& e) { return e.block == b; });
    };
    std::uint32_t h = 0;
    for (std::uint64_t i = 0; i < sel.size(); ++i)
      if (auto it = find(sel[i]); it != res.end()) {
        ++h;
        ++it->count;
        if (pol != Eviction::fifo) it->step = t, it->index = i;
        if (pol == Eviction::sparda) it->index = 0;
      }
    for (std::uint64_t i = 0; i < sel.size(); ++i) {
      if (find(sel[i]) != res.end()) continue;
      std::uint32_t slot = static_cast<std::uint32_t>(res.size());
      if (res.size() == cap) {
        auto victim = res.end();
        for (auto it = res.begin(); it != res.end(); ++it) {
          if (std::find(sel.begin(), sel.end(), it->block) != sel.end()) continue;
          if (victim == res.end() || key_of(pol, *it) < key_of(pol, *victim)) victim = it;
        }
        REQUIRE(victim != res.end());
        slot = victim->slot;
        res.erase(victim);
      }
      res.push_back({sel[i], slot, 1, t, pol == Eviction::sparda ? 0 : i});
    }
    hits.push_back(h);
    std::vector<std::uint32_t> r;
    for (const auto& e : res) r.push_back(e.block);
    std::sort(r.begin(), r.end());
    resident.push_back(r);
  }
  return {hits, resident};
}

void compare(Eviction pol, std::int64_t cap, const Stream& s) {
  const auto [want_hits, want_resident] = naive(pol, static_cast<std::size_t>(cap), s);
  auto cache = foresight::sim::make_block_cache(pol, cap, s);
  std::uint32_t max_id = 0;
  for (const auto& sel : s)
    for (auto b : sel) max_id = std::max(max_id, b);
  for (std::size_t t = 0; t < s.size(); ++t) {
    INFO("step " << t << " capacity " << cap);
    REQUIRE(cache->access(s[t]).hits == want_hits[t]);
    std::vector<std::uint32_t> got;
    for (std::uint32_t b = 0; b <= max_id; ++b)
      if (cache->resident(b)) got.push_back(b);
    REQUIRE(got == want_resident[t]);
  }
}

}  // namespace

TEST_CASE("sparda, lru, fifo and lfu match the naive reference") {
  foresight::workload::SelectionModelParams p;
  p.topk_blocks = 12;
  p.window_blocks = 3;
  p.block_tokens = 16;
  p.locality.reuse = 0.7;
  foresight::workload::SelectionModel m(p, 1, 1, {1200});
  Stream model;
  for (int t = 0; t < 60; ++t) model.push_back(m.next(t, 0, 0, 0));
  std::mt19937 rng(3);
  for (Eviction pol : {Eviction::sparda, Eviction::lru, Eviction::fifo, Eviction::lfu}) {
    for (std::int64_t cap : {12, 13, 17, 30}) compare(pol, cap, model);
    for (int trial = 0; trial < 100; ++trial) {  // varying selection sizes, any order
      Stream s;
      std::vector<std::uint32_t> ids(10);
      for (std::uint32_t i = 0; i < 10; ++i) ids[i] = i;
      const int cap = 2 + trial % 5;
      for (int t = 0; t < 12; ++t) {
        std::shuffle(ids.begin(), ids.end(), rng);
        s.emplace_back(ids.begin(), ids.begin() + 1 + static_cast<int>(rng() % cap));
      }
      compare(pol, cap, s);
    }
  }
}

TEST_CASE("sparda's victim heap stays exact through compaction of stale entries") {
  // 400 steps alternating two 10-block sets in 30 slots push one stale entry
  // per block per step without evictions (the heap is compacted past 1104
  // entries); random 10-block selections of 60 ids then force evictions.
  Stream s;
  std::mt19937 rng(9);
  std::vector<std::uint32_t> ids(60);
  for (std::uint32_t i = 0; i < 60; ++i) ids[i] = i;
  for (int t = 0; t < 400; ++t) {
    std::vector<std::uint32_t> sel;
    for (std::uint32_t i = 0; i < 10; ++i) sel.push_back(i + (t % 2 ? 10u : 0u));
    s.push_back(sel);
  }
  for (int t = 0; t < 80; ++t) {
    std::shuffle(ids.begin(), ids.end(), rng);
    s.emplace_back(ids.begin(), ids.begin() + 10);
  }
  compare(Eviction::sparda, 30, s);
  compare(Eviction::lru, 30, s);
}

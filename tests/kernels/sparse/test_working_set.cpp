// Working-set update reference: hand case, invariants over a random walk of
// selections (never loses a still-selected block, loads exactly the new
// ones), and LRU eviction order.
#include <algorithm>
#include <random>
#include <set>
#include <vector>

#include "catch.hpp"
#include "foresight/kernels/working_set.hpp"

using namespace foresight::kernels;

namespace {
struct Row {
  std::vector<std::int32_t> map, sel, lb, ls;
  std::vector<std::int64_t> used;
  std::int32_t count = -9, tail = -1;
  WorkingSetParams params(int k, bool lru, std::int64_t step) {
    WorkingSetParams p;
    const int n = static_cast<int>(map.size());
    lb.assign(std::size_t(n), -9), ls.assign(std::size_t(n), -9);
    p.block_map = map.data(), p.selected = sel.data(), p.tail_block = &tail;
    p.last_used = lru ? used.data() : nullptr;
    p.load_block = lb.data(), p.load_slot = ls.data(), p.load_count = &count;
    p.rows = 1, p.n_slots = n, p.k = k, p.step = step;
    return p;
  }
};
}  // namespace

TEST_CASE("hand case: kept blocks keep their slots, freed slots take new blocks in order") {
  Row r;
  r.map = {4, 9, -1, 2};
  r.sel = {0, 2, 7, 8};  // 0 is the tail block here: not mapped, not loaded
  r.tail = 0;
  working_set_update_cpu(r.params(4, false, 0));
  // Kept: 2 in slot 3. Victims: empty slot 2 first, then slots 0, 1. New: 7, 8.
  CHECK(r.count == 2);
  CHECK(r.map == std::vector<std::int32_t>{8, 9, 7, 2});
  CHECK(r.lb[0] == 7);
  CHECK(r.ls[0] == 2);
  CHECK(r.lb[1] == 8);
  CHECK(r.ls[1] == 0);
}

TEST_CASE("random walk: never loses a selected block, loads exactly the new ones") {
  std::mt19937 rng(3);
  for (bool lru : {false, true}) {
    const int k = 12, slots = lru ? 20 : 12, max_block = 40;
    Row r;
    r.map.assign(std::size_t(slots), -1);
    r.used.assign(std::size_t(slots), 0);
    for (int step = 1; step < 200; ++step) {
      std::set<int> pick;
      const int want = 1 + static_cast<int>(rng() % k);
      while (static_cast<int>(pick.size()) < want) pick.insert(static_cast<int>(rng() % max_block));
      r.sel.assign(pick.begin(), pick.end());
      r.sel.resize(std::size_t(k), -1);
      r.tail = rng() % 3 == 0 ? *pick.begin() : -1;
      const auto before = r.map;
      working_set_update_cpu(r.params(k, lru, step));
      std::set<int> expected_new;
      for (int b : pick)
        if (b != r.tail && std::find(before.begin(), before.end(), b) == before.end()) expected_new.insert(b);
      REQUIRE(r.count == static_cast<int>(expected_new.size()));
      std::set<int> loaded(r.lb.begin(), r.lb.begin() + r.count);
      CHECK(loaded == expected_new);
      for (int i = 0; i < r.count; ++i) CHECK(r.map[r.ls[i]] == r.lb[i]);
      for (int s = 0; s < slots; ++s) {
        const bool was_selected = before[s] >= 0 && before[s] != r.tail && pick.count(before[s]);
        if (was_selected) CHECK(r.map[s] == before[s]);  // still-selected blocks never move
        if (lru && pick.count(r.map[s]) && r.map[s] != r.tail) CHECK(r.used[s] == step);
      }
      for (int b : pick)
        if (b != r.tail) CHECK(std::find(r.map.begin(), r.map.end(), b) != r.map.end());
    }
  }
}

TEST_CASE("LRU variant evicts the least recently used non-selected slot") {
  Row r;
  r.map = {10, 11, 12, 13};
  r.used = {5, 2, 7, 2};
  r.sel = {12, 20, -1};
  working_set_update_cpu(r.params(3, true, 9));
  // Victims 10 (used 5), 11 (2), 13 (2): least recent first, ties by slot -> slot 1.
  CHECK(r.count == 1);
  CHECK(r.map == std::vector<std::int32_t>{10, 20, 12, 13});
  CHECK(r.used == std::vector<std::int64_t>{5, 9, 9, 2});
  r.sel = {21, 22, -1};
  working_set_update_cpu(r.params(3, true, 10));
  // Now slot 3 (used 2) then slot 0 (used 5).
  CHECK(r.map == std::vector<std::int32_t>{22, 20, 12, 21});
}

TEST_CASE("working-set update rejects more selections than slots") {
  Row r;
  r.map = {-1, -1};
  r.sel = {1, 2, 3};
  CHECK_THROWS_AS(working_set_update_cpu(r.params(3, false, 0)), std::invalid_argument);
}

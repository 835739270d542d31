// Pooling + forced blocks + top-k reference: the pooling window of each
// block, forced blocks, agreement with a full sort, and tie-breaking.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "catch.hpp"
#include "foresight/kernels/block_select.hpp"

using namespace foresight::kernels;

namespace {
struct Case {
  int batch, kv_heads, max_comp, max_blocks, k;
  std::vector<float> scores;
  std::vector<std::int32_t> n_comp, n_blocks, selected;
  BlockSelectParams params() {
    BlockSelectParams p;
    p.scores = scores.data(), p.n_comp = n_comp.data(), p.n_blocks = n_blocks.data();
    selected.assign(std::size_t(batch) * kv_heads * k, -7);
    p.selected = selected.data();
    p.batch = batch, p.kv_heads = kv_heads, p.max_comp = max_comp, p.max_blocks = max_blocks, p.k = k;
    return p;
  }
};
}  // namespace

TEST_CASE("block b pools compressed positions [4b-1, 4b+3]") {
  BlockSelectParams p;
  std::vector<float> s(40);
  std::iota(s.begin(), s.end(), 0.f);  // score j = j, so the pool max is the window's last position
  p.sink_blocks = 0, p.local_blocks = 0;
  CHECK(pooled_block_score(s.data(), 40, 10, 0, p) == 3.f);   // [-1, 3] clipped to [0, 3]
  CHECK(pooled_block_score(s.data(), 40, 10, 1, p) == 7.f);   // [3, 7]
  CHECK(pooled_block_score(s.data(), 40, 10, 9, p) == 39.f);  // [35, 39]
  CHECK(pooled_block_score(s.data(), 37, 10, 9, p) == 36.f);  // clipped at n_comp
  CHECK(pooled_block_score(s.data(), 30, 10, 9, p) == -INFINITY);  // no window reaches block 9
  std::reverse(s.begin(), s.end());  // now the max is the window's first position
  CHECK(pooled_block_score(s.data(), 40, 10, 2, p) == 39.f - 7.f);  // [7, 11]
  p.sink_blocks = 1, p.local_blocks = 2;
  CHECK(std::isinf(pooled_block_score(s.data(), 40, 10, 0, p)));
  CHECK(std::isinf(pooled_block_score(s.data(), 40, 10, 8, p)));
  CHECK(pooled_block_score(s.data(), 40, 10, 7, p) == 39.f - 27.f);
}

TEST_CASE("hand case: forced blocks plus the best pooled blocks, sorted") {
  // 12 blocks, n_comp 44 (covers all), k 5, sink 1, local 2 -> forced {0, 10, 11}.
  Case c{1, 1, 48, 12, 5, std::vector<float>(48, 0.f), {44}, {12}, {}};
  c.scores[21] = 9.f;  // j 21 is only in block 5's window [19, 23]
  c.scores[23] = 7.f;  // j 23 lies in blocks 5 and 6
  c.scores[2] = 100.f; // only in block 0's window [-1, 3] (forced anyway)
  auto p = c.params();
  p.sink_blocks = 1, p.local_blocks = 2;
  block_select_cpu(p);
  CHECK(c.selected == std::vector<std::int32_t>{0, 5, 6, 10, 11});
}

TEST_CASE("top-k agrees with a full sort; forced blocks always present; ties to lower ids") {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 40; ++trial) {
    const int batch = 3, kv_heads = 2, k = 1 + static_cast<int>(rng() % 40);
    const int max_blocks = 1 + static_cast<int>(rng() % 200);
    const int max_comp = 4 * max_blocks;
    Case c{batch, kv_heads, max_comp, max_blocks, k, {}, {}, {}, {}};
    c.scores.resize(std::size_t(batch) * kv_heads * max_comp);
    // Few distinct values so ties are common.
    for (auto& s : c.scores) s = static_cast<float>(static_cast<int>(rng() % 5)) - 2.f;
    for (int b = 0; b < batch; ++b) {
      const int nb = 1 + static_cast<int>(rng() % max_blocks);
      c.n_blocks.push_back(nb);
      c.n_comp.push_back(std::min(max_comp, std::max(0, 4 * nb - static_cast<int>(rng() % 6))));
    }
    auto p = c.params();
    p.sink_blocks = 1, p.local_blocks = static_cast<int>(rng() % 4);
    block_select_cpu(p);
    for (int r = 0; r < batch * kv_heads; ++r) {
      const int b = r / kv_heads, nb = c.n_blocks[b];
      const float* row = c.scores.data() + std::size_t(r) * max_comp;
      std::vector<std::pair<float, int>> all;
      for (int i = 0; i < nb; ++i) all.push_back({pooled_block_score(row, c.n_comp[b], nb, i, p), i});
      std::stable_sort(all.begin(), all.end(), [](auto& x, auto& y) { return x.first > y.first; });
      const int take = std::min(k, nb);
      std::vector<std::int32_t> expect;
      for (int i = 0; i < take; ++i) expect.push_back(all[i].second);
      std::sort(expect.begin(), expect.end());
      expect.resize(std::size_t(k), -1);
      const std::vector<std::int32_t> got(c.selected.begin() + r * k, c.selected.begin() + (r + 1) * k);
      REQUIRE(got == expect);
      // Forced blocks present when they fit in k.
      const int forced = std::min(nb, p.sink_blocks + p.local_blocks);
      if (forced <= k) {
        CHECK(std::find(got.begin(), got.end(), 0) != got.end());
        for (int i = std::max(0, nb - p.local_blocks); i < nb; ++i)
          CHECK(std::find(got.begin(), got.end(), i) != got.end());
      }
    }
  }
}

TEST_CASE("all-equal scores select the lowest ids; NaN counts as -inf") {
  Case c{1, 1, 40, 10, 3, std::vector<float>(40, 1.f), {40}, {10}, {}};
  for (int j = 0; j < 12; ++j) c.scores[j] = NAN;  // blocks 0..2 see only NaN (block 3 pools [11, 15])
  auto p = c.params();
  p.sink_blocks = 0, p.local_blocks = 0;
  block_select_cpu(p);
  CHECK(c.selected == std::vector<std::int32_t>{3, 4, 5});
}

TEST_CASE("block selection rejects a bad n_blocks") {
  Case c{1, 1, 8, 2, 3, std::vector<float>(8, 0.f), {8}, {5}, {}};
  auto p = c.params();
  CHECK_THROWS_AS(block_select_cpu(p), std::invalid_argument);
}

// The L2 reservation model (sim/l2_model.hpp): hits counted by hand for lru
// and opt, properties on random patterns, the block-granular key builder on
// a hand-built trace, and the time model's arithmetic.
#include <random>
#include <vector>

#include "catch.hpp"
#include "foresight/sim/l2_model.hpp"

using namespace foresight;
using config::L2Policy;

namespace {
std::size_t hits(const std::vector<std::uint64_t>& keys, std::int64_t cap, L2Policy p) {
  std::size_t n = 0;
  for (auto h : sim::replay_l2(keys, cap, p)) n += h;
  return n;
}
}  // namespace

TEST_CASE("l2: lru and opt hits counted by hand", "[sim][l2]") {
  // A B C A B D A C
  const std::vector<std::uint64_t> keys = {1, 2, 3, 1, 2, 4, 1, 3};
  // lru, 2 entries: every reuse is 3 or more distinct keys away: no hit.
  CHECK(hits(keys, 2, L2Policy::lru) == 0);
  // lru, 3 entries: A (pos 3), B (4), A (6) hit; D evicts C, C then evicts B.
  CHECK(sim::replay_l2(keys, 3, L2Policy::lru) == std::vector<std::uint8_t>{0, 0, 0, 1, 1, 0, 1, 0});
  // opt, 2 entries: C evicts B (next at 4, A's at 3); A hits; B evicts C
  // (next 7 > A's 6); D evicts B (never again); A hits; C misses.
  CHECK(sim::replay_l2(keys, 2, L2Policy::opt) == std::vector<std::uint8_t>{0, 0, 0, 1, 0, 0, 1, 0});
  // opt, 3 entries: D evicts B (never again): A, B, A, C hit.
  CHECK(sim::replay_l2(keys, 3, L2Policy::opt) == std::vector<std::uint8_t>{0, 0, 0, 1, 1, 0, 1, 1});
  CHECK(hits(keys, 0, L2Policy::lru) == 0);
  CHECK(hits(keys, 0, L2Policy::opt) == 0);
  CHECK(hits(keys, 4, L2Policy::lru) == 4);  // everything fits: every reuse hits
  CHECK_THROWS_AS(sim::replay_l2(keys, -1, L2Policy::lru), std::invalid_argument);
}

TEST_CASE("l2: more reservation never lowers lru's hits; opt is never beaten", "[sim][l2]") {
  std::mt19937_64 rng(15);
  for (int trial = 0; trial < 40; ++trial) {
    // A stream with locality: mostly a small hot set that drifts, some cold keys.
    std::vector<std::uint64_t> keys;
    const int n = 200 + static_cast<int>(rng() % 400);
    std::uint64_t base = 0;
    for (int i = 0; i < n; ++i) {
      if (rng() % 17 == 0) base += rng() % 5;
      keys.push_back(rng() % 4 == 0 ? 1000 + rng() % 300 : base + rng() % (4 + trial % 20));
    }
    std::size_t prev_lru = 0, prev_opt = 0;
    for (std::int64_t cap = 0; cap <= 40; ++cap) {
      INFO("trial " << trial << ", capacity " << cap);
      const std::size_t lru = hits(keys, cap, L2Policy::lru), opt = hits(keys, cap, L2Policy::opt);
      CHECK(lru >= prev_lru);  // LRU is a stack algorithm: a larger cache holds a superset
      CHECK(opt >= prev_opt);
      CHECK(opt >= lru);
      prev_lru = lru;
      prev_opt = opt;
    }
  }
}

namespace {
// One layer, one KV head, block_tokens 4, context 4 per sequence: the tail
// block is 0 at step 0 and 1 at steps 1 and 2. Selections of the one
// recorded sequence: {0, 2}, {2, 3}, {0, 3}, so attention reads
// {0, 2}, {1, 2, 3}, {0, 1, 3}.
trace::Trace hand_trace() {
  trace::Trace t;
  t.header.model.n_layers = 1;
  t.header.model.sparse.block_tokens = 4;
  t.header.run.context_tokens = {4};
  t.selection_width = 2;
  const std::vector<std::vector<std::uint32_t>> sel = {{0, 2}, {2, 3}, {0, 3}};
  for (std::int32_t step = 0; step < 3; ++step) {
    t.selection_keys.push_back({step, 0, 0, 0, 2});
    t.selection_blocks.insert(t.selection_blocks.end(), sel[step].begin(), sel[step].end());
  }
  return t;
}
}  // namespace

TEST_CASE("l2: block outcomes of a hand-built trace, tail block included", "[sim][l2]") {
  const trace::Trace t = hand_trace();
  const auto idx = sim::SelectionIndex::build(t);
  // Access order 0 2 | 1 2 3 | 0 1 3. lru with 2 blocks: only block 2 at step 1 hits.
  auto lru = sim::l2_block_outcomes(t, idx, {0}, {true}, 2, L2Policy::lru);
  REQUIRE(lru.size() == 3);
  CHECK(lru[0].accesses == 2);
  CHECK(lru[1].accesses == 3);
  CHECK(lru[2].accesses == 3);
  CHECK((lru[0].hits == 0 && lru[1].hits == 1 && lru[2].hits == 0));
  // opt with 2 blocks: block 2 hits at step 1 (0 evicted for 1), block 1 at step 2.
  auto opt = sim::l2_block_outcomes(t, idx, {0}, {true}, 2, L2Policy::opt);
  CHECK((opt[0].hits == 0 && opt[1].hits == 1 && opt[2].hits == 1));
  // Two simulated sequences replaying the one recorded sequence have their own
  // KV: twice the accesses, and with room for both (4 blocks each) as many hits each.
  auto two = sim::l2_block_outcomes(t, idx, {0, 0}, {true}, 8, L2Policy::lru);
  auto one = sim::l2_block_outcomes(t, idx, {0}, {true}, 4, L2Policy::lru);
  for (std::size_t s = 0; s < 3; ++s) {
    CHECK(two[s].accesses == 2 * one[s].accesses);
    CHECK(two[s].hits == 2 * one[s].hits);
  }
  // With 4 blocks every reuse hits: 1 at step 1 (block 2), 3 at step 2.
  CHECK((one[1].hits == 1 && one[2].hits == 3));
  // A layer left out has no outcomes.
  CHECK(sim::l2_block_outcomes(t, idx, {0}, {false}, 2, L2Policy::lru).empty());
  // A sequence the selections do not have is an error, not a read past them.
  CHECK_THROWS_AS(sim::l2_block_outcomes(t, idx, {1}, {true}, 2, L2Policy::lru), std::invalid_argument);
}

TEST_CASE("l2: the time model's arithmetic", "[sim][l2]") {
  config::HardwareConfig hw;
  hw.hbm_gbps = 4000;  // bytes per ns
  hw.l2_gbps = 8000;
  hw.persisting_l2_max_bytes = 32 << 20;
  const auto none = sim::L2TimeModel::of(hw, 0);
  CHECK(none.other_factor == 1.0);
  const auto full = sim::L2TimeModel::of(hw, 32 << 20);
  CHECK(full.other_factor == Approx(1.078));  // the measured steps at the maximum
  CHECK(sim::L2TimeModel::of(hw, 64 << 20).other_factor == Approx(1.078));  // never past it
  // Up to 24/37.5 of the maximum the measured steps did not slow down.
  CHECK(sim::L2TimeModel::of(hw, 20 << 20).other_factor == 1.0);
  // Halfway from 24/37.5 to the maximum: half the rise.
  const auto between = sim::L2TimeModel::of(hw, static_cast<std::int64_t>((32 << 20) * (24.0 / 37.5 + 1.0) / 2));
  CHECK(between.other_factor == Approx(1.039));
  CHECK(between.other_ns(1000) == 1039);
  const auto half = sim::L2TimeModel::of(hw, 16 << 20);
  // 1 MB of hits: 250 ns from HBM, 125 ns from L2: 125 ns saved.
  CHECK(half.attention_ns(1000, 1e6, 2e6) == 875);
  // Never below reading all 2 MB from L2 (250 ns), never above the op's time.
  CHECK(half.attention_ns(300, 1e6, 2e6) == 250);
  CHECK(half.attention_ns(100, 1e6, 2e6) == 100);
  CHECK(half.attention_ns(1000, 0, 2e6) == 1000);
}

TEST_CASE("l2: the set-aside's cost at the maximum comes from the GPU's measured runs", "[sim][l2]") {
  config::HardwareConfig hw;
  hw.persisting_l2_max_bytes = 32 << 20;  // 32 MiB
  config::Calibration cal;
  using config::Mode;
  cal.l2_measured.points = {{Mode::dsa, 32768, 1, 32, 0.09},   {Mode::dsa, 32768, 4, 32, 0.16},
                            {Mode::dsa, 32768, 16, 32, 0.10},  {Mode::dsa, 32768, 16, 8, 0.50},
                            {Mode::sparda, 32768, 16, 32, 0.05}, {Mode::sparse, 32768, 16, 31.8, 0.07}};
  // Token modes: the median of the three dsa runs at 32 MiB (the 8 MiB run is not at the maximum).
  CHECK(sim::l2_slowdown_at_max(&cal, hw, Mode::dsa) == Approx(0.10));
  // Block modes: the median of sparda's and sparse's (31.8 MiB is within 1% of the maximum).
  CHECK(sim::l2_slowdown_at_max(&cal, hw, Mode::sparse_offload) == Approx(0.06));
  // No calibration, no runs, or no persisting L2: the H200 block modes' constant.
  CHECK(sim::l2_slowdown_at_max(nullptr, hw, Mode::dsa) == sim::kL2SlowdownAtMax);
  CHECK(sim::l2_slowdown_at_max(&cal, config::HardwareConfig{}, Mode::dsa) == sim::kL2SlowdownAtMax);
  cal.l2_measured.points.resize(4);  // dsa runs only
  CHECK(sim::l2_slowdown_at_max(&cal, hw, Mode::sparda) == sim::kL2SlowdownAtMax);
  // The time model takes it: the full rise at the maximum.
  CHECK(sim::L2TimeModel::of(hw, 32 << 20, 0.10).other_factor == Approx(1.10));
}

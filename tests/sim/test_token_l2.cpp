// DSA token selections through the simulator: the index, the tokens each
// step gathers, and the L2 reservation at token and block granularity,
// counted by hand; the stack and optimality properties on synthesized
// token streams.
#include <vector>

#include "catch.hpp"
#include "foresight/sim/synth.hpp"
#include "foresight/sim/token_selections.hpp"
#include "sim_fixtures.hpp"

using namespace foresight;
using config::L2Policy;

namespace {
// One layer, one sequence, block_tokens 4, token entries of 100 B. Steps
// select {0, 1, 5}, {1, 5, 6}, {0, 1, 6}.
trace::Trace hand_tokens() {
  trace::Trace t;
  t.header.model.n_layers = 1;
  t.header.model.sparse.block_tokens = 4;
  t.header.run.context_tokens = {8};
  const std::vector<std::vector<std::uint32_t>> sel = {{0, 1, 5}, {1, 5, 6}, {0, 1, 6}};
  for (std::int32_t step = 0; step < 3; ++step) {
    t.token_keys.push_back({step, 0, 0, 0, 3});
    t.token_ids.insert(t.token_ids.end(), sel[step].begin(), sel[step].end());
  }
  return t;
}

std::uint64_t sum_hits(const std::vector<trace::L2Outcome>& o) {
  std::uint64_t n = 0;
  for (const auto& x : o) n += x.hit_bytes;
  return n;
}
}  // namespace

TEST_CASE("token l2: hits counted by hand at token and block granularity", "[sim][l2][dsa]") {
  const trace::Trace t = hand_tokens();
  const auto idx = sim::TokenIndex::build(t);
  REQUIRE(idx.steps == 3);
  CHECK(idx.ids(t, 1, 0, 0).size() == 3);
  CHECK(idx.ids(t, 3, 0, 0).empty());
  // token-lru, 3 tokens (300 B): 0 1 5 | 1 5 6 | 0 1 6. Step 1: 1 and 5 hit,
  // 6 evicts 0. Step 2: 0 misses (evicts 1), 1 misses (evicts 5), 6 hits.
  auto lru = sim::l2_token_outcomes(t, idx, {0}, 300, L2Policy::token_lru, 100, 4);
  REQUIRE(lru.size() == 3);
  CHECK((lru[0].hits == 0 && lru[1].hits == 2 && lru[2].hits == 1));
  CHECK(lru[1].bytes == 300);
  CHECK(lru[1].hit_bytes == 200);
  // opt, 3 tokens: step 1 hits 1 and 5, and 6 evicts 5 (never used again),
  // so 0, 1 and 6 are all resident at step 2: 3 hits.
  auto opt = sim::l2_token_outcomes(t, idx, {0}, 300, L2Policy::opt, 100, 4);
  CHECK((opt[1].hits == 2 && opt[2].hits == 3));
  // block-lru, one block of 4 tokens (400 B): blocks 0 1 | 0 1 | 0 1 (tokens
  // 0,1 -> block 0; 5,6 -> block 1). One entry: every access evicts the
  // other block: no hits.
  auto blk = sim::l2_token_outcomes(t, idx, {0}, 400, L2Policy::block_lru, 100, 4);
  CHECK(blk[1].accesses == 2);
  CHECK(sum_hits(blk) == 0);
  // Two blocks (800 B): both stay. Step 1: block 0 serves token 1, block 1
  // serves 5 and 6: 300 B from L2 though 800 B are reserved.
  blk = sim::l2_token_outcomes(t, idx, {0}, 800, L2Policy::block_lru, 100, 4);
  CHECK(blk[1].hit_bytes == 300);
  CHECK(blk[2].hit_bytes == 300);
  // Two simulated sequences replaying the one recorded: their own KV.
  auto two = sim::l2_token_outcomes(t, idx, {0, 0}, 600, L2Policy::token_lru, 100, 4);
  auto one = sim::l2_token_outcomes(t, idx, {0}, 300, L2Policy::token_lru, 100, 4);
  for (std::size_t s = 0; s < 3; ++s) CHECK(two[s].accesses == 2 * one[s].accesses);
  // The gathers: every selected token, every step, no cache.
  const auto g = sim::token_gather_outcomes(t, idx, {0, 0}, 100);
  REQUIRE(g.size() == 3);
  CHECK((g[0].selected == 6 && g[0].misses == 6 && g[0].hits == 0 && g[0].loaded_bytes == 600));
}

TEST_CASE("token l2: a repeated row and absurd step numbers are errors, not allocations", "[sim][l2][dsa]") {
  trace::Trace t = hand_tokens();
  t.token_keys.push_back({2, 0, 0, 0, 0});
  CHECK_THROWS_WITH(sim::TokenIndex::build(t), Catch::Contains("recorded twice"));
  t = hand_tokens();
  t.token_keys.back().step = 1 << 30;
  CHECK_THROWS_WITH(sim::TokenIndex::build(t), Catch::Contains("exceed 2^27"));
}

TEST_CASE("token l2: more reservation never lowers lru's hits; opt is never beaten", "[sim][l2][dsa]") {
  auto o = testing::tiny_synth(config::Mode::dsa);
  o.run.batch = 2;
  o.run.context_tokens = {600, 600};
  o.run.decode_steps = 6;
  o.model.dsa.topk_tokens = 64;
  const trace::Trace t = sim::synthesize(o);
  REQUIRE(!t.token_keys.empty());
  const auto idx = sim::TokenIndex::build(t);
  const std::uint64_t tok = 64;
  for (const L2Policy p : {L2Policy::token_lru, L2Policy::block_lru}) {
    std::uint64_t prev = 0;
    for (std::int64_t entries = 0; entries <= 4096; entries += 256) {
      INFO(config::to_string(p) << " " << entries);
      const auto bytes = entries * static_cast<std::int64_t>(tok) * (p == L2Policy::block_lru ? 4 : 1);
      const std::uint64_t h = sum_hits(sim::l2_token_outcomes(t, idx, {0, 1}, bytes, p, tok, 4));
      CHECK(h >= prev);
      if (p == L2Policy::token_lru)
        CHECK(sum_hits(sim::l2_token_outcomes(t, idx, {0, 1}, bytes, L2Policy::opt, tok, 4)) >= h);
      prev = h;
    }
  }
}

// Properties of the cache policies on streams from the workload model and on
// small random streams (brute-force optimum).
#include <algorithm>
#include <bit>
#include <cstdint>
#include <map>
#include <random>
#include <vector>

#include "catch.hpp"
#include "foresight/sim/cache_policy.hpp"
#include "foresight/workload/selection_model.hpp"

using foresight::config::Eviction;
using foresight::sim::make_block_cache;
using foresight::sim::replay_stream;
using Stream = std::vector<std::vector<std::uint32_t>>;

namespace {

const Eviction kAll[] = {Eviction::sparda, Eviction::lru, Eviction::lfu,
                         Eviction::fifo,   Eviction::arc, Eviction::opt};

struct Shape {
  std::int64_t topk, sink, window, block_tokens, context;
};
constexpr Shape kSmall{16, 1, 4, 16, 2000};       // 126 blocks
constexpr Shape kMiniCpm{96, 1, 32, 64, 131072};  // 2049 blocks

// One stream per layer (seq 0, kv_head 0), `steps` steps each.
std::vector<Stream> model_streams(const Shape& sh, double reuse, double zipf_s, int layers,
                                  int steps, std::uint64_t seed) {
  foresight::workload::SelectionModelParams p;
  p.topk_blocks = sh.topk;
  p.sink_blocks = sh.sink;
  p.window_blocks = sh.window;
  p.block_tokens = sh.block_tokens;
  p.locality.reuse = reuse;
  p.locality.zipf_s = zipf_s;
  p.seed = seed;
  foresight::workload::SelectionModel m(p, layers, 1, {sh.context});
  std::vector<Stream> out(static_cast<std::size_t>(layers));
  for (int t = 0; t < steps; ++t)
    for (int l = 0; l < layers; ++l) out[static_cast<std::size_t>(l)].push_back(m.next(t, l, 0, 0));
  return out;
}

std::uint64_t total_hits(Eviction pol, std::int64_t cap, const Stream& s) {
  std::uint64_t h = 0;
  for (const auto& o : replay_stream(pol, cap, s)) h += o.hits;
  return h;
}

// Largest hit count any demand-paging schedule can reach (ids < 16): dynamic
// programming over resident sets, keeping any subset of the old residents.
std::uint64_t brute_force_hits(const Stream& s, int cap) {
  std::map<std::uint32_t, std::uint64_t> best{{0u, 0u}};  // resident mask -> fewest misses
  std::uint64_t total = 0;
  for (const auto& sel : s) {
    std::uint32_t sm = 0;
    for (auto b : sel) sm |= 1u << b;
    total += sel.size();
    std::map<std::uint32_t, std::uint64_t> next;
    for (auto [r, cost] : best) {
      const std::uint64_t c = cost + std::popcount(sm & ~r);
      const std::uint32_t others = r & ~sm;
      for (std::uint32_t k = others;; k = (k - 1) & others) {  // every subset kept
        const std::uint32_t nr = sm | k;
        if (std::popcount(nr) <= cap) {
          auto it = next.find(nr);
          if (it == next.end() || it->second > c) next[nr] = c;
        }
        if (k == 0) break;
      }
    }
    best.swap(next);
  }
  std::uint64_t fewest = UINT64_MAX;
  for (auto [r, cost] : best) fewest = std::min(fewest, cost);
  return total - fewest;
}

Stream random_stream(std::mt19937& rng, int steps, int n_ids, int cap) {
  Stream s;
  std::vector<std::uint32_t> ids(static_cast<std::size_t>(n_ids));
  for (int i = 0; i < n_ids; ++i) ids[static_cast<std::size_t>(i)] = static_cast<std::uint32_t>(i);
  for (int t = 0; t < steps; ++t) {
    std::shuffle(ids.begin(), ids.end(), rng);
    const int k = 1 + static_cast<int>(rng() % static_cast<unsigned>(cap));
    s.emplace_back(ids.begin(), ids.begin() + k);
  }
  return s;
}

}  // namespace

TEST_CASE("every policy holds exactly its selection and counts every block") {
  for (const Shape& sh : {kSmall, kMiniCpm}) {
    const auto streams = model_streams(sh, 0.8, 1.0, 2, 24, 7);
    for (Eviction pol : kAll)
      for (std::int64_t cap : {sh.topk, sh.topk + 1, sh.topk + 7, 3 * sh.topk}) {
        const Stream& s = streams[1];
        auto cache = make_block_cache(pol, cap, s);
        for (const auto& sel : s) {
          const auto o = cache->access(sel);
          REQUIRE(o.hits + o.misses == sel.size());
          for (auto b : sel) REQUIRE(cache->resident(b));
          REQUIRE(cache->resident_count() <= cap);
          REQUIRE(cache->resident_count() >= static_cast<std::int64_t>(sel.size()));
        }
      }
  }
}

TEST_CASE("lru hits never fall when capacity grows") {
  for (double reuse : {0.5, 0.85, 0.95}) {
    const auto s = model_streams(kSmall, reuse, 1.0, 1, 64, 11)[0];
    std::vector<foresight::sim::AccessOutcome> prev;
    for (std::int64_t cap = kSmall.topk; cap <= 4 * kSmall.topk; ++cap) {
      const auto cur = replay_stream(Eviction::lru, cap, s);
      if (!prev.empty())
        for (std::size_t t = 0; t < cur.size(); ++t) REQUIRE(cur[t].hits >= prev[t].hits);
      prev = cur;
    }
  }
}

TEST_CASE("opt is never beaten") {
  for (const Shape& sh : {kSmall, kMiniCpm})
    for (double reuse : {0.5, 0.85, 0.95})
      for (double zipf : {0.0, 1.0}) {
        const auto s = model_streams(sh, reuse, zipf, 1, 32, 3)[0];
        for (std::int64_t cap : {sh.topk, sh.topk + 1, sh.topk + 8, 2 * sh.topk}) {
          const auto best = total_hits(Eviction::opt, cap, s);
          for (Eviction pol : kAll) REQUIRE(total_hits(pol, cap, s) <= best);
        }
      }
  std::mt19937 rng(5);  // adversarial small streams
  for (int trial = 0; trial < 300; ++trial) {
    const int cap = 1 + trial % 4;
    const Stream s = random_stream(rng, 10, 8, cap);
    const auto best = total_hits(Eviction::opt, cap, s);
    for (Eviction pol : kAll) REQUIRE(total_hits(pol, cap, s) <= best);
  }
}

TEST_CASE("opt equals the brute-force optimum on small streams") {
  std::mt19937 rng(17);
  int strictly_better_than_lru = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const int cap = 1 + trial % 4;
    const Stream s = random_stream(rng, 8, 7, cap);
    const auto opt = total_hits(Eviction::opt, cap, s);
    REQUIRE(opt == brute_force_hits(s, cap));
    strictly_better_than_lru += opt > total_hits(Eviction::lru, cap, s);
  }
  CHECK(strictly_better_than_lru > 0);  // the streams do discriminate
}

TEST_CASE("sparda with capacity == topk hits the overlap of consecutive steps") {
  for (double reuse : {0.6, 0.9}) {
    const auto s = model_streams(kMiniCpm, reuse, 1.0, 1, 48, 23)[0];
    for (Eviction pol : kAll) {  // with |S| == capacity every policy reduces to this
      const auto out = replay_stream(pol, kMiniCpm.topk, s);
      for (std::size_t t = 0; t < s.size(); ++t) {
        std::uint32_t overlap = 0;
        if (t > 0)
          for (auto b : s[t]) overlap += std::binary_search(s[t - 1].begin(), s[t - 1].end(), b);
        REQUIRE(out[t].hits == overlap);
      }
    }
  }
}

TEST_CASE("extra capacity helps the recency policies on a reusing stream") {
  const auto s = model_streams(kSmall, 0.85, 1.0, 1, 64, 29)[0];
  for (Eviction pol : {Eviction::sparda, Eviction::lru, Eviction::arc, Eviction::opt})
    CHECK(total_hits(pol, 2 * kSmall.topk, s) > total_hits(pol, kSmall.topk, s));
}

// Sparse prefill CPU side: lowering (which tiles), the block-sparse attention
// reference against hand-computed values, a naive per-element reference and
// dense attention (full coverage), the estimate, choose, and validation.
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <vector>

#include "catch.hpp"
#include "foresight/kernels/cpu_threads.hpp"
#include "foresight/kernels/prefill_attention.hpp"
#include "foresight/kernels/sparse_prefill.hpp"
#include "numeric.hpp"
#include "sparse_prefill_cases.hpp"

using namespace foresight;
using namespace foresight::kernels;

namespace {

HeadPattern triangular(std::int64_t s, std::int64_t w) {
  HeadPattern p;
  p.kind = SparsePatternKind::triangular;
  p.triangular = {s, w};
  return p;
}
HeadPattern interval_slash(std::vector<std::int64_t> cols, std::vector<std::int64_t> offs) {
  HeadPattern p;
  p.kind = SparsePatternKind::interval_slash;
  p.interval_slash = {std::move(cols), std::move(offs)};
  return p;
}
HeadPattern block_cluster(std::int64_t l, std::vector<std::int64_t> blocks) {
  HeadPattern p;
  p.kind = SparsePatternKind::block_cluster;
  p.block_cluster = {l, std::move(blocks)};
  return p;
}

// Tiles of (head 0, query block b) as entries.
std::vector<std::int32_t> tiles_of(const SparsePrefillLayout& l, std::int64_t b) {
  return {l.tiles.begin() + l.tile_offsets[static_cast<std::size_t>(b)],
          l.tiles.begin() + l.tile_offsets[static_cast<std::size_t>(b + 1)]};
}
constexpr std::int32_t M = kTileMasked, G = kTileGathered;

std::vector<bf16> run_sparse(const std::vector<HeadPattern>& pats, const PrefillAttentionParams& attn) {
  const SparsePrefillLayout l = lower_sparse_prefill(pats, attn.chunk);
  std::vector<bf16> o(static_cast<std::size_t>(attn.chunk * attn.n_heads * attn.head_dim));
  PrefillAttentionParams a = attn;
  a.o = o.data();
  sparse_prefill_cpu({a, host_view(l)});
  return o;
}

}  // namespace

TEST_CASE("lowering: triangular sink + band tiles, masked where the band or sink is partial") {
  const auto l = lower_sparse_prefill(std::vector<HeadPattern>{triangular(64, 65)}, 256);
  REQUIRE(l.q_blocks == 4);
  CHECK(tiles_of(l, 0) == std::vector<std::int32_t>{0});
  CHECK(tiles_of(l, 1) == std::vector<std::int32_t>{0, 1});
  CHECK(tiles_of(l, 2) == std::vector<std::int32_t>{0, 1 | M, 2});
  CHECK(tiles_of(l, 3) == std::vector<std::int32_t>{0, 2 | M, 3});
  CHECK(l.blocks_computed(0) == 9);
  CHECK(l.rules[0].rule == SparseRule::triangular);
  // A partial sink block is masked too.
  const auto l2 = lower_sparse_prefill(std::vector<HeadPattern>{triangular(4, 1)}, 200);
  CHECK(tiles_of(l2, 2) == std::vector<std::int32_t>{0 | M, 2 | M});
  CHECK(tiles_of(l2, 3) == std::vector<std::int32_t>{0 | M, 3 | M});
}

TEST_CASE("lowering: interval-slash relative slash tiles plus gathered column chunks") {
  const auto l = lower_sparse_prefill(std::vector<HeadPattern>{interval_slash({10, 200}, {0, 64})}, 256);
  CHECK(tiles_of(l, 0) == std::vector<std::int32_t>{0 | M, 0 | G});
  CHECK(tiles_of(l, 1) == std::vector<std::int32_t>{0 | M, 1 | M, 0 | G});
  CHECK(tiles_of(l, 3) == std::vector<std::int32_t>{2 | M, 3 | M, 0 | G});
  CHECK(l.blocks_computed() == 11);
  CHECK(l.columns == std::vector<std::int32_t>{10, 200});
  CHECK(l.column_bits[0] == (std::uint64_t{1} << 10));
  CHECK(l.column_bits[3] == (std::uint64_t{1} << (200 - 192)));
  CHECK(l.slash_bits[0] == 1u);
  CHECK(l.slash_bits[1] == 1u);
  // An offset off the block grid (65) touches two relative blocks; 70 columns make two chunks.
  std::vector<std::int64_t> cols;
  for (int c = 0; c < 70; ++c) cols.push_back(c);
  const auto l2 = lower_sparse_prefill(std::vector<HeadPattern>{interval_slash(cols, {0, 65})}, 256);
  CHECK(tiles_of(l2, 3) == std::vector<std::int32_t>{1 | M, 2 | M, 3 | M, 0 | G, 1 | G});
  CHECK(tiles_of(l2, 0) == std::vector<std::int32_t>{0 | M, 0 | G});
}

TEST_CASE("lowering: block-cluster key blocks below the local tiles") {
  const auto l = lower_sparse_prefill(std::vector<HeadPattern>{block_cluster(1, {0, 2})}, 320);
  CHECK(tiles_of(l, 0) == std::vector<std::int32_t>{0});
  CHECK(tiles_of(l, 1) == std::vector<std::int32_t>{0, 1});
  CHECK(tiles_of(l, 2) == std::vector<std::int32_t>{0, 1, 2});
  CHECK(tiles_of(l, 3) == std::vector<std::int32_t>{0, 2, 3});
  CHECK(tiles_of(l, 4) == std::vector<std::int32_t>{0, 2, 3, 4});
  CHECK(l.blocks_computed() == 13);
  CHECK(dense_causal_blocks(320) == 15);
}

TEST_CASE("hand-computed: each pattern on three tokens, head_dim 1, scale 1") {
  // k = (0, ln 3, 0), v = (4, 8, 16), q = 1.
  std::vector<bf16> q(3, float_to_bf16(1.f)), k = {float_to_bf16(0), float_to_bf16(std::log(3.f)), float_to_bf16(0)};
  std::vector<bf16> v = {float_to_bf16(4), float_to_bf16(8), float_to_bf16(16)};
  const PrefillAttentionParams a{q.data(), k.data(), v.data(), nullptr, 0, 3, 1, 1, 1, 1.f};
  const float e1 = std::exp(bf16_to_float(k[1]));  // ~3
  SECTION("triangular S=1, W=1: sink and self") {
    auto o = run_sparse({triangular(1, 1)}, a);
    CHECK(bf16_to_float(o[0]) == 4.f);
    CHECK(bf16_to_float(o[1]) == Approx((4 + 8 * e1) / (1 + e1)).epsilon(4e-3));
    CHECK(bf16_to_float(o[2]) == 10.f);  // keys 0 and 2, equal weights
  }
  SECTION("interval-slash C={1}, O={0}: column 1 and self") {
    auto o = run_sparse({interval_slash({1}, {0})}, a);
    CHECK(bf16_to_float(o[0]) == 4.f);
    CHECK(bf16_to_float(o[1]) == 8.f);
    CHECK(bf16_to_float(o[2]) == Approx((8 * e1 + 16) / (e1 + 1)).epsilon(4e-3));
  }
  SECTION("interval-slash C={}, O={0, 2}: self and two back") {
    auto o = run_sparse({interval_slash({}, {0, 2})}, a);
    CHECK(bf16_to_float(o[1]) == 8.f);
    CHECK(bf16_to_float(o[2]) == 10.f);
  }
  SECTION("block-cluster L=0: everything inside one block is dense causal") {
    auto o = run_sparse({block_cluster(0, {})}, a);
    CHECK(bf16_to_float(o[2]) == Approx((4 + 8 * e1 + 16) / (2 + e1)).epsilon(4e-3));
  }
}

TEST_CASE("hand-computed: block-cluster L=0 keeps a query inside its block") {
  const std::int64_t n = 130;
  std::vector<bf16> q(n, float_to_bf16(1.f)), k(n, float_to_bf16(0.f)), v(n, float_to_bf16(1.f));
  v[128] = float_to_bf16(2.f), v[129] = float_to_bf16(4.f), v[64] = float_to_bf16(7.f);
  const PrefillAttentionParams a{q.data(), k.data(), v.data(), nullptr, 0, n, 1, 1, 1, 1.f};
  auto o = run_sparse({block_cluster(0, {})}, a);
  CHECK(bf16_to_float(o[129]) == 3.f);
  CHECK(bf16_to_float(o[128]) == 2.f);
  CHECK(bf16_to_float(o[64]) == 7.f);
  auto o2 = run_sparse({block_cluster(0, {1})}, a);  // block 1 (keys 64..127, v = 7 and 1s) joins block 2
  CHECK(bf16_to_float(o2[129]) == Approx((7.f + 63 + 2 + 4) / 66).epsilon(4e-3));
}

TEST_CASE("every pattern matches a naive per-element softmax (GQA, ragged last block)") {
  const std::int64_t n = 200;
  const int nh = 4, nkv = 2, d = 16;
  auto q = testing::random_bf16(n * nh * d, 11, -2, 2), k = testing::random_bf16(n * nkv * d, 12, -2, 2);
  auto v = testing::random_bf16(n * nkv * d, 13);
  const PrefillAttentionParams a{q.data(), k.data(), v.data(), nullptr, 0, n, nh, nkv, d};
  const std::vector<HeadPattern> pats = {triangular(5, 30), interval_slash({3, 70, 71, 150, 199}, {0, 1, 63, 64, 100}),
                                         block_cluster(0, {0, 2}), triangular(70, 65)};
  auto o = run_sparse(pats, a);
  const auto ref = testing::naive_sparse_attention(a, pats);
  double worst = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, double(std::fabs(bf16_to_float(o[i]) - ref[i])));
  CHECK(worst < 1e-2);
}

TEST_CASE("random patterns of every kind match the naive softmax; bits do not depend on threads") {
  std::mt19937_64 rng(77);
  const SparsePatternKind kinds[3] = {SparsePatternKind::triangular, SparsePatternKind::interval_slash,
                                      SparsePatternKind::block_cluster};
  for (int trial = 0; trial < 12; ++trial) {
    const std::int64_t n = 1 + static_cast<std::int64_t>(rng() % 300);
    const int nh = 6, nkv = trial % 2 ? 3 : 1, d = 8;
    auto q = testing::random_bf16(n * nh * d, 100 + trial, -2, 2), k = testing::random_bf16(n * nkv * d, 200 + trial, -2, 2);
    auto v = testing::random_bf16(n * nkv * d, 300 + trial);
    std::vector<HeadPattern> pats;
    for (int h = 0; h < nh; ++h) pats.push_back(testing::random_pattern(kinds[(h + trial) % 3], n, rng));
    const PrefillAttentionParams a{q.data(), k.data(), v.data(), nullptr, 0, n, nh, nkv, d};
    const auto o = run_sparse(pats, a);
    const auto ref = testing::naive_sparse_attention(a, pats);
    double worst = 0;
    for (std::size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, double(std::fabs(bf16_to_float(o[i]) - ref[i])));
    INFO("trial " << trial << " tokens " << n);
    CHECK(worst < 1e-2);
    if (trial < 3) {
      const int threads = cpu_threads();
      set_cpu_threads(1);
      const auto o1 = run_sparse(pats, a);
      set_cpu_threads(threads);
      for (std::size_t i = 0; i < o.size(); ++i) REQUIRE(o[i].bits == o1[i].bits);
    }
  }
}

TEST_CASE("full coverage equals dense prefill attention bit for bit") {
  const std::int64_t n = 150;
  const int nh = 4, nkv = 2, d = 32;
  auto q = testing::random_bf16(n * nh * d, 21, -2, 2), k = testing::random_bf16(n * nkv * d, 22, -2, 2);
  auto v = testing::random_bf16(n * nkv * d, 23);
  std::vector<bf16> dense(q.size());
  prefill_attention_cpu({q.data(), k.data(), v.data(), dense.data(), 0, n, nh, nkv, d});
  std::vector<std::int64_t> all;
  for (std::int64_t o = 0; o < n; ++o) all.push_back(o);
  const std::vector<HeadPattern> pats = {triangular(n, 1), triangular(0, n), interval_slash({}, all),
                                         block_cluster(2, {})};
  const auto l = lower_sparse_prefill(pats, n);
  CHECK(l.blocks_computed(0) == dense_causal_blocks(n));
  CHECK(l.blocks_computed(3) == dense_causal_blocks(n));
  auto o = run_sparse(pats, {q.data(), k.data(), v.data(), nullptr, 0, n, nh, nkv, d});
  for (std::size_t i = 0; i < o.size(); ++i) REQUIRE(o[i].bits == dense[i].bits);
  // All columns, only the diagonal slash.
  auto o2 = run_sparse({interval_slash(all, {0}), interval_slash(all, {0}), block_cluster(0, {0, 1}), triangular(n, 5)},
                       {q.data(), k.data(), v.data(), nullptr, 0, n, nh, nkv, d});
  for (std::size_t i = 0; i < o2.size(); ++i) REQUIRE(o2[i].bits == dense[i].bits);
}

TEST_CASE("estimate: each summary sums to 1 per head; a single query sees only itself") {
  const std::int64_t n = 100;
  const int nh = 2, d = 8;
  auto q = testing::random_bf16(n * nh * d, 31), k = testing::random_bf16(n * nh * d, 32), v = k;
  const auto e = estimate_sparse_prefill_cpu({q.data(), k.data(), v.data(), nullptr, 0, n, nh, nh, d}, 64);
  REQUIRE(e.n_last == 64);
  for (int h = 0; h < nh; ++h) {
    double a = 0, b = 0, c = 0;
    for (std::int64_t j = 0; j < n; ++j) a += e.key_mass[h * n + j], b += e.offset_mass[h * n + j];
    for (int t = 0; t < 2; ++t) c += e.block_offset_mass[h * 2 + t];
    CHECK(a == Approx(1).epsilon(1e-5));
    CHECK(b == Approx(1).epsilon(1e-5));
    CHECK(c == Approx(1).epsilon(1e-5));
  }
  const auto e1 = estimate_sparse_prefill_cpu({q.data(), k.data(), v.data(), nullptr, 0, 1, nh, nh, d}, 64);
  CHECK(e1.n_last == 1);
  CHECK(e1.key_mass[0] == 1.f);
  CHECK(e1.offset_mass[0] == 1.f);
}

TEST_CASE("estimate + choose find the planted pattern of each head") {
  const std::int64_t n = 1024;
  const int d = 16;
  std::vector<testing::PlantedHead> heads(3);
  heads[0].local = 12, heads[0].sinks = 4, heads[0].sink_score = 16;          // sink + local
  heads[1].local = 12, heads[1].columns = {150, 300, 420, 560}, heads[1].column_score = 16;  // vertical columns
  heads[2].cluster_lo = 256, heads[2].cluster_hi = 448, heads[2].cluster_score = 10;  // one cluster of keys
  std::vector<bf16> q, k, v;
  testing::plant(heads, 3, d, n, 41, &q, &k, &v);
  const auto e = estimate_sparse_prefill_cpu({q.data(), k.data(), v.data(), nullptr, 0, n, 3, 3, d}, 64);
  for (int h = 0; h < 3; ++h) {
    double sink = 0, band = 0, cols = 0;
    for (int j = 0; j < 4; ++j) sink += e.key_mass[h * n + j];
    for (int o = 0; o < 65; ++o) band += e.offset_mass[h * n + o];
    for (auto c : heads[1].columns) cols += e.key_mass[h * n + c];
    std::printf("  head %d: sinks %.3f band(65) %.3f columns %.3f blk %.3f %.3f %.3f\n", h, sink, band, cols,
                e.block_offset_mass[h * 16], e.block_offset_mass[h * 16 + 1], e.block_offset_mass[h * 16 + 2]);
  }
  const auto choice = choose_sparse_prefill(e, 0.95);
  REQUIRE(choice.size() == 3);
  std::vector<HeadPattern> pats;
  for (const auto& c : choice) {
    std::printf("  %-15s blocks %lld recall %.4f  S %lld W %lld |C| %zu |O| %zu L %lld |K| %zu\n",
                sparse_pattern_name(c.pattern.kind), static_cast<long long>(c.blocks), c.recall,
                static_cast<long long>(c.pattern.triangular.sink_tokens),
                static_cast<long long>(c.pattern.triangular.local_tokens), c.pattern.interval_slash.columns.size(),
                c.pattern.interval_slash.slashes.size(), static_cast<long long>(c.pattern.block_cluster.local_blocks),
                c.pattern.block_cluster.key_blocks.size());
    pats.push_back(c.pattern);
    CHECK(c.recall >= 0.95);
    CHECK(c.blocks < dense_causal_blocks(n));
  }
  CHECK(choice[0].pattern.kind == SparsePatternKind::triangular);
  CHECK(choice[0].pattern.triangular.sink_tokens == 64);
  CHECK(choice[1].pattern.kind == SparsePatternKind::interval_slash);
  // Planted columns only (the rotation lowers some of them at the estimated queries' offsets).
  const auto& cols = choice[1].pattern.interval_slash.columns;
  CHECK(cols.size() >= 2);
  for (auto c : cols) CHECK((c == 150 || c == 300 || c == 420 || c == 560));
  CHECK(choice[2].pattern.kind == SparsePatternKind::block_cluster);
  CHECK(choice[2].pattern.block_cluster.key_blocks == std::vector<std::int64_t>{4, 5, 6});
  // choose's block counts are the lowering's.
  const auto l = lower_sparse_prefill(pats, n);
  for (int h = 0; h < 3; ++h) CHECK(l.blocks_computed(h) == choice[static_cast<std::size_t>(h)].blocks);
  // One kind only: every head gets it; block counts still match the lowering.
  for (SparsePatternKind kind : {SparsePatternKind::triangular, SparsePatternKind::interval_slash,
                                 SparsePatternKind::block_cluster}) {
    const auto only = choose_sparse_prefill(e, 0.95, 1u << static_cast<int>(kind));
    std::vector<HeadPattern> op;
    for (const auto& c : only) {
      CHECK(c.pattern.kind == kind);
      CHECK(c.recall >= 0.95);
      op.push_back(c.pattern);
    }
    const auto lo = lower_sparse_prefill(op, n);
    for (int h = 0; h < 3; ++h) CHECK(lo.blocks_computed(h) == only[static_cast<std::size_t>(h)].blocks);
    CHECK(only[static_cast<std::size_t>(kind == SparsePatternKind::triangular ? 0 : kind == SparsePatternKind::interval_slash ? 1 : 2)].blocks ==
          choice[static_cast<std::size_t>(kind == SparsePatternKind::triangular ? 0 : kind == SparsePatternKind::interval_slash ? 1 : 2)].blocks);
  }
  // Recall is the estimate's mass inside the pattern, each element once.
  for (int h = 0; h < 3; ++h) {
    double inside = 0;
    for (std::int64_t i = n - 64; i < n; ++i) {
      double row = 0, all = 0;
      for (std::int64_t j = 0; j <= i; ++j) {
        double s = 0;
        for (int x = 0; x < d; ++x) s += double(bf16_to_float(q[(i * 3 + h) * d + x])) * bf16_to_float(k[(j * 3 + h) * d + x]);
        const double w = std::exp(s / 4.0);
        all += w;
        if (sparse_prefill_contains(pats[static_cast<std::size_t>(h)], i, j)) row += w;
      }
      inside += row / all / 64;
    }
    CHECK(inside >= choice[static_cast<std::size_t>(h)].recall - 1e-3);
  }
}

TEST_CASE("choose on varied inputs: blocks match the lowering, recall reaches the target and matches the definition") {
  std::mt19937_64 rng(9);
  for (int trial = 0; trial < 8; ++trial) {
    const std::int64_t n = 64 + static_cast<std::int64_t>(rng() % 1500);
    const int d = 16;
    std::vector<testing::PlantedHead> heads(4);
    for (auto& h : heads) {
      h.local = static_cast<float>(rng() % 14);
      h.sinks = static_cast<std::int64_t>(rng() % 8), h.sink_score = static_cast<float>(rng() % 16);
      for (int c = 0; c < static_cast<int>(rng() % 5); ++c) h.columns.push_back(static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(n)));
      h.column_score = static_cast<float>(rng() % 16);
      h.cluster_lo = static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(n)), h.cluster_hi = h.cluster_lo + 100;
      h.cluster_score = static_cast<float>(rng() % 12);
    }
    std::vector<bf16> q, k, v;
    testing::plant(heads, 4, d, n, 500 + trial, &q, &k, &v);
    const int n_last = trial % 3 == 0 ? 16 : 64;
    const auto e = estimate_sparse_prefill_cpu({q.data(), k.data(), v.data(), nullptr, 0, n, 4, 4, d}, n_last);
    const double target = trial % 2 ? 0.9 : 0.98;
    for (unsigned kinds : {kAllSparsePatterns, 1u, 2u, 4u}) {
      const auto choice = choose_sparse_prefill(e, target, kinds);
      std::vector<HeadPattern> pats;
      for (const auto& c : choice) pats.push_back(c.pattern);
      const auto l = lower_sparse_prefill(pats, n);
      for (int h = 0; h < 4; ++h) {
        const auto& c = choice[static_cast<std::size_t>(h)];
        INFO("trial " << trial << " tokens " << n << " kinds " << kinds << " head " << h << " " << sparse_pattern_name(c.pattern.kind));
        CHECK(l.blocks_computed(h) == c.blocks);
        CHECK(c.recall >= target - 1e-9);
        CHECK(((kinds >> static_cast<int>(c.pattern.kind)) & 1u));
        // The estimate's mass inside the pattern, from the summaries' own rows.
        double inside = 0;
        for (std::int64_t i = n - e.n_last; i < n; ++i) {
          double row = 0, all = 0;
          for (std::int64_t j = 0; j <= i; ++j) {
            double sc = 0;
            for (int x = 0; x < d; ++x) sc += double(bf16_to_float(q[(i * 4 + h) * d + x])) * bf16_to_float(k[(j * 4 + h) * d + x]);
            const double w = std::exp(sc / 4.0);
            all += w;
            if (sparse_prefill_contains(c.pattern, i, j)) row += w;
          }
          inside += row / all / e.n_last;
        }
        CHECK(inside >= c.recall - 2e-3);
      }
    }
  }
}

TEST_CASE("choose: a flat head falls back to full coverage; target 1 is reachable") {
  const std::int64_t n = 256;
  SparsePrefillEstimate e;
  e.n_heads = 1, e.tokens = n, e.n_last = 64;
  e.key_mass.assign(n, 0.f), e.offset_mass.assign(n, 0.f), e.block_offset_mass.assign(4, 0.f);
  for (std::int64_t i = n - 64; i < n; ++i) {
    for (std::int64_t j = 0; j <= i; ++j) {
      const float w = 1.f / float(i + 1) / 64.f;
      e.key_mass[j] += w, e.offset_mass[i - j] += w, e.block_offset_mass[i / 64 - j / 64] += w;
    }
  }
  const auto c = choose_sparse_prefill(e, 0.999);
  CHECK(c[0].blocks <= dense_causal_blocks(n));
  CHECK(c[0].recall >= 0.999);
  const auto l = lower_sparse_prefill(std::vector<HeadPattern>{c[0].pattern}, n);
  CHECK(l.blocks_computed(0) == c[0].blocks);
}

// Their time is a benchmark figure (bench_sparse_prefill's choose_ms and
// lower_ms, bench/RESULTS-prefill.md), not a test's: here only what they give.
TEST_CASE("choose and lower at 128K tokens x 32 heads") {
  const std::int64_t n = 131072, q = n / 64;
  const int nh = 32;
  SparsePrefillEstimate e;
  e.n_heads = nh, e.tokens = n, e.n_last = 64;
  e.key_mass.assign(static_cast<std::size_t>(nh * n), 0.f);
  e.offset_mass.assign(e.key_mass.size(), 0.f);
  e.block_offset_mass.assign(static_cast<std::size_t>(nh * q), 0.f);
  std::mt19937_64 rng(5);
  std::exponential_distribution<float> ex(1.f);
  for (int h = 0; h < nh; ++h) {  // sinks, a band, a few columns, a diffuse rest
    float* key = e.key_mass.data() + h * n;
    float* off = e.offset_mass.data() + h * n;
    float* blk = e.block_offset_mass.data() + h * q;
    for (std::int64_t j = 0; j < n; ++j) key[j] = ex(rng) * 1e-7f;
    for (int s = 0; s < 4; ++s) key[s] += 0.05f;
    for (int c = 0; c < 8; ++c) key[(c * 7919 * (h + 1)) % (n - 1024)] += 0.02f;
    for (std::int64_t o = 0; o < 512; ++o) off[o] = 0.5f / 512;
    off[0] += 0.1f;
    blk[0] = 0.5f, blk[1] = 0.1f, blk[q - 1] = 0.2f;
  }
  const auto choice = choose_sparse_prefill(e, 0.95);
  REQUIRE(choice.size() == static_cast<std::size_t>(nh));
  std::vector<HeadPattern> pats;
  std::int64_t chosen_blocks = 0;
  for (const auto& c : choice) {
    CHECK(c.recall >= 0.95);
    CHECK(c.blocks <= dense_causal_blocks(n));
    chosen_blocks += c.blocks;
    pats.push_back(c.pattern);
  }
  const auto l = lower_sparse_prefill(pats, n);
  CHECK(l.blocks_computed() == chosen_blocks);
  CHECK(chosen_blocks < nh * dense_causal_blocks(n) / 4);  // the planted structure is sparse
}

TEST_CASE("validation names the field") {
  auto msg = [](auto fn) {
    try {
      fn();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("no throw");
  };
  auto lower1 = [](HeadPattern p, std::int64_t n) { return [p, n] { lower_sparse_prefill(std::vector<HeadPattern>{p}, n); }; };
  CHECK_THAT(msg(lower1(triangular(0, 0), 10)), Catch::Contains("triangular.local_tokens"));
  CHECK_THAT(msg(lower1(triangular(-1, 1), 10)), Catch::Contains("triangular.sink_tokens"));
  CHECK_THAT(msg(lower1(interval_slash({}, {1}), 10)), Catch::Contains("interval_slash.slashes"));
  CHECK_THAT(msg(lower1(interval_slash({3, 2}, {0}), 10)), Catch::Contains("interval_slash.columns"));
  CHECK_THAT(msg(lower1(interval_slash({10}, {0}), 10)), Catch::Contains("interval_slash.columns"));
  CHECK_THAT(msg(lower1(block_cluster(-1, {}), 10)), Catch::Contains("block_cluster.local_blocks"));
  CHECK_THAT(msg(lower1(block_cluster(0, {1}), 64)), Catch::Contains("block_cluster.key_blocks"));
  CHECK_THAT(msg([] { lower_sparse_prefill(std::vector<HeadPattern>{}, 10); }), Catch::Contains("patterns"));
  std::vector<bf16> x(64 * 8);
  const auto l = lower_sparse_prefill(std::vector<HeadPattern>{triangular(0, 1)}, 64);
  CHECK_THAT(msg([&] { sparse_prefill_cpu({{x.data(), x.data(), x.data(), x.data(), 64, 64, 1, 1, 8}, host_view(l)}); }),
             Catch::Contains("attn.start"));
  CHECK_THAT(msg([&] { sparse_prefill_cpu({{x.data(), x.data(), x.data(), x.data(), 0, 128, 1, 1, 8}, host_view(l)}); }),
             Catch::Contains("layout.q_blocks"));
  CHECK_THAT(msg([&] { sparse_prefill_cpu({{x.data(), x.data(), x.data(), nullptr, 0, 64, 1, 1, 8}, host_view(l)}); }),
             Catch::Contains("o must be set"));
  CHECK_THAT(msg([&] { estimate_sparse_prefill_cpu({x.data(), x.data(), x.data(), nullptr, 0, 64, 1, 1, 8}, 0); }),
             Catch::Contains("n_last"));
  SparsePrefillEstimate e;
  CHECK_THAT(msg([&] { choose_sparse_prefill(e, 0.0); }), Catch::Contains("target_recall"));
  CHECK_THAT(msg([&] { choose_sparse_prefill(e, 0.9); }), Catch::Contains("estimate"));
  CHECK_THAT(msg([&] { choose_sparse_prefill(e, 0.9, 0u); }), Catch::Contains("kinds"));
}

// DSA references: indexer scores (ReLU, weights, -inf padding), token
// selection (hand top-k, forced sink/local tokens, ties, n_tokens < k,
// agreement with a full sort) and token gather, plus validation messages.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "catch.hpp"
#include "foresight/kernels/dsa.hpp"

using namespace foresight;
using namespace foresight::kernels;

namespace {

std::vector<bf16> to_bf16(const std::vector<float>& v) {
  std::vector<bf16> out;
  for (float x : v) out.push_back(float_to_bf16(x));
  return out;
}

struct Select {
  std::vector<float> scores;
  std::vector<std::int32_t> n_tokens, ids, count;
  TokenSelectParams params(int batch, int max_tokens, int topk) {
    TokenSelectParams p;
    ids.assign(std::size_t(batch) * topk, -7);
    count.assign(std::size_t(batch), -7);
    p.scores = scores.data(), p.n_tokens = n_tokens.data(), p.ids = ids.data(), p.count = count.data();
    p.batch = batch, p.max_tokens = max_tokens, p.topk = topk, p.sink_tokens = 0, p.local_tokens = 0;
    return p;
  }
};

std::string error_of(void (*fn)(const TokenSelectParams&), const TokenSelectParams& p) {
  try {
    fn(p);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("indexer_score: weighted sum of ReLU'd head dots, -inf past n_tokens") {
  // heads 2, head_dim 8, 4 cached slots, 3 valid tokens.
  const int H = 2, D = 8, T = 4;
  std::vector<float> q(H * D, 0.f), k(T * D, 0.f);
  q[0] = 1.f, q[1] = 2.f;          // head 0 reads dims 0, 1
  q[D + 2] = 1.f;                  // head 1 reads dim 2
  k[0 * D + 0] = 3.f, k[0 * D + 2] = 4.f;   // t0: head0 3, head1 4
  k[1 * D + 1] = -1.f, k[1 * D + 2] = 2.f;  // t1: head0 -2 (clipped), head1 2
  k[2 * D + 0] = 1.f, k[2 * D + 2] = -5.f;  // t2: head0 1, head1 -5 (clipped)
  k[3 * D + 0] = 9.f;                       // t3: beyond n_tokens
  const auto qb = to_bf16(q), kb = to_bf16(k);
  const auto w = to_bf16({0.5f, 2.f});
  const std::vector<std::int32_t> n{3};
  std::vector<float> out(T, 123.f);
  IndexerScoreParams p;
  p.q = qb.data(), p.w = w.data(), p.k = kb.data(), p.n_tokens = n.data(), p.scores = out.data();
  p.batch = 1, p.heads = H, p.head_dim = D, p.max_tokens = T;
  indexer_score_cpu(p);
  CHECK(out[0] == 0.5f * 3.f + 2.f * 4.f);
  CHECK(out[1] == 2.f * 2.f);  // head 0's -2 clipped to 0
  CHECK(out[2] == 0.5f * 1.f);  // head 1's -5 clipped to 0
  CHECK(out[3] == -INFINITY);
}

TEST_CASE("indexer_score: q and w read from one projection row per sequence") {
  // Row of sequence b: q [8] | w [1] | padding [7]; stride 16 elements.
  const int D = 8, T = 2;
  std::vector<float> rows(2 * 16, 0.f), k(2 * T * D, 0.f);
  rows[0] = 1.f, rows[8] = 3.f;         // seq 0: q = e0, w = 3
  rows[16 + 1] = 2.f, rows[16 + 8] = -1.f;  // seq 1: q = 2 e1, w = -1
  k[0] = 5.f, k[D + 0] = -1.f;           // seq 0: t0 5, t1 -1 (clipped)
  k[2 * D + 1] = 4.f, k[3 * D + 1] = 1.f;  // seq 1: t0 8, t1 2
  const auto rb = to_bf16(rows), kb = to_bf16(k);
  const std::vector<std::int32_t> n{2, 2};
  std::vector<float> out(2 * T);
  IndexerScoreParams p;
  p.q = rb.data(), p.w = rb.data() + 8, p.k = kb.data(), p.n_tokens = n.data(), p.scores = out.data();
  p.batch = 2, p.heads = 1, p.head_dim = D, p.max_tokens = T, p.q_batch_stride = 16, p.w_batch_stride = 16;
  indexer_score_cpu(p);
  CHECK(out == std::vector<float>{15.f, 0.f, -8.f, -2.f});
  p.q_batch_stride = 12;  // not a multiple of 8
  CHECK_THROWS_WITH(indexer_score_cpu(p), Catch::Contains("q_batch_stride"));
}

TEST_CASE("indexer_score: batch stride and per-sequence weights") {
  const int H = 1, D = 8, T = 2;
  const std::int64_t stride = 3 * D;  // one padding row between sequences
  std::vector<float> k(2 * stride, 0.f);
  k[0] = 1.f, k[D] = 2.f, k[stride] = 3.f, k[stride + D] = -4.f;
  std::vector<float> q(2 * D, 0.f);
  q[0] = 1.f, q[D] = 1.f;
  const auto qb = to_bf16(q), kb = to_bf16(k);
  const auto w = to_bf16({1.f, 10.f});
  const std::vector<std::int32_t> n{2, 1};
  std::vector<float> out(2 * T);
  IndexerScoreParams p;
  p.q = qb.data(), p.w = w.data(), p.k = kb.data(), p.n_tokens = n.data(), p.scores = out.data();
  p.batch = 2, p.heads = H, p.head_dim = D, p.max_tokens = T, p.k_batch_stride = stride;
  indexer_score_cpu(p);
  CHECK(out == std::vector<float>{1.f, 2.f, 30.f, -INFINITY});
}

TEST_CASE("token_select: hand top-k sorted ascending") {
  Select c{{5.f, 1.f, 9.f, 3.f, 7.f, 2.f, 8.f, 0.f}, {8}, {}, {}};
  auto p = c.params(1, 8, 3);
  token_select_cpu(p);
  CHECK(c.ids == std::vector<std::int32_t>{2, 4, 6});
  CHECK(c.count == std::vector<std::int32_t>{3});
}

TEST_CASE("token_select: sink and local tokens are forced, even over +inf") {
  Select c{{-5.f, 1.f, INFINITY, 3.f, 7.f, 2.f, 8.f, -9.f}, {8}, {}, {}};
  auto p = c.params(1, 8, 4);
  p.sink_tokens = 1, p.local_tokens = 2;  // forced {0, 6, 7}
  token_select_cpu(p);
  CHECK(c.ids == std::vector<std::int32_t>{0, 2, 6, 7});
  p.sink_tokens = 2, p.local_tokens = 2;  // forced {0, 1, 6, 7}: the +inf token no longer fits
  token_select_cpu(p);
  CHECK(c.ids == std::vector<std::int32_t>{0, 1, 6, 7});
}

TEST_CASE("token_select: local window follows n_tokens of each sequence") {
  // Two sequences, max_tokens 6; sequence 1 has 4 tokens so its newest is 3.
  Select c{{9.f, 8.f, 7.f, 6.f, 5.f, 4.f, 9.f, 8.f, 7.f, 1.f, -INFINITY, -INFINITY}, {6, 4}, {}, {}};
  auto p = c.params(2, 6, 2);
  p.local_tokens = 1;
  token_select_cpu(p);
  CHECK(c.ids == std::vector<std::int32_t>{0, 5, 0, 3});
}

TEST_CASE("token_select: ties go to the lower id; NaN and -inf rank last; -0 equals +0") {
  Select c{{NAN, 1.f, 1.f, -INFINITY, 1.f, 1.f, -0.f, 0.f}, {8}, {}, {}};
  auto p = c.params(1, 8, 3);
  token_select_cpu(p);
  CHECK(c.ids == std::vector<std::int32_t>{1, 2, 4});
  p = c.params(1, 8, 7);  // four 1s, then -0 and +0 (tie: 6 before 7), then NaN (id 0) over -inf (id 3)
  token_select_cpu(p);
  CHECK(c.ids == std::vector<std::int32_t>{0, 1, 2, 4, 5, 6, 7});
}

TEST_CASE("token_select: n_tokens < topk keeps every token and pads with -1") {
  Select c{{3.f, 1.f, 2.f, -INFINITY, -INFINITY}, {3}, {}, {}};
  auto p = c.params(1, 5, 4);
  p.local_tokens = 1;
  token_select_cpu(p);
  CHECK(c.ids == std::vector<std::int32_t>{0, 1, 2, -1});
  CHECK(c.count == std::vector<std::int32_t>{3});
  c.n_tokens = {0};
  p = c.params(1, 5, 4);
  token_select_cpu(p);
  CHECK(c.ids == std::vector<std::int32_t>{-1, -1, -1, -1});
  CHECK(c.count == std::vector<std::int32_t>{0});
}

TEST_CASE("token_select agrees with a stable full sort on random scores with ties") {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 30; ++trial) {
    const int batch = 3, max_tokens = 1 + static_cast<int>(rng() % 500), topk = 1 + static_cast<int>(rng() % 60);
    Select c;
    for (int i = 0; i < batch * max_tokens; ++i) c.scores.push_back(static_cast<float>(rng() % 7) - 3.f);
    for (int b = 0; b < batch; ++b) c.n_tokens.push_back(static_cast<int>(rng() % (max_tokens + 1)));
    auto p = c.params(batch, max_tokens, topk);
    p.sink_tokens = static_cast<int>(rng() % 3);
    p.local_tokens = std::min(topk - p.sink_tokens, static_cast<int>(rng() % 4));
    token_select_cpu(p);
    for (int b = 0; b < batch; ++b) {
      const int n = c.n_tokens[b];
      std::vector<std::pair<float, int>> all;
      for (int t = 0; t < n; ++t) {
        const bool forced = t < p.sink_tokens || t >= n - p.local_tokens;
        all.push_back({forced ? INFINITY : c.scores[std::size_t(b) * max_tokens + t], t});
      }
      std::stable_sort(all.begin(), all.end(), [](auto& x, auto& y) { return x.first > y.first; });
      std::vector<std::int32_t> expect;
      for (int i = 0; i < std::min(topk, n); ++i) expect.push_back(all[i].second);
      std::sort(expect.begin(), expect.end());
      expect.resize(std::size_t(topk), -1);
      const std::vector<std::int32_t> got(c.ids.begin() + b * topk, c.ids.begin() + (b + 1) * topk);
      REQUIRE(got == expect);
      CHECK(c.count[b] == std::min(topk, n));
    }
  }
}

TEST_CASE("token_gather copies the K/V rows of the selected tokens, leaves the rest") {
  const int batch = 2, kv = 2, D = 8, T = 6, topk = 3;
  std::vector<bf16> sk(std::size_t(batch) * kv * T * D), sv(sk.size());
  for (std::size_t i = 0; i < sk.size(); ++i) sk[i] = float_to_bf16(float(i)), sv[i] = float_to_bf16(-float(i));
  const std::vector<std::int32_t> ids{1, 4, 5, 2, -1, -1}, count{3, 1};
  std::vector<bf16> ok(std::size_t(batch) * topk * kv * D, bf16{0x7777}), ov(ok.size(), bf16{0x7777});
  TokenGatherParams p;
  p.store_k = sk.data(), p.store_v = sv.data(), p.ids = ids.data(), p.count = count.data();
  p.out_k = ok.data(), p.out_v = ov.data();
  p.batch = batch, p.topk = topk, p.kv_heads = kv, p.head_dim = D, p.max_tokens = T;
  token_gather_cpu(p);
  for (int b = 0; b < batch; ++b)
    for (int i = 0; i < topk; ++i)
      for (int h = 0; h < kv; ++h)
        for (int d = 0; d < D; ++d) {
          const std::size_t at = ((std::size_t(b) * kv + h) * topk + i) * D + d;
          if (i < count[b]) {
            const float src = float(((b * kv + h) * T + ids[b * topk + i]) * D + d);
            REQUIRE(bf16_to_float(ok[at]) == src);
            REQUIRE(bf16_to_float(ov[at]) == -src);
          } else {
            REQUIRE(ok[at].bits == 0x7777);
            REQUIRE(ov[at].bits == 0x7777);
          }
        }
  const std::vector<std::int32_t> bad{1, 6, 0, 0, 0, 0};
  p.ids = bad.data();
  CHECK_THROWS_WITH(token_gather_cpu(p), "token_gather: ids out of [0, max_tokens)");
}

TEST_CASE("DSA validation names the field") {
  Select c{{1.f, 2.f}, {2}, {}, {}};
  auto p = c.params(1, 2, 2);
  p.sink_tokens = 1, p.local_tokens = 2;
  CHECK(error_of(token_select_cpu, p) == "token_select: sink_tokens + local_tokens must be <= topk");
  p.local_tokens = -1;
  CHECK(error_of(token_select_cpu, p) == "token_select: local_tokens must be >= 0");
  p = c.params(1, 2, 0);
  CHECK(error_of(token_select_cpu, p) == "token_select: topk must be positive");
  c.n_tokens = {3};
  p = c.params(1, 2, 2);
  CHECK(error_of(token_select_cpu, p) == "token_select: n_tokens[b] must be in [0, max_tokens]");

  std::vector<bf16> q(16), k(16);
  std::vector<bf16> w(2);
  std::vector<float> out(2);
  std::vector<std::int32_t> n{2};
  IndexerScoreParams ip;
  ip.q = q.data(), ip.w = w.data(), ip.k = k.data(), ip.n_tokens = n.data(), ip.scores = out.data();
  ip.batch = 1, ip.heads = 2, ip.head_dim = 12, ip.max_tokens = 2;
  CHECK_THROWS_WITH(indexer_score_cpu(ip), "indexer_score: head_dim must be a positive multiple of 8");
  ip.head_dim = 8, ip.w = nullptr;
  CHECK_THROWS_WITH(indexer_score_cpu(ip), "indexer_score: q/w/k/n_tokens/scores must be set");

  TokenGatherParams gp;
  gp.store_k = k.data(), gp.store_v = k.data(), gp.ids = n.data(), gp.count = n.data();
  gp.out_k = q.data(), gp.out_v = q.data(), gp.batch = 1, gp.topk = 1, gp.head_dim = 8, gp.max_tokens = 0;
  CHECK_THROWS_WITH(token_gather_cpu(gp), "token_gather: max_tokens must be positive");
  gp.max_tokens = 2;
  CHECK_THROWS_WITH(token_gather_cpu(gp), "token_gather: count[b] must be in [0, topk]");  // count 2 > topk 1
}

// Stage-1 scoring references: hand-computed dot products, padding, and the
// query selector's probabilities (each head's softmax sums to 1).
#include <cmath>
#include <vector>

#include "catch.hpp"
#include "foresight/kernels/block_score.hpp"
#include "numeric.hpp"

using namespace foresight;
using namespace foresight::kernels;

namespace {
std::vector<bf16> to_bf16(const std::vector<float>& v) {
  std::vector<bf16> out;
  for (float x : v) out.push_back(float_to_bf16(x));
  return out;
}
}  // namespace

TEST_CASE("forecast scores are raw dot products per kv head, -inf past n_comp") {
  // batch 1, kv_heads 2, head_dim 8, max_comp 3, n_comp 2.
  std::vector<float> f(16, 0.f);
  f[0] = 1.f, f[1] = 2.f;    // head 0
  f[8] = -1.f, f[15] = 0.5f; // head 1
  std::vector<float> kc(3 * 2 * 8, 0.f);
  auto at = [&](int j, int g, int d) -> float& { return kc[(j * 2 + g) * 8 + d]; };
  at(0, 0, 0) = 3.f, at(0, 0, 1) = 1.f;   // head 0, j 0: 3 + 2 = 5
  at(1, 0, 1) = -2.f;                     // head 0, j 1: -4
  at(0, 1, 0) = 2.f, at(0, 1, 7) = 4.f;   // head 1, j 0: -2 + 2 = 0
  at(1, 1, 7) = 8.f;                      // head 1, j 1: 4
  at(2, 0, 0) = 100.f;                    // beyond n_comp: ignored
  const auto fb = to_bf16(f), kb = to_bf16(kc);
  const std::int32_t n_comp = 2;
  std::vector<float> scores(6, 123.f);
  BlockScoreParams p;
  p.sel = fb.data(), p.kc = kb.data(), p.n_comp = &n_comp, p.scores = scores.data();
  p.batch = 1, p.kv_heads = 2, p.head_dim = 8, p.max_comp = 3;
  block_score_forecast_cpu(p);
  CHECK(scores[0] == 5.f);
  CHECK(scores[1] == -4.f);
  CHECK(std::isinf(scores[2]));
  CHECK(scores[2] < 0);
  CHECK(scores[3] == 0.f);
  CHECK(scores[4] == 4.f);
  CHECK(std::isinf(scores[5]));
}

TEST_CASE("query selector sums per-head softmax probabilities over the group") {
  const int batch = 2, kv_heads = 2, n_heads = 8, d = 16, max_comp = 37;
  const auto q = testing::random_bf16(std::size_t(batch) * n_heads * d, 1);
  const auto kc = testing::random_bf16(std::size_t(batch) * max_comp * kv_heads * d, 2);
  const std::vector<std::int32_t> n_comp = {37, 5};
  std::vector<float> scores(std::size_t(batch) * kv_heads * max_comp);
  BlockScoreParams p;
  p.sel = q.data(), p.kc = kc.data(), p.n_comp = n_comp.data(), p.scores = scores.data();
  p.batch = batch, p.kv_heads = kv_heads, p.n_heads = n_heads, p.head_dim = d, p.max_comp = max_comp;
  block_score_query_group_cpu(p);
  for (int b = 0; b < batch; ++b)
    for (int g = 0; g < kv_heads; ++g) {
      double sum = 0;
      for (int j = 0; j < max_comp; ++j) {
        const float s = scores[(b * kv_heads + g) * max_comp + j];
        if (j < n_comp[b]) {
          CHECK(s >= 0.f);
          CHECK(s <= 4.f);
          sum += s;
        } else {
          CHECK(std::isinf(s));
        }
      }
      CHECK(sum == Approx(4.0).epsilon(1e-5));  // group of 4 heads, each softmax sums to 1
    }

  SECTION("one head, two keys: probabilities follow the logit gap") {
    // scale 0.5: logit0 = 0.5 * (4 * 1) = 2, logit1 = 0, so p0 = e^2 / (1 + e^2).
    std::vector<bf16> q8(8), k8(16);
    q8[0] = float_to_bf16(4.f);
    k8[0] = float_to_bf16(1.f);
    const std::int32_t n = 2;
    std::vector<float> out(2);
    BlockScoreParams one;
    one.sel = q8.data(), one.kc = k8.data(), one.n_comp = &n, one.scores = out.data();
    one.batch = 1, one.kv_heads = 1, one.n_heads = 1, one.head_dim = 8, one.max_comp = 2;
    one.softmax_scale = 0.5f;
    block_score_query_group_cpu(one);
    const double e2 = std::exp(2.0);
    CHECK(out[0] == Approx(e2 / (1 + e2)));
    CHECK(out[1] == Approx(1 / (1 + e2)));
  }
}

TEST_CASE("block scoring rejects inconsistent sizes") {
  BlockScoreParams p;
  CHECK_THROWS_AS(block_score_forecast_cpu(p), std::invalid_argument);
}

// Prefill attention CPU reference: one token attends only itself; softmax
// weights sum to one; chunked prefill equals one whole prefill; GQA mapping.
#include <cmath>
#include <vector>

#include "catch.hpp"
#include "foresight/kernels/prefill_attention.hpp"
#include "numeric.hpp"

using namespace foresight;
using namespace foresight::kernels;

TEST_CASE("a single token's output is its value") {
  const int nh = 4, nkv = 2, d = 16;
  auto q = testing::random_bf16(nh * d, 1), k = testing::random_bf16(nkv * d, 2);
  auto v = testing::random_bf16(nkv * d, 3);
  std::vector<bf16> o(nh * d);
  prefill_attention_cpu({q.data(), k.data(), v.data(), o.data(), 0, 1, nh, nkv, d});
  for (int h = 0; h < nh; ++h)
    for (int e = 0; e < d; ++e) REQUIRE(o[h * d + e].bits == v[(h / 2) * d + e].bits);
}

TEST_CASE("all-ones values give ones: softmax weights sum to 1") {
  const int n = 50, nh = 2, nkv = 1, d = 8;
  auto q = testing::random_bf16(n * nh * d, 4, -3, 3), k = testing::random_bf16(n * nkv * d, 5, -3, 3);
  std::vector<bf16> v(n * nkv * d, float_to_bf16(1.f)), o(n * nh * d);
  prefill_attention_cpu({q.data(), k.data(), v.data(), o.data(), 0, n, nh, nkv, d});
  for (auto x : o) REQUIRE(bf16_to_float(x) == 1.f);
}

TEST_CASE("causal: two tokens with hand-computed weights") {
  // d = 1, scale 1: q1 = 1, k0 = 0, k1 = ln 3 -> weights 1/4, 3/4.
  std::vector<bf16> q = {float_to_bf16(0), float_to_bf16(1)};
  std::vector<bf16> k = {float_to_bf16(0), float_to_bf16(std::log(3.f))};
  std::vector<bf16> v = {float_to_bf16(4), float_to_bf16(8)}, o(2);
  PrefillAttentionParams p{q.data(), k.data(), v.data(), o.data(), 0, 2, 1, 1, 1, 1.f};
  prefill_attention_cpu(p);
  CHECK(bf16_to_float(o[0]) == 4.f);  // token 0 sees only itself
  const float lw = std::exp(bf16_to_float(k[1])) / (1 + std::exp(bf16_to_float(k[1])));
  CHECK(bf16_to_float(o[1]) == Approx(4 * (1 - lw) + 8 * lw).epsilon(4e-3));
}

TEST_CASE("chunked prefill equals one whole prefill") {
  const int n = 40, split = 17, nh = 4, nkv = 2, d = 16;
  auto q = testing::random_bf16(n * nh * d, 6), k = testing::random_bf16(n * nkv * d, 7);
  auto v = testing::random_bf16(n * nkv * d, 8);
  std::vector<bf16> whole(n * nh * d), chunked(n * nh * d);
  prefill_attention_cpu({q.data(), k.data(), v.data(), whole.data(), 0, n, nh, nkv, d});
  prefill_attention_cpu({q.data(), k.data(), v.data(), chunked.data(), 0, split, nh, nkv, d});
  prefill_attention_cpu({q.data() + split * nh * d, k.data(), v.data(),
                         chunked.data() + split * nh * d, split, n - split, nh, nkv, d});
  for (std::size_t i = 0; i < whole.size(); ++i) REQUIRE(whole[i].bits == chunked[i].bits);
  CHECK(prefill_attention_flops({nullptr, nullptr, nullptr, nullptr, 0, 2, 1, 1, 4}) == 4.0 * 3 * 4);
}

// The parallel dense references (gemm, linear, prefill attention) give the
// same bits on 1 thread as on several (kernels/cpu_threads.hpp): shapes with
// remainders, strides, accumulation and a cached prefix. The vectorised
// prefill attention gives the bits of the plain per-key loop.
#include <algorithm>
#include <cmath>
#include <vector>

#include "catch.hpp"
#include "foresight/kernels/gemm.hpp"
#include "foresight/kernels/linear.hpp"
#include "foresight/kernels/prefill_attention.hpp"
#include "numeric.hpp"
#include "threads.hpp"

using namespace foresight;
using namespace foresight::kernels;

TEST_CASE("gemm: same bits on 1 and several threads") {
  struct Shape { int rows, in, out; bool accumulate; };
  for (Shape s : {Shape{1, 64, 1000, false}, Shape{8, 256, 448, true}, Shape{37, 96, 129, false},
                  Shape{300, 128, 640, true}}) {
    const auto x = testing::random_bf16(std::size_t(s.rows) * s.in, 1);
    const auto w = testing::random_bf16(std::size_t(s.out) * s.in, 2, -0.1f, 0.1f);
    const auto y0 = testing::random_bf16(std::size_t(s.rows) * s.out, 3);
    CHECK(testing::same_bits_on_threads([&] {
      std::vector<bf16> y = y0;
      GemmParams p{x.data(), w.data(), y.data(), s.rows, s.in, s.out};
      p.accumulate = s.accumulate;
      gemm_cpu(p);
      return y;
    }));
  }
}

TEST_CASE("linear with norm and swiglu: same bits on 1 and several threads") {
  const int rows = 9, in = 128, out = 2 * 300;
  const auto x = testing::random_bf16(std::size_t(rows) * in, 4);
  const auto w = testing::random_bf16(std::size_t(out) * in, 5, -0.1f, 0.1f);
  const auto nw = testing::random_bf16(in, 6, 0.5f, 1.5f);
  CHECK(testing::same_bits_on_threads([&] {
    std::vector<bf16> y(std::size_t(rows) * out / 2), xn(x.size()), scratch(std::size_t(rows) * out);
    LinearParams p{x.data(), w.data(), y.data(), rows, in, out, nw.data(), xn.data()};
    p.swiglu = true;
    p.swiglu_scratch = scratch.data();
    linear_cpu(p);
    return y;
  }));
}

TEST_CASE("prefill attention: same bits on 1 and several threads") {
  struct Shape { std::int64_t start, chunk; int nh, nkv, d; };
  for (Shape s : {Shape{0, 1, 4, 2, 32}, Shape{0, 70, 8, 2, 32}, Shape{45, 33, 6, 3, 16}}) {
    const std::int64_t kv = s.start + s.chunk;
    const auto q = testing::random_bf16(std::size_t(s.chunk) * s.nh * s.d, 7, -2.f, 2.f);
    const auto k = testing::random_bf16(std::size_t(kv) * s.nkv * s.d, 8, -2.f, 2.f);
    const auto v = testing::random_bf16(std::size_t(kv) * s.nkv * s.d, 9);
    CHECK(testing::same_bits_on_threads([&] {
      std::vector<bf16> o(q.size());
      prefill_attention_cpu({q.data(), k.data(), v.data(), o.data(), s.start, s.chunk, s.nh, s.nkv, s.d});
      return o;
    }));
  }
}

namespace {
// The plain reference prefill attention was before it was vectorised: per
// query and head, scores key by key, softmax, weighted sum of V.
std::vector<bf16> plain_prefill_attention(const PrefillAttentionParams& p) {
  const int group = p.n_heads / p.n_kv_heads;
  const std::int64_t row = std::int64_t{p.n_heads} * p.head_dim, kv_row = std::int64_t{p.n_kv_heads} * p.head_dim;
  const float scale = 1.f / std::sqrt(static_cast<float>(p.head_dim));
  std::vector<bf16> o(static_cast<std::size_t>(p.chunk * row));
  std::vector<float> scores, acc(static_cast<std::size_t>(p.head_dim));
  for (std::int64_t i = 0; i < p.chunk; ++i)
    for (int h = 0; h < p.n_heads; ++h) {
      const std::int64_t n_keys = p.start + i + 1, kv_off = std::int64_t{h / group} * p.head_dim;
      const bf16* q = p.q + i * row + std::int64_t{h} * p.head_dim;
      scores.assign(static_cast<std::size_t>(n_keys), 0.f);
      float max_s = -INFINITY;
      for (std::int64_t j = 0; j < n_keys; ++j) {
        float s = 0;
        for (int e = 0; e < p.head_dim; ++e) s += bf16_to_float(q[e]) * bf16_to_float(p.k[j * kv_row + kv_off + e]);
        scores[j] = s * scale;
        max_s = std::max(max_s, s * scale);
      }
      float denom = 0;
      std::fill(acc.begin(), acc.end(), 0.f);
      for (std::int64_t j = 0; j < n_keys; ++j) {
        const float w = std::exp(scores[j] - max_s);
        denom += w;
        for (int e = 0; e < p.head_dim; ++e) acc[e] += w * bf16_to_float(p.v[j * kv_row + kv_off + e]);
      }
      for (int e = 0; e < p.head_dim; ++e) o[i * row + std::int64_t{h} * p.head_dim + e] = float_to_bf16(acc[e] / denom);
    }
  return o;
}
}  // namespace

TEST_CASE("prefill attention equals the plain per-key loop bit for bit") {
  const std::int64_t start = 29, chunk = 50;
  const int nh = 4, nkv = 2, d = 24;
  const auto q = testing::random_bf16(std::size_t(chunk) * nh * d, 10, -2.f, 2.f);
  const auto k = testing::random_bf16(std::size_t(start + chunk) * nkv * d, 11, -2.f, 2.f);
  const auto v = testing::random_bf16(std::size_t(start + chunk) * nkv * d, 12);
  std::vector<bf16> o(q.size());
  const PrefillAttentionParams p{q.data(), k.data(), v.data(), o.data(), start, chunk, nh, nkv, d};
  prefill_attention_cpu(p);
  const std::vector<bf16> plain = plain_prefill_attention(p);
  std::size_t same = 0;
  for (std::size_t i = 0; i < o.size(); ++i) same += o[i].bits == plain[i].bits;
  CHECK(same == o.size());
}

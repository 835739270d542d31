// CPU references of RMSNorm, residual add, embedding and SwiGLU against
// hand-computed values.
#include <cmath>
#include <stdexcept>
#include <vector>

#include "catch.hpp"
#include "foresight/kernels/embedding.hpp"
#include "foresight/kernels/residual_add.hpp"
#include "foresight/kernels/rmsnorm.hpp"
#include "foresight/kernels/swiglu.hpp"

using namespace foresight;
using namespace foresight::kernels;

namespace {
std::vector<bf16> bf(std::initializer_list<float> v) {
  std::vector<bf16> out;
  for (float x : v) out.push_back(float_to_bf16(x));
  return out;
}
float f(bf16 x) { return bf16_to_float(x); }
}  // namespace

TEST_CASE("rmsnorm of a constant row is the weight (up to eps)") {
  const int hidden = 64;
  std::vector<bf16> x(2 * hidden, float_to_bf16(3.f)), w(hidden), y(2 * hidden);
  for (int i = 0; i < hidden; ++i) w[i] = float_to_bf16(0.25f * static_cast<float>(i % 7));
  for (int i = 0; i < hidden; ++i) x[hidden + i] = float_to_bf16(-0.5f);
  rmsnorm_cpu({x.data(), w.data(), y.data(), 2, hidden, 0, 0, 0.f});
  for (int i = 0; i < hidden; ++i) {
    CHECK(f(y[i]) == Approx(f(w[i])).margin(1e-6));
    CHECK(f(y[hidden + i]) == Approx(-f(w[i])).margin(1e-6));  // sign survives
  }
}

TEST_CASE("rmsnorm hand-computed row, strides and eps") {
  // x = [3, 4]: mean square 12.5, rms = sqrt(12.5 + 0.5) = sqrt(13)
  std::vector<bf16> x = bf({3, 4, 99}), w = bf({1, 2}), y = bf({0, 0, 7, 7});
  rmsnorm_cpu({x.data(), w.data(), y.data(), 1, 2, 3, 4, 0.5f});
  CHECK(f(y[0]) == Approx(3 / std::sqrt(13.f)).epsilon(4e-3));
  CHECK(f(y[1]) == Approx(8 / std::sqrt(13.f)).epsilon(4e-3));
  CHECK(f(y[2]) == 7.f);  // padding untouched
  CHECK_THROWS_AS(rmsnorm_cpu({x.data(), w.data(), y.data(), 1, 2, 1, 0, 0.f}),
                  std::invalid_argument);
}

TEST_CASE("residual add in place") {
  std::vector<bf16> a = bf({1, -2, 0.5f}), b = bf({0.25f, 2, -4});
  residual_add_cpu({a.data(), b.data(), a.data(), 3});
  CHECK(f(a[0]) == 1.25f);
  CHECK(f(a[1]) == 0.f);
  CHECK(f(a[2]) == -3.5f);
}

TEST_CASE("embedding copies rows and rejects ids outside the vocab") {
  std::vector<bf16> table = bf({0, 1, 10, 11, 20, 21});  // vocab 3, hidden 2
  std::vector<std::int32_t> ids = {2, 0, 2};
  std::vector<bf16> out(6);
  embedding_cpu({ids.data(), table.data(), out.data(), 3, 3, 2});
  CHECK(f(out[0]) == 20.f);
  CHECK(f(out[1]) == 21.f);
  CHECK(f(out[2]) == 0.f);
  CHECK(f(out[5]) == 21.f);
  ids[1] = 3;
  CHECK_THROWS_AS(embedding_cpu({ids.data(), table.data(), out.data(), 3, 3, 2}),
                  std::out_of_range);
  ids[1] = -1;
  CHECK_THROWS_AS(embedding_cpu({ids.data(), table.data(), out.data(), 3, 3, 2}),
                  std::out_of_range);
}

TEST_CASE("swiglu splits gate (first half) and up (second half)") {
  // rows 1, inter 3: gate [0, 1, -2], up [5, 2, 3]
  std::vector<bf16> gu = bf({0, 1, -2, 5, 2, 3}), out(3);
  swiglu_cpu({gu.data(), out.data(), 1, 3});
  auto silu = [](float g) { return g / (1 + std::exp(-g)); };
  CHECK(f(out[0]) == 0.f);
  CHECK(f(out[1]) == Approx(silu(1) * 2).epsilon(4e-3));
  CHECK(f(out[2]) == Approx(silu(-2) * 3).epsilon(4e-3));
}

// RoPE CPU reference: frequency tables (plain and Llama-3 scaling) and the
// rotation's invariants.
#include <cmath>
#include <numbers>
#include <vector>

#include "catch.hpp"
#include "foresight/kernels/rope.hpp"
#include "numeric.hpp"

using namespace foresight;
using namespace foresight::kernels;

namespace {
double norm(const bf16* x, int n) {
  double s = 0;
  for (int i = 0; i < n; ++i) s += double(bf16_to_float(x[i])) * bf16_to_float(x[i]);
  return std::sqrt(s);
}
}  // namespace

TEST_CASE("plain inverse frequencies are theta^(-2i/d)") {
  auto inv = rope_inv_freq({RopeFrequencies::Kind::kPlain, 10000.0}, 8);
  REQUIRE(inv.size() == 4);
  CHECK(inv[0] == 1.f);
  CHECK(inv[1] == Approx(0.1f));
  CHECK(inv[2] == Approx(0.01f));
  CHECK(inv[3] == Approx(0.001f));
  CHECK_THROWS_AS(rope_inv_freq({}, 7), std::invalid_argument);
}

TEST_CASE("llama3 scaling keeps high frequencies, divides low ones by factor") {
  RopeFrequencies plain{RopeFrequencies::Kind::kPlain, 500000.0};
  RopeFrequencies l3 = plain;
  l3.kind = RopeFrequencies::Kind::kLlama3;  // factor 8, low 1, high 4, original 8192
  const int d = 128;
  auto a = rope_inv_freq(plain, d), b = rope_inv_freq(l3, d);
  int high = 0, low = 0, medium = 0;
  for (int i = 0; i < d / 2; ++i) {
    const double wavelen = 2 * std::numbers::pi / a[i];
    if (wavelen < 8192.0 / 4) {
      CHECK(b[i] == a[i]);
      ++high;
    } else if (wavelen > 8192.0 / 1) {
      CHECK(b[i] == Approx(a[i] / 8));
      ++low;
    } else {
      CHECK(b[i] < a[i]);
      CHECK(b[i] > a[i] / 8);
      ++medium;
    }
  }
  CHECK(high > 0);  // each band is exercised
  CHECK(low > 0);
  CHECK(medium > 0);
}

TEST_CASE("rope at position 0 is the identity; rotation preserves norms") {
  const int batch = 3, nh = 4, nkv = 2, d = 64;
  auto inv = rope_inv_freq({RopeFrequencies::Kind::kPlain, 10000.0}, d);
  auto q0 = testing::random_bf16(batch * nh * d, 11), k0 = testing::random_bf16(batch * nkv * d, 12);
  auto f0 = testing::random_bf16(batch * nkv * d, 13);
  auto q = q0, k = k0, fc = f0;
  std::vector<std::int32_t> pos = {0, 0, 0};
  rope_cpu({q.data(), k.data(), fc.data(), pos.data(), inv.data(), batch, nh, nkv, d});
  for (std::size_t i = 0; i < q.size(); ++i) REQUIRE(q[i].bits == q0[i].bits);
  for (std::size_t i = 0; i < k.size(); ++i) REQUIRE(k[i].bits == k0[i].bits);
  for (std::size_t i = 0; i < fc.size(); ++i) REQUIRE(fc[i].bits == f0[i].bits);

  pos = {1, 777, 131071};
  rope_cpu({q.data(), k.data(), fc.data(), pos.data(), inv.data(), batch, nh, nkv, d});
  for (int h = 0; h < batch * nh; ++h) {
    CHECK(norm(&q[h * d], d) == Approx(norm(&q0[h * d], d)).epsilon(1e-2));
  }
  bool changed = false;
  for (int h = 0; h < batch * nkv; ++h) {
    CHECK(norm(&k[h * d], d) == Approx(norm(&k0[h * d], d)).epsilon(1e-2));
    CHECK(norm(&fc[h * d], d) == Approx(norm(&f0[h * d], d)).epsilon(1e-2));
    changed = changed || k[h * d].bits != k0[h * d].bits;
  }
  CHECK(changed);
}

TEST_CASE("rope hand-computed rotation of one pair, with batch strides") {
  // head_dim 2: (x0, x1) rotated by pos * 1 rad; q batch stride 4 (padding).
  std::vector<float> inv = {1.f};
  std::vector<bf16> q = {float_to_bf16(1), float_to_bf16(0), float_to_bf16(9), float_to_bf16(9),
                         float_to_bf16(0), float_to_bf16(2)};
  std::vector<std::int32_t> pos = {1, 2};
  RopeParams p{q.data(), nullptr, nullptr, pos.data(), inv.data(), 2, 1, 0, 2};
  p.q_batch_stride = 4;
  rope_cpu(p);
  CHECK(bf16_to_float(q[0]) == Approx(std::cos(1.f)).epsilon(4e-3));
  CHECK(bf16_to_float(q[1]) == Approx(std::sin(1.f)).epsilon(4e-3));
  CHECK(bf16_to_float(q[2]) == 9.f);
  CHECK(bf16_to_float(q[4]) == Approx(-2 * std::sin(2.f)).epsilon(4e-3));
  CHECK(bf16_to_float(q[5]) == Approx(2 * std::cos(2.f)).epsilon(4e-3));
}

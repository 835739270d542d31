// linear_cpu is exactly the composition rmsnorm_cpu -> gemm_cpu -> swiglu_cpu
// (bit for bit, every flag combination), matches hand-computed tiny cases,
// and validate_linear rejects bad parameters naming the field.
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "catch.hpp"
#include "foresight/kernels/gemm.hpp"
#include "foresight/kernels/linear.hpp"
#include "foresight/kernels/rmsnorm.hpp"
#include "foresight/kernels/swiglu.hpp"
#include "numeric.hpp"

using namespace foresight;
using namespace foresight::kernels;

namespace {
bool same_bits(const std::vector<bf16>& a, const std::vector<bf16>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i].bits != b[i].bits) return false;
  }
  return true;
}

std::vector<bf16> bf16s(std::initializer_list<float> v) {
  std::vector<bf16> out;
  for (float f : v) out.push_back(float_to_bf16(f));
  return out;
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("linear_cpu equals rmsnorm_cpu -> gemm_cpu -> swiglu_cpu bit for bit") {
  const int rows = 3, in = 40, out = 24;
  const auto x = testing::random_bf16(std::size_t(rows) * in, 11, -3, 3);
  const auto w = testing::random_bf16(std::size_t(out) * in, 12, -0.3f, 0.3f);
  const auto norm_w = testing::random_bf16(in, 13, 0.5f, 1.5f);
  const auto y0 = testing::random_bf16(std::size_t(rows) * out, 14, -2, 2);
  for (const bool norm : {false, true}) {
    for (const int epilogue : {0, 1, 2}) {  // 0 plain, 1 accumulate, 2 swiglu
      CAPTURE(norm, epilogue);
      const bool swiglu = epilogue == 2;
      const int y_cols = swiglu ? out / 2 : out;
      // The fused op.
      std::vector<bf16> y(y0.begin(), y0.begin() + std::ptrdiff_t(rows) * y_cols), xn(x.size()), scratch(y0.size());
      LinearParams p{x.data(), w.data(), y.data(), rows, in, out};
      if (norm) {
        p.norm_weight = norm_w.data();
        p.norm_out = xn.data();
        p.eps = 1e-5f;
      }
      p.swiglu = swiglu;
      p.swiglu_scratch = swiglu ? scratch.data() : nullptr;
      p.accumulate = epilogue == 1;
      linear_cpu(p);
      // The explicit composition.
      std::vector<bf16> y_ref(y0.begin(), y0.begin() + std::ptrdiff_t(rows) * y_cols), xn_ref(x.size()),
          t_ref(y0.size());
      if (norm) rmsnorm_cpu({x.data(), norm_w.data(), xn_ref.data(), rows, in, 0, 0, 1e-5f});
      GemmParams g{norm ? xn_ref.data() : x.data(), w.data(), swiglu ? t_ref.data() : y_ref.data(), rows, in, out};
      g.accumulate = epilogue == 1;
      gemm_cpu(g);
      if (swiglu) swiglu_cpu({t_ref.data(), y_ref.data(), rows, out / 2});
      CHECK(same_bits(y, y_ref));
      if (norm) CHECK(same_bits(xn, xn_ref));
      if (swiglu) CHECK(same_bits(scratch, t_ref));
      // The result must depend on the flags (guards against a no-op composition).
      if (norm || epilogue != 0) {
        std::vector<bf16> plain(std::size_t(rows) * out);
        gemm_cpu({x.data(), w.data(), plain.data(), rows, in, out});
        CHECK_FALSE(same_bits(std::vector<bf16>(plain.begin(), plain.begin() + std::ptrdiff_t(rows) * y_cols), y));
      }
    }
  }
}

TEST_CASE("linear_cpu tiny cases computed by hand") {
  const auto x = bf16s({1.f, 2.f});
  const auto w = bf16s({1.f, 0.f, 0.f, 1.f});  // identity [2, 2]
  SECTION("plain and accumulate") {
    auto y = bf16s({0.5f, 0.25f});
    LinearParams p{x.data(), w.data(), y.data(), 1, 2, 2};
    p.accumulate = true;
    linear_cpu(p);
    CHECK(bf16_to_float(y[0]) == 1.5f);
    CHECK(bf16_to_float(y[1]) == 2.25f);
  }
  SECTION("swiglu: y = silu(x0) * x1") {
    std::vector<bf16> y(1), scratch(2);
    LinearParams p{x.data(), w.data(), y.data(), 1, 2, 2};
    p.swiglu = true;
    p.swiglu_scratch = scratch.data();
    linear_cpu(p);
    CHECK(bf16_to_float(y[0]) == bf16_to_float(float_to_bf16(1.f / (1.f + std::exp(-1.f)) * 2.f)));
  }
  SECTION("norm: rms of (1, 2) is sqrt(2.5)") {
    std::vector<bf16> y(2), xn(2);
    const auto nw = bf16s({1.f, 1.f});
    LinearParams p{x.data(), w.data(), y.data(), 1, 2, 2};
    p.norm_weight = nw.data();
    p.norm_out = xn.data();
    p.eps = 0.f;
    linear_cpu(p);
    CHECK(bf16_to_float(xn[1]) == bf16_to_float(float_to_bf16(2.f / std::sqrt(2.5f))));
    CHECK(y[0].bits == xn[0].bits);  // identity W
    CHECK(y[1].bits == xn[1].bits);
  }
}

TEST_CASE("validate_linear names the bad field") {
  std::vector<bf16> a(64), b(64), c(64), d(64);
  auto base = [&] { return LinearParams{a.data(), b.data(), c.data(), 2, 4, 4}; };
  auto rejects = [&](LinearParams p, const std::string& field) {
    const std::string e = error_of([&] { validate_linear(p); });
    CAPTURE(e, field);
    CHECK(e.starts_with("linear: " + field + " "));
    CHECK(error_of([&] { linear_cpu(p); }) == e);
  };
  CHECK(error_of([&] { validate_linear(base()); }).empty());
  LinearParams p = base();
  p.rows = -1;
  rejects(p, "rows");
  p = base();
  p.in = 0;
  rejects(p, "in");
  p = base();
  p.out = 0;
  rejects(p, "out");
  p = base();
  p.x = nullptr;
  rejects(p, "x");
  p = base();
  p.w = nullptr;
  rejects(p, "w");
  p = base();
  p.y = nullptr;
  rejects(p, "y");
  p = base();
  p.eps = -1.f;
  rejects(p, "eps");
  p = base();
  p.norm_weight = d.data();
  rejects(p, "norm_out");
  p.norm_out = a.data() + 4;  // inside x [2, 4]
  rejects(p, "norm_out");
  p = base();
  p.swiglu = true;
  rejects(p, "swiglu_scratch");
  p.swiglu_scratch = d.data();
  p.accumulate = true;
  rejects(p, "accumulate");
  p = base();
  p.out = 3;
  p.swiglu = true;
  p.swiglu_scratch = d.data();
  rejects(p, "out");
  p = base();
  p.y = a.data() + 2;  // overlaps x
  rejects(p, "y");
  p = base();
  p.swiglu = true;
  p.swiglu_scratch = c.data() + 1;  // overlaps y [2, 2]
  rejects(p, "swiglu_scratch");
  // Nothing is written when rejected.
  std::vector<bf16> y = testing::random_bf16(8, 3);
  const std::vector<bf16> before = y;
  p = LinearParams{a.data(), b.data(), y.data(), 2, 4, 4};
  p.norm_weight = d.data();
  CHECK_THROWS_AS(linear_cpu(p), std::invalid_argument);
  CHECK(same_bits(y, before));
  // rows == 0 needs no pointers.
  CHECK(error_of([] { linear_cpu(LinearParams{nullptr, nullptr, nullptr, 0, 4, 4}); }).empty());
}

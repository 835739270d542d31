// CPU GEMM (Eigen) against a naive loop; argmax ties and NaN handling.
#include <cmath>
#include <cstring>
#include <vector>

#include "catch.hpp"
#include "foresight/kernels/argmax.hpp"
#include "foresight/kernels/gemm.hpp"
#include "numeric.hpp"

using namespace foresight;
using namespace foresight::kernels;

TEST_CASE("gemm y = x W^T matches a naive loop, with leading dimensions") {
  const int rows = 5, in = 37, out = 4100;  // out > one weight chunk of 4096 rows
  const std::int64_t ldx = in + 3, ldy = out + 2;
  auto x = testing::random_bf16(rows * ldx, 1);
  auto w = testing::random_bf16(std::size_t{out} * in, 2);
  std::vector<bf16> y(rows * ldy, float_to_bf16(123.f));
  gemm_cpu({x.data(), w.data(), y.data(), rows, in, out, ldx, 0, ldy});
  double max_err = 0;
  for (int r = 0; r < rows; ++r) {
    for (int o = 0; o < out; ++o) {
      double s = 0;
      for (int i = 0; i < in; ++i) {
        s += double(bf16_to_float(x[r * ldx + i])) * bf16_to_float(w[std::size_t(o) * in + i]);
      }
      max_err = std::max(max_err, std::abs(s - bf16_to_float(y[r * ldy + o])) / (1 + std::abs(s)));
    }
    CHECK(bf16_to_float(y[r * ldy + out]) == 123.f);  // padding untouched
  }
  CHECK(max_err < 8e-3);  // one bf16 rounding
}

TEST_CASE("gemm with accumulate adds the product to y (a fused residual)") {
  const int rows = 3, in = 40, out = 50;
  auto x = testing::random_bf16(std::size_t{rows} * in, 3);
  auto w = testing::random_bf16(std::size_t{out} * in, 4);
  auto residual = testing::random_bf16(std::size_t{rows} * out, 5);
  std::vector<bf16> plain(residual.size()), fused = residual;
  gemm_cpu({x.data(), w.data(), plain.data(), rows, in, out});
  GemmParams p{x.data(), w.data(), fused.data(), rows, in, out};
  p.accumulate = true;
  gemm_cpu(p);
  double max_err = 0;
  for (std::size_t i = 0; i < fused.size(); ++i) {
    const double want = double(bf16_to_float(plain[i])) + bf16_to_float(residual[i]);
    max_err = std::max(max_err, std::abs(want - bf16_to_float(fused[i])) / (1 + std::abs(want)));
  }
  CHECK(max_err < 1.6e-2);  // two bf16 roundings apart at most
  CHECK(std::memcmp(fused.data(), plain.data(), fused.size() * sizeof(bf16)) != 0);
}

TEST_CASE("argmax picks the maximum, lowest index on ties, skips NaN") {
  const int vocab = 6;
  std::vector<bf16> logits(4 * vocab, float_to_bf16(-1.f));
  logits[0 * vocab + 4] = float_to_bf16(2.f);
  logits[1 * vocab + 1] = float_to_bf16(5.f);  // tie: 1 and 3
  logits[1 * vocab + 3] = float_to_bf16(5.f);
  for (int v = 0; v < vocab; ++v) logits[2 * vocab + v] = float_to_bf16(0.5f);  // all tied
  logits[3 * vocab + 0] = bf16{0xFFFF};                                       // NaN first
  logits[3 * vocab + 5] = float_to_bf16(-0.5f);
  std::vector<std::int32_t> out(4, -7);
  argmax_cpu({logits.data(), out.data(), 4, vocab, 0});
  CHECK(out[0] == 4);
  CHECK(out[1] == 1);
  CHECK(out[2] == 0);
  CHECK(out[3] == 5);
}

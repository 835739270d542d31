// CPU reference of the projection GEMM through Eigen (see
// foresight/kernels/gemm.hpp): bf16 -> fp32, multiply, round once.
#include "foresight/kernels/gemm.hpp"

#include <Eigen/Core>
#include <algorithm>

#include "dense_validate.hpp"

namespace foresight::kernels {

namespace {
using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

RowMajor to_float(const bf16* src, int rows, int cols, std::int64_t ld) {
  RowMajor m(rows, cols);
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < cols; ++c) m(r, c) = bf16_to_float(src[r * ld + c]);
  }
  return m;
}
constexpr int kWeightRowsPerChunk = 4096;  // bounds the fp32 copy of W to 4096 x in
}  // namespace

void gemm_cpu(const GemmParams& params) {
  const GemmParams p = detail::validated(params);
  if (p.rows == 0) return;
  const RowMajor x = to_float(p.x, p.rows, p.in, p.ldx);
  for (int o0 = 0; o0 < p.out; o0 += kWeightRowsPerChunk) {
    const int n = std::min(kWeightRowsPerChunk, p.out - o0);
    const RowMajor w = to_float(p.w + o0 * p.ldw, n, p.in, p.ldw);
    const RowMajor y = x * w.transpose();
    for (int r = 0; r < p.rows; ++r) {
      for (int c = 0; c < n; ++c) {
        bf16& out = p.y[r * p.ldy + o0 + c];
        out = float_to_bf16(p.accumulate ? y(r, c) + bf16_to_float(out) : y(r, c));
      }
    }
  }
}

}  // namespace foresight::kernels

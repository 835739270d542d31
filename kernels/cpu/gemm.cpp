// CPU reference of the projection GEMM through Eigen (see
// foresight/kernels/gemm.hpp): bf16 -> fp32, multiply, round once. Output
// columns are split into fixed chunks of kColsPerChunk weight rows, one
// chunk per task on the cpu_threads() pool: a chunk's bits depend only on
// the shapes, never on the thread count (Eigen's own threading is off).
#include "foresight/kernels/gemm.hpp"

#include <Eigen/Core>
#include <algorithm>

#include "dense_validate.hpp"
#include "parallel.hpp"

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
// Weight rows (output columns) per task: small enough that a decode GEMM of
// a few hundred outputs still spreads over the cores, large enough that
// Eigen's packing amortises. Changing it may change rounding (Eigen's blocking
// depends on the chunk's shape), so it is a constant, not a function of threads.
constexpr int kColsPerChunk = 128;

// y[:, o0 : o0 + n] = x W[o0 : o0 + n]^T (+ y when accumulating), rounded to bf16.
void gemm_chunk(const GemmParams& p, const RowMajor& x, int o0, int n) {
  const RowMajor w = to_float(p.w + o0 * p.ldw, n, p.in, p.ldw);
  const RowMajor y = x * w.transpose();
  for (int r = 0; r < p.rows; ++r) {
    for (int c = 0; c < n; ++c) {
      bf16& out = p.y[r * p.ldy + o0 + c];
      out = float_to_bf16(p.accumulate ? y(r, c) + bf16_to_float(out) : y(r, c));
    }
  }
}
}  // namespace

void gemm_cpu(const GemmParams& params) {
  const GemmParams p = detail::validated(params);
  if (p.rows == 0) return;
  const RowMajor x = to_float(p.x, p.rows, p.in, p.ldx);
  const std::int64_t chunks = (p.out + kColsPerChunk - 1) / kColsPerChunk;
  detail::parallel_for(chunks, 1, [&](std::int64_t c) {
    const int o0 = static_cast<int>(c) * kColsPerChunk;
    gemm_chunk(p, x, o0, std::min(kColsPerChunk, p.out - o0));
  });
}

}  // namespace foresight::kernels

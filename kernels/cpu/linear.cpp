// CPU reference of the fused decode projection (see
// foresight/kernels/linear.hpp): exactly the unfused composition, so the CPU
// backend computes the same bits as before the op existed.
#include "foresight/kernels/linear.hpp"

#include <cstdint>
#include <functional>

#include "foresight/kernels/param_check.hpp"
#include "foresight/kernels/rmsnorm.hpp"
#include "foresight/kernels/swiglu.hpp"

namespace foresight::kernels {

namespace {
constexpr const char* kOp = "linear";

// True when the byte ranges [a, a + a_elems) and [b, b + b_elems) of bf16 share an element.
bool overlaps(const bf16* a, std::int64_t a_elems, const bf16* b, std::int64_t b_elems) {
  if (a == nullptr || b == nullptr || a_elems == 0 || b_elems == 0) return false;
  const std::less<const bf16*> lt;
  return lt(a, b + b_elems) && lt(b, a + a_elems);
}
}  // namespace

void validate_linear(const LinearParams& p) {
  require_param(p.rows >= 0, kOp, "rows", "must be >= 0");
  require_param(p.in > 0, kOp, "in", "must be > 0");
  require_param(p.out > 0, kOp, "out", "must be > 0");
  require_param(p.eps >= 0.f, kOp, "eps", "must be >= 0");
  require_param(!p.swiglu || p.out % 2 == 0, kOp, "out", "must be even with swiglu (out = 2 * inter)");
  require_param(!(p.swiglu && p.accumulate), kOp, "accumulate", "cannot be combined with swiglu");
  if (p.rows == 0) return;
  require_param(p.x != nullptr, kOp, "x", "must be set");
  require_param(p.w != nullptr, kOp, "w", "must be set");
  require_param(p.y != nullptr, kOp, "y", "must be set");
  require_param(p.norm_weight == nullptr || p.norm_out != nullptr, kOp, "norm_out",
                "must be set when norm_weight is set");
  require_param(!p.swiglu || p.swiglu_scratch != nullptr, kOp, "swiglu_scratch", "must be set with swiglu");
  const std::int64_t x_n = std::int64_t{p.rows} * p.in;
  const std::int64_t y_n = std::int64_t{p.rows} * (p.swiglu ? p.out / 2 : p.out);
  const std::int64_t scratch_n = std::int64_t{p.rows} * p.out;
  const std::int64_t w_n = std::int64_t{p.out} * p.in;
  bf16* norm_out = p.norm_weight ? p.norm_out : nullptr;
  bf16* scratch = p.swiglu ? p.swiglu_scratch : nullptr;
  require_param(!overlaps(norm_out, x_n, p.x, x_n), kOp, "norm_out", "must not overlap x");
  require_param(!overlaps(norm_out, x_n, p.w, w_n), kOp, "norm_out", "must not overlap w");
  require_param(!overlaps(p.y, y_n, p.x, x_n), kOp, "y", "must not overlap x");
  require_param(!overlaps(p.y, y_n, p.w, w_n), kOp, "y", "must not overlap w");
  require_param(!overlaps(p.y, y_n, norm_out, x_n), kOp, "y", "must not overlap norm_out");
  require_param(!overlaps(scratch, scratch_n, p.x, x_n), kOp, "swiglu_scratch", "must not overlap x");
  require_param(!overlaps(scratch, scratch_n, p.y, y_n), kOp, "swiglu_scratch", "must not overlap y");
  require_param(!overlaps(scratch, scratch_n, norm_out, x_n), kOp, "swiglu_scratch", "must not overlap norm_out");
}

void linear_cpu(const LinearParams& p) {
  validate_linear(p);
  if (p.rows == 0) return;
  const bf16* xn = p.x;
  if (p.norm_weight) {
    rmsnorm_cpu({p.x, p.norm_weight, p.norm_out, p.rows, p.in, 0, 0, p.eps});
    xn = p.norm_out;
  }
  GemmParams g{xn, p.w, p.swiglu ? p.swiglu_scratch : p.y, p.rows, p.in, p.out};
  g.accumulate = p.accumulate;
  gemm_cpu(g);
  if (p.swiglu) swiglu_cpu({p.swiglu_scratch, p.y, p.rows, p.out / 2});
}

}  // namespace foresight::kernels

// Internals of gemm_cuda shared by gemm.cu (handle, dispatch) and
// gemm_tune.cu (per-shape timing of cuBLAS / cuBLASLt algorithms).
#pragma once

#include <cublasLt.h>
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "foresight/kernels/gemm.hpp"

#define FORESIGHT_CUBLAS_CHECK(expr)                                                           \
  do {                                                                                         \
    cublasStatus_t foresight_st_ = (expr);                                                     \
    if (foresight_st_ != CUBLAS_STATUS_SUCCESS) {                                              \
      throw std::runtime_error(std::string("cuBLAS error: ") + #expr + ": " +                  \
                               cublasGetStatusString(foresight_st_) + " at " + __FILE__ + ":" + \
                               std::to_string(__LINE__));                                      \
    }                                                                                          \
  } while (0)

namespace foresight::kernels::gemm_detail {

// Largest power of two (at most 256) dividing the address and the row pitch
// in bytes: the alignment cuBLASLt may assume for an operand's rows.
inline std::uint32_t alignment_bytes(const void* p, std::int64_t ld) {
  const std::uint64_t v = static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(p)) |
                          (static_cast<std::uint64_t>(ld) * sizeof(bf16)) | 256u;
  return static_cast<std::uint32_t>(v & (~v + 1));
}

// Everything that selects an algorithm: the GEMM shape, strides, beta and the
// byte alignment (power of two, at most 256) of each operand's rows.
struct ShapeKey {
  int rows, in, out;
  std::int64_t ldx, ldw, ldy;
  bool accumulate;
  std::uint32_t align_x, align_w, align_y;
  bool operator==(const ShapeKey&) const = default;
};
struct ShapeKeyHash {
  std::size_t operator()(const ShapeKey& k) const noexcept {
    std::size_t h = 0;
    auto mix = [&h](std::uint64_t v) { h ^= std::hash<std::uint64_t>{}(v) + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2); };
    mix(static_cast<std::uint64_t>(k.rows));
    mix(static_cast<std::uint64_t>(k.in));
    mix(static_cast<std::uint64_t>(k.out));
    mix(static_cast<std::uint64_t>(k.ldx));
    mix(static_cast<std::uint64_t>(k.ldw));
    mix(static_cast<std::uint64_t>(k.ldy));
    mix(k.accumulate ? 1u : 0u);
    mix((std::uint64_t{k.align_x} << 32) | (std::uint64_t{k.align_w} << 16) | k.align_y);
    return h;
  }
};

struct LayoutDeleter {
  void operator()(cublasLtMatrixLayout_t l) const noexcept { cublasLtMatrixLayoutDestroy(l); }
};
using LayoutPtr = std::unique_ptr<std::remove_pointer_t<cublasLtMatrixLayout_t>, LayoutDeleter>;

// The algorithm a shape runs with. lt: a cuBLASLt algo with its layouts;
// otherwise cublasGemmEx(CUBLAS_GEMM_DEFAULT).
struct Choice {
  GemmChoiceInfo info;
  bool lt = false;
  cublasLtMatmulAlgo_t algo{};
  LayoutPtr a, b, c;  // W [in x out, ld ldw], x^T [in x rows, ld ldx], y^T [out x rows, ld ldy]
};

// Device memory and handles owned by a GemmHandle (its Impl derives from this).
struct HandleState {
  HandleState() = default;
  HandleState(const HandleState&) = delete;
  HandleState& operator=(const HandleState&) = delete;
  ~HandleState();

  bool tune = true;
  cublasHandle_t blas = nullptr;
  cublasLtHandle_t lt = nullptr;
  cublasLtMatmulDesc_t desc = nullptr;  // fp32 compute, A transposed
  void* workspace = nullptr;
  std::size_t workspace_bytes = 0;
  std::unordered_map<ShapeKey, std::unique_ptr<Choice>, ShapeKeyHash> cache;
  std::vector<cudaEvent_t> events;  // created at the first tuning
};

// Runs on `stream` writing to y (p.y or a scratch output with p's ldy);
// return cuBLAS's status, unchecked.
cublasStatus_t run_gemmex(HandleState& h, const GemmParams& p, bf16* y, cudaStream_t stream);
cublasStatus_t run_choice(HandleState& h, const Choice& c, const GemmParams& p, bf16* y, cudaStream_t stream);

// cublasGemmEx default, not timed; `why` goes into the description.
std::unique_ptr<Choice> untimed_choice(const GemmParams& p, const std::string& why);

// Shapes with more rows (prefill chunks: compute-bound, and tuning them
// would need large scratch outputs) keep cublasGemmEx untimed.
constexpr int kMaxTunedRows = 256;

// Times GemmEx and the cuBLASLt heuristic's candidates for p (validated,
// rows > 0) on `stream`; synchronizes it. Never writes p.y.
std::unique_ptr<Choice> tune(HandleState& h, const GemmParams& p, cudaStream_t stream);

}  // namespace foresight::kernels::gemm_detail

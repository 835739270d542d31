// Projection GEMM in the HF weight layout: y[rows, out] = x[rows, in] * W^T,
// W [out, in] row-major. bf16 in and out, fp32 accumulation. With
// `accumulate`, y = x * W^T + y (the product and the old y added in fp32,
// rounded once: a residual connection fused into the GEMM). Used for the
// fused Q/K/V/Forecast projection (weights concatenated along `out`), the
// fused gate+up projection, the O and down projections and the LM head.
// GPU: cuBLAS (cublasGemmEx); CPU: Eigen. No hand-written GEMM.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "foresight/kernels/bf16.hpp"

#include "foresight/kernels/cuda_stream.hpp"

namespace foresight::kernels {

struct GemmParams {
  const bf16* x = nullptr;  // [rows, in], rows ldx elements apart
  const bf16* w = nullptr;  // [out, in], rows ldw elements apart
  bf16* y = nullptr;        // [rows, out], rows ldy elements apart
  int rows = 0;
  int in = 0;
  int out = 0;
  std::int64_t ldx = 0;  // elements; 0 means in
  std::int64_t ldw = 0;  // elements; 0 means in
  std::int64_t ldy = 0;  // elements; 0 means out
  bool accumulate = false;  // y += x * W^T (cuBLAS beta = 1)
};

// Eigen; converts W to fp32 in chunks of output rows to bound memory.
void gemm_cpu(const GemmParams& p);

#ifdef FORESIGHT_HAVE_CUDA
// Owns a cuBLAS handle and its workspace (device memory) on the current
// device. Not thread-safe: one handle per thread/stream.
class GemmHandle {
 public:
  explicit GemmHandle(std::size_t workspace_bytes = std::size_t{32} << 20);
  ~GemmHandle();
  GemmHandle(const GemmHandle&) = delete;
  GemmHandle& operator=(const GemmHandle&) = delete;
  struct Impl;
  Impl& impl() { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

void gemm_cuda(GemmHandle& handle, const GemmParams& p, cudaStream_t stream);
#endif

}  // namespace foresight::kernels

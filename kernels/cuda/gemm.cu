// Projection GEMM through cuBLAS (see foresight/kernels/gemm.hpp).
// Row-major y = x W^T is, in cuBLAS's column-major terms, y^T = W x^T with
// W^T stored as an (in x out) column-major matrix: C[out, rows] = op(A)=A^T * B.
#include <cublas_v2.h>

#include <stdexcept>
#include <string>

#include "../cpu/dense_validate.hpp"
#include "foresight/kernels/cuda_check.hpp"
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

namespace foresight::kernels {

struct GemmHandle::Impl {
  cublasHandle_t handle = nullptr;
  void* workspace = nullptr;
  std::size_t workspace_bytes = 0;
};

GemmHandle::GemmHandle(std::size_t workspace_bytes) : impl_(std::make_unique<Impl>()) {
  FORESIGHT_CUBLAS_CHECK(cublasCreate(&impl_->handle));
  impl_->workspace_bytes = workspace_bytes;
  if (workspace_bytes > 0) {
    const cudaError_t err = cudaMalloc(&impl_->workspace, workspace_bytes);
    if (err != cudaSuccess) {
      cublasDestroy(impl_->handle);
      throw std::runtime_error(std::string("GemmHandle: cudaMalloc of workspace: ") +
                               cudaGetErrorString(err));
    }
  }
}

GemmHandle::~GemmHandle() {
  if (impl_->workspace) cudaFree(impl_->workspace);
  if (impl_->handle) cublasDestroy(impl_->handle);
}

void gemm_cuda(GemmHandle& handle, const GemmParams& params, cudaStream_t stream) {
  const GemmParams p = detail::validated(params);
  if (p.rows == 0) return;
  detail::require(p.ldx <= 0x7fffffff && p.ldw <= 0x7fffffff && p.ldy <= 0x7fffffff, "gemm",
                  "cuBLAS needs leading dimensions below 2^31");
  GemmHandle::Impl& h = handle.impl();
  FORESIGHT_CUBLAS_CHECK(cublasSetStream(h.handle, stream));
  FORESIGHT_CUBLAS_CHECK(cublasSetWorkspace(h.handle, h.workspace, h.workspace_bytes));
  const float alpha = 1.f, beta = p.accumulate ? 1.f : 0.f;
  FORESIGHT_CUBLAS_CHECK(cublasGemmEx(h.handle, CUBLAS_OP_T, CUBLAS_OP_N, p.out, p.rows, p.in, &alpha,
                                      p.w, CUDA_R_16BF, static_cast<int>(p.ldw), p.x, CUDA_R_16BF,
                                      static_cast<int>(p.ldx), &beta, p.y, CUDA_R_16BF,
                                      static_cast<int>(p.ldy), CUBLAS_COMPUTE_32F,
                                      CUBLAS_GEMM_DEFAULT));
}

}  // namespace foresight::kernels

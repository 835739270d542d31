// Projection GEMM through cuBLAS / cuBLASLt with per-shape tuning (see
// foresight/kernels/gemm.hpp). Row-major y = x W^T is, in cuBLAS's
// column-major terms, y^T = W x^T with W^T stored as an (in x out)
// column-major matrix: C[out, rows] = op(A)=A^T * B, A = W (ld ldw),
// B = x^T (in x rows, ld ldx), C = D = y^T (out x rows, ld ldy).
#include <cublasLt.h>
#include <cublas_v2.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "../cpu/dense_validate.hpp"
#include "foresight/kernels/cuda_check.hpp"
#include "foresight/kernels/gemm.hpp"
#include "foresight/kernels/switches.hpp"
#include "gemm_tune.cuh"

namespace foresight::kernels {

using gemm_detail::Choice;
using gemm_detail::ShapeKey;

struct GemmHandle::Impl : gemm_detail::HandleState {};

namespace {
bool tuning_from_env() {
  const auto v = kernel_switch("FORESIGHT_GEMM_TUNE");
  if (!v || *v == "1") return true;
  if (*v == "0") return false;
  throw std::invalid_argument("FORESIGHT_GEMM_TUNE must be 0 or 1, got '" + *v + "'");
}

// True when kernels enqueued on `stream` are being recorded into a graph
// (nothing may be timed or synchronized then).
bool stream_capturing(cudaStream_t stream) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  const cudaError_t err = cudaStreamIsCapturing(stream, &status);
  if (err == cudaErrorStreamCaptureImplicit) {  // legacy stream while another stream captures
    (void)cudaGetLastError();
    return true;
  }
  FORESIGHT_CUDA_CHECK(err);
  return status != cudaStreamCaptureStatusNone;  // active or invalidated: both forbid syncing
}

ShapeKey key_of(const GemmParams& p) {
  using gemm_detail::alignment_bytes;
  return ShapeKey{p.rows, p.in, p.out, p.ldx, p.ldw, p.ldy, p.accumulate,
                  alignment_bytes(p.x, p.ldx), alignment_bytes(p.w, p.ldw), alignment_bytes(p.y, p.ldy)};
}

GemmParams checked(const GemmParams& params) {
  const GemmParams p = detail::validated(params);
  detail::require(p.ldx <= 0x7fffffff && p.ldw <= 0x7fffffff && p.ldy <= 0x7fffffff, "gemm",
                  "cuBLAS needs leading dimensions below 2^31");
  return p;
}
}  // namespace

GemmHandle::GemmHandle(std::size_t workspace_bytes, GemmTuning tuning) : impl_(std::make_unique<Impl>()) {
  // On a throw below, impl_ is destroyed and HandleState's destructor frees what was made.
  impl_->tune = tuning == GemmTuning::kOn || (tuning == GemmTuning::kFromEnv && tuning_from_env());
  FORESIGHT_CUBLAS_CHECK(cublasCreate(&impl_->blas));
  FORESIGHT_CUBLAS_CHECK(cublasLtCreate(&impl_->lt));
  FORESIGHT_CUBLAS_CHECK(cublasLtMatmulDescCreate(&impl_->desc, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t trans_a = CUBLAS_OP_T, trans_b = CUBLAS_OP_N;
  FORESIGHT_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(impl_->desc, CUBLASLT_MATMUL_DESC_TRANSA, &trans_a,
                                                        sizeof trans_a));
  FORESIGHT_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(impl_->desc, CUBLASLT_MATMUL_DESC_TRANSB, &trans_b,
                                                        sizeof trans_b));
  impl_->workspace_bytes = workspace_bytes;
  if (workspace_bytes > 0) {
    const cudaError_t err = cudaMalloc(&impl_->workspace, workspace_bytes);
    if (err != cudaSuccess) {
      (void)cudaGetLastError();
      throw std::runtime_error("GemmHandle: cudaMalloc of " + std::to_string(workspace_bytes) +
                               " workspace bytes: " + cudaGetErrorString(err));
    }
  }
}

GemmHandle::~GemmHandle() = default;

bool GemmHandle::tuning() const { return impl_->tune; }

void gemm_cuda(GemmHandle& handle, const GemmParams& params, cudaStream_t stream) {
  const GemmParams p = checked(params);
  if (p.rows == 0) return;
  GemmHandle::Impl& h = handle.impl();
  if (!h.tune) {
    FORESIGHT_CUBLAS_CHECK(gemm_detail::run_gemmex(h, p, p.y, stream));
    return;
  }
  const ShapeKey key = key_of(p);
  auto it = h.cache.find(key);
  if (it == h.cache.end()) {
    std::unique_ptr<Choice> choice = stream_capturing(stream)
                                         ? gemm_detail::untimed_choice(p, "first seen during stream capture")
                                         : gemm_detail::tune(h, p, stream);
    it = h.cache.emplace(key, std::move(choice)).first;
  }
  const Choice& c = *it->second;
  const cublasStatus_t st = gemm_detail::run_choice(h, c, p, p.y, stream);
  if (st != CUBLAS_STATUS_SUCCESS) {
    throw std::runtime_error("gemm_cuda " + std::to_string(p.rows) + "x" + std::to_string(p.in) + "x" +
                             std::to_string(p.out) + " with " + c.info.description + ": " +
                             cublasGetStatusString(st));
  }
}

std::optional<GemmChoiceInfo> gemm_cuda_choice(const GemmHandle& handle, const GemmParams& params) {
  const GemmParams p = checked(params);
  const GemmHandle::Impl& h = handle.impl();
  if (!h.tune) return std::nullopt;
  const auto it = h.cache.find(key_of(p));
  if (it == h.cache.end()) return std::nullopt;
  return it->second->info;
}

}  // namespace foresight::kernels

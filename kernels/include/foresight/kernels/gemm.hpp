// Projection GEMM in the HF weight layout: y[rows, out] = x[rows, in] * W^T,
// W [out, in] row-major. bf16 in and out, fp32 accumulation. With
// `accumulate`, y = x * W^T + y (the product and the old y added in fp32,
// rounded once: a residual connection fused into the GEMM). Used for the
// fused Q/K/V/Forecast projection (weights concatenated along `out`), the
// fused gate+up projection, the O and down projections and the LM head.
// GPU: cuBLAS (cublasGemmEx) or a cuBLASLt algorithm picked per shape by
// timing (see GemmHandle); CPU: Eigen. No hand-written GEMM.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

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

// Eigen; converts W to fp32 in fixed chunks of output rows, one chunk per
// task on the kernels::cpu_threads() pool (same bits on any thread count).
void gemm_cpu(const GemmParams& p);

#ifdef FORESIGHT_HAVE_CUDA
// Per-shape algorithm tuning of gemm_cuda. kFromEnv reads the kernel switch
// FORESIGHT_GEMM_TUNE (switches.hpp) when the handle is made: unset or "1" tunes, "0" does not (plain
// cublasGemmEx(CUBLAS_GEMM_DEFAULT), the behaviour before tuning existed);
// any other value is rejected (std::invalid_argument).
enum class GemmTuning { kFromEnv, kOff, kOn };

// Owns a cuBLAS and a cuBLASLt handle, their workspace (device memory) and the
// per-shape algorithm cache, on the current device. Not thread-safe: one
// handle per thread/stream.
//
// Tuning: the first time a shape (rows, in, out, ldx, ldw, ldy, accumulate
// and the byte alignment of x, w, y) is seen on a stream that is not being
// captured into a CUDA graph, gemm_cuda times cublasGemmEx(DEFAULT) and up to
// 16 cuBLASLt heuristic candidates on that stream (CUDA events, median of a
// few calls, L2 flushed between calls where a flush buffer fits in memory),
// writing into scratch outputs owned by the handle (never into y, so
// accumulate is applied once), rejects any candidate whose output differs
// from GemmEx's by more than fp32 reordering, and caches the fastest. Split-K
// candidates are kept only when they reduce in fp32 (workspace), never in
// bf16. Tuning synchronizes the stream (it belongs in an eager warm-up step).
// A shape first seen during capture is not timed: it gets cublasGemmEx and
// keeps it for the handle's life (a shape's algorithm never changes once
// chosen, so graph replays and eager calls compute the same bits). So do
// shapes with more than 256 rows (prefill: compute-bound). Tuning allocates
// its scratch (2 x rows x ldy bf16, plus 2 x L2 size to flush the L2) and
// frees it before returning; without memory for it, the shape keeps GemmEx.
class GemmHandle {
 public:
  explicit GemmHandle(std::size_t workspace_bytes = std::size_t{32} << 20,
                      GemmTuning tuning = GemmTuning::kFromEnv);
  ~GemmHandle();
  GemmHandle(const GemmHandle&) = delete;
  GemmHandle& operator=(const GemmHandle&) = delete;
  bool tuning() const;
  struct Impl;
  Impl& impl() { return *impl_; }
  const Impl& impl() const { return *impl_; }

 private:
  std::unique_ptr<Impl> impl_;
};

void gemm_cuda(GemmHandle& handle, const GemmParams& p, cudaStream_t stream);

// What gemm_cuda chose for p's shape (the pointers count only through their
// alignment).
struct GemmChoiceInfo {
  bool tuned = false;  // false: tuning off, or first seen during capture
  bool lt = false;     // true: a cuBLASLt algorithm; false: cublasGemmEx(DEFAULT)
  // cuBLASLt algorithm config (lt only): CUBLASLT_ALGO_CONFIG_ID, _TILE_ID
  // (a cublasLtMatmulTile_t value), _SPLITK_NUM, _STAGES_ID.
  int algo_id = -1, tile_id = -1, splitk = 1, stages_id = -1;
  int candidates = 0;  // timed candidates, the GemmEx baseline included
  int rejected = 0;    // candidates not supported or whose output differed
  double default_us = 0, chosen_us = 0;  // median time per call while tuning
  std::string description;               // one line for logs and tables
};
// std::nullopt when the shape has not been run through gemm_cuda yet, or
// tuning is off.
std::optional<GemmChoiceInfo> gemm_cuda_choice(const GemmHandle& handle, const GemmParams& p);
#endif

}  // namespace foresight::kernels

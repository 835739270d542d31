// Decode projection with its neighbours fused: y = epilogue(prologue(x) W^T).
// bf16 in and out, fp32 accumulation, W [out, in] in the HF layout.
//   prologue (optional): RMSNorm of x (rmsnorm_cpu's semantics, rounded to
//     bf16) into norm_out; the product then uses that normalized x.
//   epilogue (optional, one of): SwiGLU over [W_gate; W_up] (swiglu_cpu's
//     formula on the bf16-rounded gate and up), or a residual accumulate
//     (y = bf16(t + y), GemmParams::accumulate's semantics).
//
// Why a hand-written GEMM here (the one exception to "cuBLAS for GEMMs"): at
// decode row counts (rows <= kLinearFusedMaxRows) these GEMMs are matrix-vector
// products bound by reading W from HBM. cuBLAS reaches only 60-70% of the
// 3.0 TB/s H100 roofline on the QKVF (4864x4096) and O (4096x4096) shapes at
// batch 1 (bench/results/2026-11-23-h100-runtime/gemm-skinny.csv), and it
// cannot fuse the RMSNorm prologue or the SwiGLU epilogue, so each layer also
// pays separate small kernels and launch gaps. linear_cuda therefore runs a
// memory-bound GEMV-style kernel for rows <= 8 and keeps cuBLAS (gemm_cuda)
// for everything else (more rows, prefill, unsupported shapes).
#pragma once

#include "foresight/kernels/bf16.hpp"
#include "foresight/kernels/cuda_stream.hpp"
#include "foresight/kernels/gemm.hpp"

namespace foresight::kernels {

struct LinearParams {
  const bf16* x = nullptr;  // [rows, in], contiguous
  const bf16* w = nullptr;  // [out, in] row-major (HF layout), contiguous
  bf16* y = nullptr;        // [rows, out], or [rows, out/2] with swiglu; contiguous
  int rows = 0, in = 0, out = 0;
  // [in]; set: RMSNorm prologue, xn = rmsnorm(x) rounded to bf16, and the
  // product uses xn instead of x.
  const bf16* norm_weight = nullptr;
  // [rows, in]; required with norm_weight, receives xn on both paths (the
  // engine reads it later). Must not overlap x.
  bf16* norm_out = nullptr;
  float eps = 1e-6f;  // RMSNorm epsilon
  // out = 2 * inter, W = [W_gate; W_up]: t = xn W^T rounded to bf16, then
  // y[r, i] = silu(t[r, i]) * t[r, inter + i].
  bool swiglu = false;
  bf16* swiglu_scratch = nullptr;  // [rows, out]; required with swiglu (the unfused path's gate/up)
  bool accumulate = false;         // y = bf16(t + y), one rounding; not with swiglu
};

// Throws std::invalid_argument "linear: <field> <why>" for a bad size, a
// missing pointer, a forbidden flag combination or overlapping outputs.
void validate_linear(const LinearParams& p);

// Exactly rmsnorm_cpu -> gemm_cpu -> swiglu_cpu (each only when enabled).
void linear_cpu(const LinearParams& p);

#ifdef FORESIGHT_HAVE_CUDA
constexpr int kLinearFusedMaxRows = 8;

// True when linear_cuda can run the fused kernel for p: 1 <= rows <= 8,
// in a multiple of 8 (16-byte chunks), x, w (and norm_weight, norm_out)
// 16-byte aligned; with the norm prologue in <= 8192 and x staged in shared
// memory (rows * in * 2 <= 128 KiB); with swiglu also the staged x. Without
// norm and swiglu, a larger x is read from L2 instead of shared memory.
// Does not validate p (validate_linear does).
bool linear_fused_supported(const LinearParams& p);

// Where the fused kernel beats the composition in whole decode steps on the
// H100 (MiniCPM4.1-8B shapes, sweep `fusion`, bench/RESULTS-runtime.md):
// rows <= 2 (batch 1: 1.10x, batch 2: 1.04x). At 4 rows the decode step was
// 3% slower with it even where the isolated GEMM was faster, and from 8 rows
// the per-row FMAs make the kernel itself slower than cuBLAS (rows 8: O 25.2
// vs 19.1 us, down 69 vs 53 us; bench_gemm_skinny).
bool linear_fused_preferred(const LinearParams& p);

// The fused kernel when preferred and not disabled by the environment
// switch FORESIGHT_LINEAR_FUSED=0 (switches.hpp; unset or "1" enables, other
// values are rejected), else rmsnorm_cuda -> gemm_cuda(gemm) -> swiglu_cuda.
// norm_out is bit-identical on both paths (the fused prologue reproduces
// rmsnorm_cuda's summation order). FORESIGHT_LINEAR_PDL (default
// 1) launches the fused kernel with programmatic dependent launch: it may
// start streaming W while the previous kernel on the stream finishes, and
// reads x only after that kernel's results are visible.
void linear_cuda(GemmHandle& gemm, const LinearParams& p, cudaStream_t stream);

// Explicit path choice for tests and benchmarks (ignores the environment).
enum class LinearPath {
  kAuto,     // as linear_cuda(gemm, p, stream): the environment decides
  kFused,    // the fused kernel; std::invalid_argument when !linear_fused_supported(p)
  kUnfused,  // rmsnorm_cuda -> gemm_cuda -> swiglu_cuda
};
struct LinearLaunch {
  LinearPath path = LinearPath::kAuto;
  int pdl = -1;  // fused kernel only: -1 FORESIGHT_LINEAR_PDL decides, 0 off, 1 on
};
void linear_cuda(GemmHandle& gemm, const LinearParams& p, cudaStream_t stream, LinearLaunch launch);

// Whether the fused kernel is enabled by FORESIGHT_LINEAR_FUSED / uses PDL by
// FORESIGHT_LINEAR_PDL (kernel switches, read on each call).
bool linear_fused_enabled();
bool linear_pdl_enabled();
#endif

}  // namespace foresight::kernels

// SwiGLU activation on a fused gate+up projection output (gate first, up
// second, as produced by one GEMM over [W_gate; W_up]):
//   out[r, i] = silu(gate_up[r, i]) * gate_up[r, inter + i],  silu(g) = g / (1 + exp(-g))
// fp32 math, one rounding to bf16.
#pragma once

#include <cstdint>

#include "foresight/kernels/bf16.hpp"

#include "foresight/kernels/cuda_stream.hpp"

namespace foresight::kernels {

struct SwigluParams {
  const bf16* gate_up = nullptr;  // [rows, 2 * inter], contiguous
  bf16* out = nullptr;            // [rows, inter], contiguous
  int rows = 0;
  int inter = 0;
};

void swiglu_cpu(const SwigluParams& p);
#ifdef FORESIGHT_HAVE_CUDA
void swiglu_cuda(const SwigluParams& p, cudaStream_t stream);
#endif

}  // namespace foresight::kernels

// CUDA synthetic KV (see kv_synth.hpp): grid-stride over the elements
// (g, t, d), d fastest; each is kv_synth_value() from the header rounded
// with float_to_bf16 (RNE), the same code the CPU reference runs, so the
// values are bit-identical. This file is compiled with -fmad=false
// (kernels/CMakeLists.txt) so no multiply-add is fused.
#include "foresight/kernels/kv_synth.hpp"

#include <algorithm>

#include "foresight/kernels/cuda_check.hpp"

namespace foresight::kernels {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads) kv_synth_kernel(KvSynthParams p) {
  const std::int64_t per_head = p.tokens * p.head_dim;
  const std::int64_t total = per_head * p.kv_heads;
  for (std::int64_t e = std::int64_t{blockIdx.x} * kThreads + threadIdx.x; e < total;
       e += std::int64_t{gridDim.x} * kThreads) {
    const int g = static_cast<int>(e / per_head);
    const std::int64_t in_head = e - g * per_head;
    const std::int64_t t = in_head / p.head_dim;
    const int d = static_cast<int>(in_head - t * p.head_dim);
    p.dst[g * p.head_stride + t * p.token_stride + d] =
        float_to_bf16(kv_synth_value(p.seed, g, t, d, p.head_dim, p.stddev));
  }
}

}  // namespace

void kv_synth_cuda(const KvSynthParams& p, cudaStream_t stream) {
  validate_kv_synth(p);
  if (p.tokens == 0) return;
  const std::int64_t total = p.tokens * p.head_dim * p.kv_heads;
  const int ctas = static_cast<int>(std::min<std::int64_t>((total + kThreads - 1) / kThreads, 132 * 16));
  kv_synth_kernel<<<ctas, kThreads, 0, stream>>>(p);
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

}  // namespace foresight::kernels

// CUDA RoPE: one block per sequence; thread (i, g) computes the sine and
// cosine of pair i once and rotates that pair in heads g, g + G, g + 2G, ...
// over the sequence's q, k and f heads laid end to end.
#include "../cpu/dense_validate.hpp"
#include "dense_cuda_util.cuh"
#include "foresight/kernels/cuda_check.hpp"
#include "foresight/kernels/rope.hpp"

namespace foresight::kernels {
namespace {
using namespace cuda_detail;

__global__ void rope_kernel(RopeParams p, int n_f_heads) {
  const int half = p.head_dim / 2;
  const int i = threadIdx.x % half, group = threadIdx.x / half, groups = blockDim.x / half;
  const std::int64_t b = blockIdx.x;
  const float a = __fmul_rn(static_cast<float>(p.positions[b]), p.inv_freq[i]);  // as on the CPU
  float s, c;
  sincosf(a, &s, &c);  // accurate version: angles reach ~1e5 rad at 128K context
  const int heads = p.n_heads + p.n_kv_heads + n_f_heads;
  for (int head = group; head < heads; head += groups) {
    bf16* x;
    if (head < p.n_heads) {
      x = p.q + b * p.q_batch_stride + std::int64_t{head} * p.head_dim;
    } else if (head < p.n_heads + p.n_kv_heads) {
      x = p.k + b * p.k_batch_stride + std::int64_t{head - p.n_heads} * p.head_dim;
    } else {
      x = p.f + b * p.f_batch_stride + std::int64_t{head - p.n_heads - p.n_kv_heads} * p.head_dim;
    }
    const float x0 = to_f(x[i]), x1 = to_f(x[i + half]);
    x[i] = to_bf(x0 * c - x1 * s);
    x[i + half] = to_bf(x1 * c + x0 * s);
  }
}
}  // namespace

void rope_cuda(const RopeParams& params, cudaStream_t stream) {
  const RopeParams p = detail::validated(params);
  detail::require(p.head_dim <= 2048, "rope", "CUDA launcher supports head_dim <= 2048");
  const int n_f_heads = p.f ? p.n_kv_heads : 0;
  if (p.batch == 0 || p.n_heads + p.n_kv_heads + n_f_heads == 0) return;
  const int half = p.head_dim / 2;
  const int groups = half >= 256 ? 1 : 256 / half;
  rope_kernel<<<static_cast<unsigned>(p.batch), half * groups, 0, stream>>>(p, n_f_heads);
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

}  // namespace foresight::kernels

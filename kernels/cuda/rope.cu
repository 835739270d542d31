// CUDA RoPE: one thread per rotated pair; blockIdx.y is the sequence, the
// pairs of its q, k and f heads are laid end to end along x.
#include "../cpu/dense_validate.hpp"
#include "dense_cuda_util.cuh"
#include "foresight/kernels/cuda_check.hpp"
#include "foresight/kernels/rope.hpp"

namespace foresight::kernels {
namespace {
using namespace cuda_detail;

__global__ void rope_kernel(RopeParams p, int n_f_heads) {
  const int half = p.head_dim / 2;
  const int pair = blockIdx.x * blockDim.x + threadIdx.x;
  const int head = pair / half, i = pair % half;
  const int b = blockIdx.y;
  bf16* x;
  if (head < p.n_heads) {
    x = p.q + b * p.q_batch_stride + std::int64_t{head} * p.head_dim;
  } else if (head < p.n_heads + p.n_kv_heads) {
    x = p.k + b * p.k_batch_stride + std::int64_t{head - p.n_heads} * p.head_dim;
  } else if (head < p.n_heads + p.n_kv_heads + n_f_heads) {
    x = p.f + b * p.f_batch_stride + std::int64_t{head - p.n_heads - p.n_kv_heads} * p.head_dim;
  } else {
    return;
  }
  const float a = __fmul_rn(static_cast<float>(p.positions[b]), p.inv_freq[i]);  // as on the CPU
  float s, c;
  sincosf(a, &s, &c);  // accurate version: angles reach ~1e5 rad at 128K context
  const float x0 = to_f(x[i]), x1 = to_f(x[i + half]);
  x[i] = to_bf(x0 * c - x1 * s);
  x[i + half] = to_bf(x1 * c + x0 * s);
}
}  // namespace

void rope_cuda(const RopeParams& params, cudaStream_t stream) {
  const RopeParams p = detail::validated(params);
  detail::require(p.batch <= 65535, "rope", "CUDA launcher supports batch <= 65535");
  const int n_f_heads = p.f ? p.n_kv_heads : 0;
  const std::int64_t pairs = std::int64_t{p.n_heads + p.n_kv_heads + n_f_heads} * (p.head_dim / 2);
  if (p.batch == 0 || pairs == 0) return;
  const int threads = 128;
  const dim3 grid(static_cast<unsigned>((pairs + threads - 1) / threads), static_cast<unsigned>(p.batch));
  rope_kernel<<<grid, threads, 0, stream>>>(p, n_f_heads);
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

}  // namespace foresight::kernels

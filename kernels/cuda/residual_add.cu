// CUDA residual add: grid-stride loop, 16-byte vectors plus a scalar tail.
#include "../cpu/dense_validate.hpp"
#include "dense_cuda_util.cuh"
#include "foresight/kernels/cuda_check.hpp"
#include "foresight/kernels/residual_add.hpp"

namespace foresight::kernels {
namespace {
using namespace cuda_detail;

__global__ void residual_add_kernel(ResidualAddParams p, std::int64_t n_vec) {
  const std::int64_t tid = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x;
  const std::int64_t step = std::int64_t{gridDim.x} * blockDim.x;
  const Vec8* a = reinterpret_cast<const Vec8*>(p.a);
  const Vec8* b = reinterpret_cast<const Vec8*>(p.b);
  Vec8* out = reinterpret_cast<Vec8*>(p.out);
  for (std::int64_t c = tid; c < n_vec; c += step) {
    float fa[8], fb[8];
    unpack(a[c], fa);
    unpack(b[c], fb);
#pragma unroll
    for (int i = 0; i < 8; ++i) fa[i] += fb[i];
    out[c] = pack(fa);
  }
  for (std::int64_t i = n_vec * 8 + tid; i < p.n; i += step) {
    p.out[i] = to_bf(to_f(p.a[i]) + to_f(p.b[i]));
  }
}
}  // namespace

void residual_add_cuda(const ResidualAddParams& params, cudaStream_t stream) {
  const ResidualAddParams p = detail::validated(params);
  if (p.n == 0) return;
  const bool vec = aligned16(p.a) && aligned16(p.b) && aligned16(p.out);
  const std::int64_t n_vec = vec ? p.n / 8 : 0;
  const int threads = 256;
  residual_add_kernel<<<grid_for(vec ? n_vec : p.n, threads, 132 * 16), threads, 0, stream>>>(p, n_vec);
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

}  // namespace foresight::kernels

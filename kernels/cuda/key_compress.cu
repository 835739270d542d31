// CUDA key compression. Each thread owns one (kv_head, dim) element and sums
// the window's tokens in token order, so results equal the CPU bit for bit.
#include "../cpu/dense_validate.hpp"
#include "dense_cuda_util.cuh"
#include "foresight/kernels/cuda_check.hpp"
#include "foresight/kernels/key_compress.hpp"

namespace foresight::kernels {
namespace {
using namespace cuda_detail;

// grid.x: windows from first_window; grid.y: chunks of the kv_heads*head_dim row.
__global__ void key_compress_prefill_kernel(KeyCompressPrefillParams p) {
  const std::int64_t width = std::int64_t{p.kv_heads} * p.head_dim;
  const std::int64_t e = blockIdx.y * std::int64_t{blockDim.x} + threadIdx.x;
  if (e >= width) return;
  const std::int64_t w = p.first_window + blockIdx.x;
  const bf16* k = p.k + w * p.stride * p.k_token_stride + e;
  float sum = 0.f;
  for (int t = 0; t < p.kernel; ++t) sum += to_f(k[t * p.k_token_stride]);
  p.kc[w * width + e] = to_bf(sum / static_cast<float>(p.kernel));
}

// grid.x: the last min(tokens, kernel) tokens; grid.y: chunks of the row.
__global__ void key_compress_ring_kernel(KeyCompressPrefillParams p, std::int64_t first_token) {
  const std::int64_t width = std::int64_t{p.kv_heads} * p.head_dim;
  const std::int64_t e = blockIdx.y * std::int64_t{blockDim.x} + threadIdx.x;
  if (e >= width) return;
  const std::int64_t t = first_token + blockIdx.x;
  p.ring[(t % p.kernel) * width + e] = p.k[t * p.k_token_stride + e];
}

// grid.x: sequences; grid.y: chunks of the row.
__global__ void key_compress_decode_kernel(KeyCompressDecodeParams p) {
  const std::int64_t width = std::int64_t{p.kv_heads} * p.head_dim;
  const std::int64_t e = blockIdx.y * std::int64_t{blockDim.x} + threadIdx.x;
  if (e >= width) return;
  const int b = blockIdx.x;
  const std::int64_t t = p.token_counts[b];
  if (t < 1) return;  // invalid count: nothing to store (the CPU reference throws)
  bf16* ring = p.ring + std::int64_t{b} * p.kernel * width + e;
  if (p.k_new) ring[((t - 1) % p.kernel) * width] = p.k_new[b * p.k_new_batch_stride + e];
  if (t < p.kernel || (t - p.kernel) % p.stride != 0) return;
  float sum = 0.f;
  for (std::int64_t tok = t - p.kernel; tok < t; ++tok) sum += to_f(ring[(tok % p.kernel) * width]);
  p.kc[b * p.kc_batch_stride + (t - p.kernel) / p.stride * width + e] =
      to_bf(sum / static_cast<float>(p.kernel));
}
}  // namespace

void key_compress_prefill_cuda(const KeyCompressPrefillParams& params, cudaStream_t stream) {
  const KeyCompressPrefillParams p = detail::validated(params);
  const int threads = 128;
  const std::int64_t width = std::int64_t{p.kv_heads} * p.head_dim;
  const unsigned width_blocks = static_cast<unsigned>((width + threads - 1) / threads);
  const std::int64_t n = compressed_key_count(p.tokens, p.kernel, p.stride) - p.first_window;
  if (n > 0) {
    detail::require(n <= 0x7fffffff, "key_compress_prefill", "too many windows for one launch");
    key_compress_prefill_kernel<<<dim3(static_cast<unsigned>(n), width_blocks), threads, 0, stream>>>(p);
    FORESIGHT_CUDA_CHECK_LAUNCH();
  }
  if (p.ring && p.tokens > 0) {
    const std::int64_t first = p.tokens > p.kernel ? p.tokens - p.kernel : 0;
    key_compress_ring_kernel<<<dim3(static_cast<unsigned>(p.tokens - first), width_blocks), threads, 0, stream>>>(
        p, first);
    FORESIGHT_CUDA_CHECK_LAUNCH();
  }
}

void key_compress_decode_cuda(const KeyCompressDecodeParams& params, cudaStream_t stream) {
  const KeyCompressDecodeParams p = detail::validated(params);
  if (p.batch == 0) return;
  const int threads = 128;
  const std::int64_t width = std::int64_t{p.kv_heads} * p.head_dim;
  const dim3 grid(static_cast<unsigned>(p.batch), static_cast<unsigned>((width + threads - 1) / threads));
  key_compress_decode_kernel<<<grid, threads, 0, stream>>>(p);
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

}  // namespace foresight::kernels

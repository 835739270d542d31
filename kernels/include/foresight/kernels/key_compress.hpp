// Key compression (SparDA / NSA style): compressed key j of a sequence is the
// mean of its keys over tokens [j*stride, j*stride + kernel), for every
// complete window (defaults kernel 32, stride 16). A sequence of t tokens has
// n_windows(t) = t >= kernel ? (t - kernel) / stride + 1 : 0 compressed keys.
// fp32 sums in token order, one rounding to bf16.
#pragma once

#include <cstdint>

#include "foresight/kernels/bf16.hpp"

#include "foresight/kernels/cuda_stream.hpp"

namespace foresight::kernels {

inline std::int64_t compressed_key_count(std::int64_t tokens, int kernel, int stride) {
  return tokens >= kernel ? (tokens - kernel) / stride + 1 : 0;
}

// Whole prefill (or a chunk of it) of one sequence: writes windows
// [first_window, compressed_key_count(tokens)).
struct KeyCompressPrefillParams {
  const bf16* k = nullptr;  // [tokens, kv_heads, head_dim], tokens k_token_stride elements apart
  bf16* kc = nullptr;       // [n_windows, kv_heads, head_dim], contiguous (window 0 first)
  std::int64_t tokens = 0;
  std::int64_t first_window = 0;  // earlier windows are left untouched
  int kv_heads = 0;
  int head_dim = 0;
  std::int64_t k_token_stride = 0;  // elements; 0 means kv_heads * head_dim
  int kernel = 32;                  // tokens per window
  int stride = 16;                  // tokens between window starts
  // Optional decode ring of this sequence, [kernel, kv_heads, head_dim]: receives
  // the last min(tokens, kernel) keys at slot t % kernel, so that decoding can
  // continue with key_compress_decode. Null: not written.
  bf16* ring = nullptr;
};

// Decode step, batched over sequences of different lengths. Each sequence
// keeps a ring of its last `kernel` keys (token t at slot t % kernel), seeded
// by the prefill variant's `ring` output. The
// op first stores the new key (token token_counts[b] - 1) into the ring; then,
// where t = token_counts[b] satisfies t >= kernel and (t - kernel) % stride == 0,
// it appends compressed key number (t - kernel) / stride, the mean of the ring.
struct KeyCompressDecodeParams {
  const bf16* k_new = nullptr;  // [batch, kv_heads, head_dim], k_new_batch_stride apart; null: ring already holds it
  bf16* ring = nullptr;         // [batch, kernel, kv_heads, head_dim], contiguous
  bf16* kc = nullptr;           // [batch, max_windows, kv_heads, head_dim], kc_batch_stride apart
  const std::int32_t* token_counts = nullptr;  // [batch], tokens including the new one (>= 1)
  int batch = 0;
  int kv_heads = 0;
  int head_dim = 0;
  std::int64_t k_new_batch_stride = 0;  // elements; 0 means kv_heads * head_dim
  std::int64_t kc_batch_stride = 0;     // elements (max_windows * kv_heads * head_dim)
  int kernel = 32;
  int stride = 16;
};

void key_compress_prefill_cpu(const KeyCompressPrefillParams& p);
void key_compress_decode_cpu(const KeyCompressDecodeParams& p);
#ifdef FORESIGHT_HAVE_CUDA
void key_compress_prefill_cuda(const KeyCompressPrefillParams& p, cudaStream_t stream);
void key_compress_decode_cuda(const KeyCompressDecodeParams& p, cudaStream_t stream);
#endif

}  // namespace foresight::kernels

// Rotary position embedding, rotate-half convention (HF Llama): for a head
// vector x of size d and frequency i in [0, d/2), angle a = pos * inv_freq[i]:
//   x'[i]       = x[i] * cos(a) - x[i + d/2] * sin(a)
//   x'[i + d/2] = x[i + d/2] * cos(a) + x[i] * sin(a)
// Applied in place to q, k and the Forecast f of every sequence at that
// sequence's position. fp32 math, one rounding to bf16. For a prefill chunk,
// pass one row per token (batch = tokens) with that token's position.
#pragma once

#include <cstdint>
#include <vector>

#include "foresight/kernels/bf16.hpp"

#include "foresight/kernels/cuda_stream.hpp"

namespace foresight::kernels {

// How the inverse frequencies are made. kPlain: inv_freq[i] = theta^(-2i/d).
// kLlama3: the plain frequencies rescaled as in Llama 3.1 (wavelengths shorter
// than original_max_position / high_freq_factor unchanged, longer than
// original_max_position / low_freq_factor divided by factor, smooth between).
struct RopeFrequencies {
  enum class Kind { kPlain, kLlama3 };
  Kind kind = Kind::kPlain;
  double theta = 10000.0;
  double factor = 8.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  double original_max_position = 8192.0;  // tokens
};

// inv_freq [head_dim / 2] in radians per token; throws std::invalid_argument
// for an odd or non-positive head_dim or invalid scaling values.
std::vector<float> rope_inv_freq(const RopeFrequencies& f, int head_dim);

struct RopeParams {
  bf16* q = nullptr;  // [batch, n_heads, head_dim], sequences q_batch_stride elements apart
  bf16* k = nullptr;  // [batch, n_kv_heads, head_dim], k_batch_stride apart
  bf16* f = nullptr;  // Forecast [batch, n_kv_heads, head_dim], f_batch_stride apart; may be null
  const std::int32_t* positions = nullptr;  // [batch], token position of each sequence
  const float* inv_freq = nullptr;          // [head_dim / 2] (device memory for CUDA)
  int batch = 0;
  int n_heads = 0;
  int n_kv_heads = 0;
  int head_dim = 0;                 // even
  std::int64_t q_batch_stride = 0;  // elements; 0 means n_heads * head_dim
  std::int64_t k_batch_stride = 0;  // elements; 0 means n_kv_heads * head_dim
  std::int64_t f_batch_stride = 0;  // elements; 0 means n_kv_heads * head_dim
};

void rope_cpu(const RopeParams& p);
#ifdef FORESIGHT_HAVE_CUDA
void rope_cuda(const RopeParams& p, cudaStream_t stream);
#endif

}  // namespace foresight::kernels

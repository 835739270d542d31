// Synthetic KV data: fills tokens [0, tokens) of one (layer, sequence, K or V)
// stream with deterministic pseudo-normal values of a given standard
// deviation, written in any layout. Used by `--prefill synthetic` so decode
// benchmarks at long context start in seconds; the CPU and GPU versions
// produce bit-identical values.
//
// Element (g, t, d) of kv head g, token t, dimension d:
//   i = (g << 40) + t * head_dim + d
//   x = splitmix64 output for state seed + i (golden-ratio increment, then the mix)
//   u_j = (((x >> 16j) & 0xFFFF) + 0.5) / 65536    for j = 0..3   (exact in float)
//   value = bf16_rne(((u_0 + u_1 + u_2 + u_3) - 2) * 1.7320508f * stddev)
// evaluated left to right in float without contraction (mean 0, variance
// stddev^2, range +-3.46 stddev). Written to
//   dst[g * head_stride + t * token_stride + d].
#pragma once

#include <cstdint>

#include "foresight/kernels/bf16.hpp"
#include "foresight/kernels/cuda_stream.hpp"
#include "foresight/kernels/param_check.hpp"

namespace foresight::kernels {

struct KvSynthParams {
  bf16* dst = nullptr;             // GPU or mapped pinned host memory
  std::int64_t tokens = 0;         // >= 0 (0: nothing to do)
  int kv_heads = 0;
  int head_dim = 0;
  std::int64_t head_stride = 0;    // elements between kv heads
  std::int64_t token_stride = 0;   // elements between tokens
  std::uint64_t seed = 0;          // identifies the stream (run seed, layer, sequence, K/V)
  float stddev = 1.f;
};

inline void validate_kv_synth(const KvSynthParams& p) {
  const char* op = "kv_synth";
  require_param(p.dst || p.tokens == 0, op, "dst", "must be set");
  require_param(p.tokens >= 0 && p.tokens < (std::int64_t{1} << 32), op, "tokens", "must be in [0, 2^32)");
  require_param(p.kv_heads > 0 && p.head_dim > 0, op, "kv_heads/head_dim", "must be positive");
  require_param(p.head_stride >= 0 && p.token_stride >= p.head_dim, op, "head_stride/token_stride",
                "must be >= 0 and >= head_dim");
}

#ifdef __CUDACC__
#define FORESIGHT_KV_SYNTH_HD __host__ __device__
#else
#define FORESIGHT_KV_SYNTH_HD
#endif

// The value of element (g, t, d) as a float before bf16 rounding (the
// definition above; the CPU and CUDA versions both call this).
FORESIGHT_KV_SYNTH_HD inline float kv_synth_value(std::uint64_t seed, int g, std::int64_t t, int d, int head_dim,
                                                  float stddev) {
  std::uint64_t x = seed + ((static_cast<std::uint64_t>(g) << 40) +
                            static_cast<std::uint64_t>(t) * static_cast<std::uint64_t>(head_dim) +
                            static_cast<std::uint64_t>(d));
  x += 0x9E3779B97F4A7C15ull;  // splitmix64
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  x ^= x >> 31;
  float s = 0.f;
  for (int j = 0; j < 4; ++j) {
    const float u = (static_cast<float>((x >> (16 * j)) & 0xFFFFu) + 0.5f) * (1.f / 65536.f);
    s = s + u;
  }
  const float centred = s - 2.f;
  const float unit = centred * 1.7320508f;
  return unit * stddev;
}

void kv_synth_cpu(const KvSynthParams& p);
#ifdef FORESIGHT_HAVE_CUDA
void kv_synth_cuda(const KvSynthParams& p, cudaStream_t stream);
#endif

}  // namespace foresight::kernels

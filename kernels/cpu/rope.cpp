// CPU reference of RoPE and the inverse-frequency tables (see
// foresight/kernels/rope.hpp).
#include "foresight/kernels/rope.hpp"

#include <cmath>
#include <numbers>
#include <stdexcept>

#include "dense_validate.hpp"

namespace foresight::kernels {

std::vector<float> rope_inv_freq(const RopeFrequencies& f, int head_dim) {
  using detail::require;
  require(head_dim > 0 && head_dim % 2 == 0, "rope_inv_freq", "head_dim must be even and > 0");
  require(f.theta > 1.0, "rope_inv_freq", "theta must be > 1");
  if (f.kind == RopeFrequencies::Kind::kLlama3) {
    require(f.factor >= 1.0, "rope_inv_freq", "llama3 factor must be >= 1");
    require(f.low_freq_factor > 0 && f.high_freq_factor > f.low_freq_factor, "rope_inv_freq",
            "llama3 needs 0 < low_freq_factor < high_freq_factor");
    require(f.original_max_position > 0, "rope_inv_freq",
            "llama3 original_max_position must be > 0");
  }
  std::vector<float> inv(static_cast<std::size_t>(head_dim / 2));
  for (int i = 0; i < head_dim / 2; ++i) {
    double w = std::pow(f.theta, -2.0 * i / head_dim);
    if (f.kind == RopeFrequencies::Kind::kLlama3) {
      const double wavelen = 2 * std::numbers::pi / w;
      const double low_wavelen = f.original_max_position / f.low_freq_factor;
      const double high_wavelen = f.original_max_position / f.high_freq_factor;
      if (wavelen > low_wavelen) {
        w /= f.factor;
      } else if (wavelen >= high_wavelen) {  // medium band: interpolate
        const double smooth = (f.original_max_position / wavelen - f.low_freq_factor) /
                              (f.high_freq_factor - f.low_freq_factor);
        w = (1 - smooth) * w / f.factor + smooth * w;
      }
    }
    inv[static_cast<std::size_t>(i)] = static_cast<float>(w);
  }
  return inv;
}

namespace {
void rotate_heads(bf16* base, int heads, int head_dim, float pos, const float* inv_freq) {
  const int half = head_dim / 2;
  for (int h = 0; h < heads; ++h) {
    bf16* x = base + std::int64_t{h} * head_dim;
    for (int i = 0; i < half; ++i) {
      const float a = pos * inv_freq[i];  // fp32 angle, as HF computes it
      const float c = std::cos(a), s = std::sin(a);
      const float x0 = bf16_to_float(x[i]), x1 = bf16_to_float(x[i + half]);
      x[i] = float_to_bf16(x0 * c - x1 * s);
      x[i + half] = float_to_bf16(x1 * c + x0 * s);
    }
  }
}
}  // namespace

void rope_cpu(const RopeParams& params) {
  const RopeParams p = detail::validated(params);
  for (int b = 0; b < p.batch; ++b) {
    const float pos = static_cast<float>(p.positions[b]);
    if (p.q) rotate_heads(p.q + b * p.q_batch_stride, p.n_heads, p.head_dim, pos, p.inv_freq);
    if (p.k) rotate_heads(p.k + b * p.k_batch_stride, p.n_kv_heads, p.head_dim, pos, p.inv_freq);
    if (p.f) rotate_heads(p.f + b * p.f_batch_stride, p.n_kv_heads, p.head_dim, pos, p.inv_freq);
  }
}

}  // namespace foresight::kernels

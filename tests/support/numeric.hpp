// Helpers for comparing kernels with references (CPU tests, GPU checks,
// benchmarks): seeded random fills and error norms.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "foresight/kernels/bf16.hpp"

namespace foresight::testing {

// Uniform in [lo, hi), rounded to bf16, deterministic in seed.
inline std::vector<bf16> random_bf16(std::size_t n, std::uint64_t seed, float lo = -1.f,
                                     float hi = 1.f) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<bf16> v(n);
  for (auto& x : v) x = float_to_bf16(d(rng));
  return v;
}

inline std::vector<float> random_f32(std::size_t n, std::uint64_t seed, float lo = -1.f,
                                     float hi = 1.f) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// ||out - ref||_2 / ||ref||_2 (0 when both are zero); NaN anywhere gives +inf.
template <class A, class B, class ToF>
double rel_l2_error(const A& out, const B& ref, ToF to_float) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    double o = to_float(out[i]), r = to_float(ref[i]);
    if (std::isnan(o) || std::isnan(r)) return INFINITY;
    num += (o - r) * (o - r);
    den += r * r;
  }
  if (den == 0) return num == 0 ? 0 : INFINITY;
  return std::sqrt(num / den);
}

inline double rel_l2_error(const std::vector<float>& out, const std::vector<float>& ref) {
  return rel_l2_error(out, ref, [](float x) { return x; });
}
inline double rel_l2_error(const std::vector<bf16>& out, const std::vector<bf16>& ref) {
  return rel_l2_error(out, ref, [](bf16 x) { return bf16_to_float(x); });
}

}  // namespace foresight::testing

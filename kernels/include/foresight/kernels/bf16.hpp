// bf16 storage type shared by CPU references and CUDA kernels. Same size and
// layout as __nv_bfloat16, so device code reinterpret_casts between them.
// Conversion rounds to nearest even; NaN stays NaN.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define FORESIGHT_HD __host__ __device__ __forceinline__
#else
#define FORESIGHT_HD inline
#endif

namespace foresight {

struct bf16 {
  std::uint16_t bits = 0;
};
static_assert(sizeof(bf16) == 2);

FORESIGHT_HD float bf16_to_float(bf16 v) {
  std::uint32_t u = static_cast<std::uint32_t>(v.bits) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

FORESIGHT_HD bf16 float_to_bf16(float f) {
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7f800000u) == 0x7f800000u && (u & 0x007fffffu) != 0) {
    return bf16{static_cast<std::uint16_t>((u >> 16) | 0x0040u)};  // quiet NaN
  }
  u += 0x7fffu + ((u >> 16) & 1u);
  return bf16{static_cast<std::uint16_t>(u >> 16)};
}

}  // namespace foresight

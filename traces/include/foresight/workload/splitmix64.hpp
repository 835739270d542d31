// splitmix64 (Steele, Lea & Flood 2014; constants as in Vigna's reference):
// the project's one seeded generator where results must be identical on every
// platform and standard library (std distributions are not).
#pragma once

#include <cstdint>

namespace foresight::workload {

inline constexpr std::uint64_t kSplitMix64Golden = 0x9E3779B97F4A7C15ull;

// The output function: a bijective mix of one 64-bit word.
constexpr std::uint64_t splitmix64_mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

struct SplitMix64 {
  std::uint64_t state = 0;
  std::uint64_t next() { return splitmix64_mix(state += kSplitMix64Golden); }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
};

}  // namespace foresight::workload

// Counter-based normal fill for synthetic weights: element i of tensor t is a
// pure function of (seed, t, i), so the fill splits across threads and gives
// the same bits for any thread count.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "foresight/kernels/bf16.hpp"

namespace foresight::runtime {

// One tensor to allocate (`n` elements) and fill with normal(0, stddev).
struct NormalTensor {
  std::vector<bf16>* dst = nullptr;
  std::size_t n = 0;
  std::uint64_t tensor = 0;  // the tensor's number t; unique within one model
};

// Element i of tensor t: 16 bits of splitmix64 over (seed, t, i / 4) pick one
// of 65536 equal-probability quantiles of the standard normal (midpoints,
// rescaled to unit variance; |z| <= 4.3), times `stddev`, rounded to bf16.
// Resizes every dst, then fills them with `threads` workers (0 = one per
// hardware thread), in chunks of at most 1 Mi elements.
void fill_normal_tensors(const std::vector<NormalTensor>& tensors, std::uint64_t seed, float stddev,
                         unsigned threads);

// The same value as fill_normal_tensors puts at element i of tensor t.
bf16 synthetic_normal(std::uint64_t seed, std::uint64_t tensor, std::size_t i, float stddev);

}  // namespace foresight::runtime

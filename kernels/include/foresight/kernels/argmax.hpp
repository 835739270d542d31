// Greedy sampling: out[r] = argmax_v logits[r, v]. Ties go to the lowest
// index. NaN entries are never chosen; a row of only NaN gives index 0.
#pragma once

#include <cstdint>

#include "foresight/kernels/bf16.hpp"

#include "foresight/kernels/cuda_stream.hpp"

namespace foresight::kernels {

struct ArgmaxParams {
  const bf16* logits = nullptr;  // [rows, vocab], rows row_stride elements apart
  std::int32_t* out = nullptr;   // [rows]
  int rows = 0;
  int vocab = 0;
  std::int64_t row_stride = 0;  // elements; 0 means vocab
};

void argmax_cpu(const ArgmaxParams& p);
#ifdef FORESIGHT_HAVE_CUDA
void argmax_cuda(const ArgmaxParams& p, cudaStream_t stream);
#endif

}  // namespace foresight::kernels

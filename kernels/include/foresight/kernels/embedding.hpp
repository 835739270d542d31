// Embedding lookup: out[b, :] = table[token_ids[b], :].
// A token id outside [0, vocab) is bad input: the CPU reference throws
// std::out_of_range naming the row; the CUDA kernel fills that row with NaN
// (bf16 0xFFFF) so the error cannot pass silently.
#pragma once

#include <cstdint>

#include "foresight/kernels/bf16.hpp"

#include "foresight/kernels/cuda_stream.hpp"

namespace foresight::kernels {

struct EmbeddingParams {
  const std::int32_t* token_ids = nullptr;  // [batch]
  const bf16* table = nullptr;              // [vocab, hidden], row-major
  bf16* out = nullptr;                      // [batch, hidden], contiguous
  int batch = 0;
  int vocab = 0;
  int hidden = 0;
};

void embedding_cpu(const EmbeddingParams& p);
#ifdef FORESIGHT_HAVE_CUDA
void embedding_cuda(const EmbeddingParams& p, cudaStream_t stream);
#endif

}  // namespace foresight::kernels

// CUDA embedding lookup: one block per sequence copies one table row.
#include "../cpu/dense_validate.hpp"
#include "dense_cuda_util.cuh"
#include "foresight/kernels/cuda_check.hpp"
#include "foresight/kernels/embedding.hpp"

namespace foresight::kernels {
namespace {
using namespace cuda_detail;

template <bool kVec>
__global__ void embedding_kernel(EmbeddingParams p) {
  const std::int32_t id = p.token_ids[blockIdx.x];
  bf16* out = p.out + std::int64_t{blockIdx.x} * p.hidden;
  if (id < 0 || id >= p.vocab) {  // bad id: poison the row (NaN) instead of reading out of bounds
    for (int i = threadIdx.x; i < p.hidden; i += blockDim.x) out[i] = bf16{0xFFFF};
    return;
  }
  const bf16* row = p.table + std::int64_t{id} * p.hidden;
  if constexpr (kVec) {
    for (int c = threadIdx.x; c < p.hidden / 8; c += blockDim.x) {
      reinterpret_cast<Vec8*>(out)[c] = reinterpret_cast<const Vec8*>(row)[c];
    }
  } else {
    for (int i = threadIdx.x; i < p.hidden; i += blockDim.x) out[i] = row[i];
  }
}
}  // namespace

void embedding_cuda(const EmbeddingParams& params, cudaStream_t stream) {
  const EmbeddingParams p = detail::validated(params);
  if (p.batch == 0) return;
  if (p.hidden % 8 == 0 && aligned16(p.table) && aligned16(p.out)) {
    embedding_kernel<true><<<p.batch, 128, 0, stream>>>(p);
  } else {
    embedding_kernel<false><<<p.batch, 128, 0, stream>>>(p);
  }
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

}  // namespace foresight::kernels

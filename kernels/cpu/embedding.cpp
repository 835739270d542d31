// CPU reference of the embedding lookup (see foresight/kernels/embedding.hpp).
#include "foresight/kernels/embedding.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "dense_validate.hpp"

namespace foresight::kernels {

void embedding_cpu(const EmbeddingParams& params) {
  const EmbeddingParams p = detail::validated(params);
  for (int b = 0; b < p.batch; ++b) {
    const std::int32_t id = p.token_ids[b];
    if (id < 0 || id >= p.vocab) {
      throw std::out_of_range("embedding: token_ids[" + std::to_string(b) + "] = " +
                              std::to_string(id) + " outside vocab [0, " +
                              std::to_string(p.vocab) + ")");
    }
    const bf16* row = p.table + std::int64_t{id} * p.hidden;
    std::copy(row, row + p.hidden, p.out + std::int64_t{b} * p.hidden);
  }
}

}  // namespace foresight::kernels

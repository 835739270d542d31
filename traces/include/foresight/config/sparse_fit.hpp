// Sparse settings for checkpoints that carry none (HF config.json, GGUF).
#pragma once

#include "foresight/config/model.hpp"

namespace foresight::config {

// When SparDA's defaults select more tokens than max_context (top-k x block),
// top-k becomes half the blocks that fit (at least 3), the local window a
// third of top-k and the sink one block. A no-op when the defaults fit.
void fit_sparse_to_context(ModelConfig& m);

}  // namespace foresight::config

// Model weights uploaded to a backend's device memory once; any number of
// DecodeEngines (one per benchmark configuration) can share them.
#pragma once

#include <vector>

#include "foresight/config/model.hpp"
#include "foresight/runtime/backend.hpp"
#include "foresight/runtime/weights.hpp"

namespace foresight::runtime {

struct DeviceLayer {
  DeviceArray<bf16> attn_norm, wqkvf, wo, ffn_norm, w_gate_up, w_down;  // shapes as LayerWeights
};

struct DeviceWeights {
  // Uploads `w` (shapes as weights.hpp); the host copy may be freed afterwards.
  DeviceWeights(const config::ModelConfig& m, const Weights& w, Backend& be);

  Backend& backend;
  std::vector<DeviceLayer> layers;
  DeviceArray<bf16> embed, final_norm, lm_head, selector;
  const bf16* lm_head_ptr = nullptr;  // lm_head, or embed when tied
  std::uint64_t bytes = 0;            // uploaded bytes
};

}  // namespace foresight::runtime

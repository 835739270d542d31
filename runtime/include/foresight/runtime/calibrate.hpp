// Forecast calibration by ridge regression (closed form, Eigen): layer l's
// Forecast maps layer l's normalised hidden state (the input of its QKVF GEMM)
// to layer l+1's group-mean query (pre-RoPE; RoPE is linear and applied to
// both at the same position). Layer 0's selector maps layer 0's normalised
// hidden state to layer 0's own group-mean query. Activations come from a real
// prefill of real prompts (CalibrateOptions::fit_prompts) or seeded random ones. Not in the SparDA paper (which trains the
// Forecast with a KL loss for 2000 steps); this gives a usable one in seconds.
#pragma once

#include <cstdint>
#include <vector>

#include "foresight/config/model.hpp"
#include "foresight/runtime/backend.hpp"
#include "foresight/runtime/weights.hpp"

namespace foresight::runtime {

struct CalibrateOptions {
  std::vector<std::int64_t> context_tokens = {1024};  // prefill prompts (tokens each)
  double ridge_lambda = 1e-2;  // added to the diagonal of X^T X, relative to its mean diagonal
  std::int64_t recall_steps = 4;  // decode steps over which recall is measured
  std::int64_t topk_blocks = 0;   // 0: the model's sparse.topk_blocks
  std::uint64_t seed = 1;
  // Real prompts (token ids) to fit on and to measure recall on; empty:
  // seeded random prompts of context_tokens (other ones for the check).
  std::vector<std::vector<std::int32_t>> fit_prompts, check_prompts;
};

struct CalibrateResult {
  // Per layer: recall of the Forecast's (layer 0: the selector's) selection
  // against the query's own, non-forced blocks, before and after the fit.
  std::vector<double> recall_before, recall_after;
  std::vector<double> fit_rel_error;  // per fitted matrix ||XW^T - Y|| / ||Y|| (layer 0 selector last)
};

// Replaces w's Forecast rows and layer-0 selector with fitted ones.
CalibrateResult calibrate_forecast(const config::ModelConfig& m, Weights& w, Backend& backend,
                                   const CalibrateOptions& opts);

}  // namespace foresight::runtime

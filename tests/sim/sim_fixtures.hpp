// Shared helpers for simulator tests: small synthesized traces.
#pragma once

#include "foresight/config/load.hpp"
#include "foresight/sim/metrics.hpp"
#include "foresight/sim/synth.hpp"

namespace foresight::testing {

// The tiny model on the H100 config, 2 sequences of 1024 tokens, 4 timed steps.
inline sim::SynthOptions tiny_synth(config::Mode mode, std::int64_t batch = 2,
                                    std::int64_t context = 1024, std::int64_t steps = 4) {
  sim::SynthOptions o;
  o.model = config::load_model("tiny");
  o.hardware = config::load_hardware("h100-sxm");
  o.run.mode = mode;
  o.run.batch = batch;
  o.run.context_tokens.assign(static_cast<std::size_t>(batch), context);
  o.run.decode_steps = steps;
  o.run.warmup_steps = 1;
  o.run.prefill = "none";
  o.run.topk_blocks = o.model.sparse.topk_blocks;
  o.run.gather_ctas = 16;
  o.run.workload = {0.6, 0.5, 1.0};
  return o;
}

inline double metric(const sim::Metrics& m, const std::string& name) {
  for (const auto& [k, v] : m)
    if (k == name) return v;
  throw std::runtime_error("no metric " + name);
}

}  // namespace foresight::testing

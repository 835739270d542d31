// Synthesizer: a schema-valid trace of a run without a GPU. Op times come
// from the roofline cost model of the hardware config, selections from the
// workload model (workload/selection_model.hpp), cache outcomes from replaying
// the eviction policy, and start/end times from the discrete-event engine.
// Assumptions it makes are listed in `assumptions` (and docs/simulator.md).
#pragma once

#include <string>
#include <vector>

#include "foresight/config/hardware.hpp"
#include "foresight/config/model.hpp"
#include "foresight/config/run.hpp"
#include "foresight/trace/schema.hpp"

namespace foresight::sim {

struct SynthOptions {
  config::ModelConfig model;
  config::HardwareConfig hardware;
  config::RunConfig run;           // mode, batch, context_tokens, decode_steps, topk, ...
  std::string tool_version = "0";
  std::string created_utc = "1970-01-01T00:00:00Z";
};

// Human-readable assumptions the synthesizer applies (one line each).
std::vector<std::string> synth_assumptions(const SynthOptions& o);

// Throws config::ConfigError on an invalid run for the model.
trace::Trace synthesize(const SynthOptions& o);

}  // namespace foresight::sim

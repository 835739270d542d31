// Deterministic synthetic traces for traces/samples/ and tests: a tiny model
// (4 layers, 2 KV heads), batch 2, a few decode steps, with the streams, stages
// and dependencies of the real decoders (see the SparDA reference: main-stream
// compute, side-stream H2D gather for the next layer, waits, KV write-back).
// Times come from simple rate formulas, not a measurement; clock "synthetic".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "foresight/config/hardware.hpp"
#include "foresight/config/model.hpp"
#include "foresight/config/run.hpp"
#include "foresight/trace/schema.hpp"

namespace foresight::samples {

struct SampleSpec {
  std::string file;                                       // e.g. "sparda-tiny.h5"
  config::Mode mode = config::Mode::sparda;               // dense, sparse_offload or sparda
  std::vector<std::int64_t> context_tokens = {205, 140};  // tail blocks fill at steps 2, 3
  std::int64_t decode_steps = 4;
  std::int64_t stop_after_steps = -1;  // >= 0: trace ends early, status truncated
  std::uint64_t seed = 1;
};

config::ModelConfig tiny_model();        // 4 layers, 2 KV heads, 16-token blocks, top-8
config::HardwareConfig h100_hardware();  // figures of configs/hardware/h100-sxm.toml
config::RunConfig run_config(const SampleSpec& s);

// The samples committed under traces/samples/.
std::vector<SampleSpec> default_samples();

// Builds the whole trace in memory (selections, cache outcomes consistent
// with them, memory snapshot). Throws std::invalid_argument for other modes.
trace::Trace build_sample(const SampleSpec& s);

}  // namespace foresight::samples

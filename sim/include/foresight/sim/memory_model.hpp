// Memory feasibility of a simulated run: the footprint of the run config
// (config/footprint.hpp, the same function the runtime refuses runs with),
// summarised for the simulator's metrics and scenario output.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "foresight/config/hardware.hpp"
#include "foresight/config/model.hpp"
#include "foresight/config/run.hpp"
#include "foresight/trace/schema.hpp"

namespace foresight::sim {

struct MemoryPlan {
  std::vector<trace::MemoryEntry> entries;  // by category, GPU first
  std::uint64_t gpu_bytes = 0;
  std::uint64_t host_bytes = 0;             // pinned host
  bool fits = true;
  std::string reason;                       // why not, when !fits (config::Footprint::shortfall)
};

// The footprint of `run` (mode, batch, context_tokens, steps, topk, cache
// blocks, prefill) on `hw`.
MemoryPlan plan_memory(const config::ModelConfig& m, const config::HardwareConfig& hw,
                       const config::RunConfig& run);

}  // namespace foresight::sim

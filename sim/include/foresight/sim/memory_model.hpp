// Memory feasibility of a run: GPU bytes by category and pinned-host bytes,
// checked against the hardware config like a real run's allocations would be.
// Category formulas: docs/simulator.md.
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
  std::uint64_t host_bytes = 0;
  bool fits = true;
  std::string reason;                       // why not, when !fits
};

// `max_tokens`: largest total KV length of the run summed over sequences
// (contexts + decode steps). `cache_blocks`: slots per (layer, KV head) incl.
// the tail slot.
MemoryPlan plan_memory(const config::ModelConfig& m, const config::HardwareConfig& hw,
                       config::Mode mode, std::int64_t batch, std::int64_t max_tokens,
                       std::int64_t cache_blocks);

}  // namespace foresight::sim

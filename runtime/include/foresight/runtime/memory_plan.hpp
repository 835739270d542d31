// Memory planner: the GPU and pinned-host bytes a run needs, computed from the
// configs before anything is allocated, so a run that cannot fit fails with a
// breakdown instead of a CUDA out-of-memory error.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "foresight/config/hardware.hpp"
#include "foresight/config/model.hpp"
#include "foresight/config/run.hpp"
#include "foresight/trace/schema.hpp"

namespace foresight::runtime {

struct MemoryError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct MemoryItem {
  trace::MemoryLocation location = trace::MemoryLocation::gpu;
  std::string category;  // weights, kv_full, kv_working_set, kv_layer0, compressed_keys, ...
  std::uint64_t bytes = 0;
};

struct MemoryPlan {
  std::vector<MemoryItem> items;
  std::uint64_t gpu_capacity_bytes = 0;   // hardware gpu_mem_bytes
  std::uint64_t host_capacity_bytes = 0;  // hardware host_mem_bytes
  std::uint64_t gpu_bytes() const;
  std::uint64_t host_bytes() const;       // pinned host
  bool fits() const { return gpu_bytes() <= gpu_capacity_bytes && host_bytes() <= host_capacity_bytes; }
  std::string breakdown() const;          // one line per item, GiB, plus totals vs capacity
};

// True for the modes whose full KV lives in pinned host memory.
bool is_offload_mode(config::Mode m);
// Does the mode select blocks (and so keep compressed keys)?
bool is_sparse_mode(config::Mode m);

// Bytes of the run's model weights in bf16 (incl. Forecast rows, selector).
std::uint64_t weight_bytes(const config::ModelConfig& m);

// Plans `run` (its mode, batch, per-sequence context_tokens, decode_steps,
// topk_blocks, cache_blocks) on `hw`. KV of a sequence is sized for
// context + decode_steps + warmup_steps tokens, rounded up to whole blocks.
MemoryPlan plan_memory(const config::ModelConfig& m, const config::RunConfig& run,
                       const config::HardwareConfig& hw);

// Throws MemoryError with the breakdown when the plan does not fit.
void require_fits(const MemoryPlan& plan);

// Largest batch (all sequences `context_tokens` long) whose plan fits;
// 0 when not even batch 1 fits. Other settings come from `run`.
std::int64_t largest_feasible_batch(const config::ModelConfig& m, config::RunConfig run,
                                    const config::HardwareConfig& hw, config::Mode mode,
                                    std::int64_t context_tokens);

}  // namespace foresight::runtime

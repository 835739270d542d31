// Memory planner: the GPU and pinned-host bytes a run needs, computed from the
// configs before anything is allocated, so a run that cannot fit fails with a
// breakdown instead of a CUDA out-of-memory error.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "foresight/common/errors.hpp"
#include "foresight/config/footprint.hpp"
#include "foresight/config/hardware.hpp"
#include "foresight/config/model.hpp"
#include "foresight/config/run.hpp"

namespace foresight::runtime {

struct MemoryError : common::InputError {  // bad input: the CLI exits 2
  using common::InputError::InputError;
};

// The run's footprint (config/footprint.hpp: categories, formulas, capacities
// incl. the hardware's host_reserve_bytes), shared with the simulator and the
// capacity plan so that all three agree on what fits.
using MemoryPlan = config::Footprint;

// config::footprint(m, run, hw): computed before anything is allocated.
MemoryPlan plan_memory(const config::ModelConfig& m, const config::RunConfig& run,
                       const config::HardwareConfig& hw);

// Throws MemoryError with the breakdown when the plan does not fit.
void require_fits(const MemoryPlan& plan);

// A CPU-backend run holds all of the plan in this host's RAM
// (MemoryPlan::cpu_backend_host_bytes); throws MemoryError naming both sides
// when that exceeds `host`'s host_mem_bytes - host_reserve_bytes (`host`:
// host_cpu_hardware(), the machine the run is on, whatever hardware the plan
// was made for), so the run is refused before the kernel's OOM killer ends it.
void require_host_ram(const MemoryPlan& plan, const config::HardwareConfig& host);

// Largest batch (all sequences `context_tokens` long) whose plan fits;
// 0 when not even batch 1 fits. Other settings come from `run`.
std::int64_t largest_feasible_batch(const config::ModelConfig& m, config::RunConfig run,
                                    const config::HardwareConfig& hw, config::Mode mode,
                                    std::int64_t context_tokens);

// One row per mode of the feasibility table: the largest batch of sequences
// `context_tokens` long that fits, and the plan's bytes at that batch (all 0
// when not even batch 1 fits).
struct FeasibilityRow {
  config::Mode mode = config::Mode::dense;
  std::int64_t largest_batch = 0;
  std::uint64_t gpu_bytes = 0, host_bytes = 0;  // GPU and pinned host
};

// The six modes in config::Mode order (dense .. sparda-no-offload); other
// settings (topk, cache_blocks, decode_steps, prefill, ...) come from `run`.
std::vector<FeasibilityRow> feasibility_table(const config::ModelConfig& m, const config::RunConfig& run,
                                              const config::HardwareConfig& hw,
                                              std::int64_t context_tokens);

// [{"mode": <config::to_string(mode)>, "largest_batch", "gpu_bytes", "host_bytes"}, ...]
nlohmann::json to_json(const std::vector<FeasibilityRow>& rows);
// Fixed-width text table, one line per mode, bytes in GiB.
std::string format_feasibility_table(const std::vector<FeasibilityRow>& rows);

}  // namespace foresight::runtime

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
#include "foresight/config/hardware.hpp"
#include "foresight/config/model.hpp"
#include "foresight/config/run.hpp"
#include "foresight/trace/schema.hpp"

namespace foresight::runtime {

struct MemoryError : common::InputError {  // bad input: the CLI exits 2
  using common::InputError::InputError;
};

struct MemoryItem {
  trace::MemoryLocation location = trace::MemoryLocation::gpu;
  std::string category;  // weights, kv_full, kv_working_set, kv_layer0, compressed_keys, ...
  std::uint64_t bytes = 0;
};

// Host memory a plan never pins: the OS, the process and page cache (12 GiB).
inline constexpr std::uint64_t kHostReserveBytes = std::uint64_t{12} << 30;

struct MemoryPlan {
  std::vector<MemoryItem> items;
  std::uint64_t gpu_capacity_bytes = 0;   // hardware gpu_mem_bytes
  std::uint64_t host_capacity_bytes = 0;  // hardware host_mem_bytes - kHostReserveBytes
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
// topk_blocks, cache_blocks, prefill) on `hw`. KV of a sequence is sized for
// context + decode_steps + warmup_steps tokens, rounded up to whole blocks;
// sequences past the end of context_tokens repeat its last entry.
// Categories (kv_tok = 2 * n_kv_heads * head_dim * dtype_bytes per token per layer):
//   gpu  weights             weight_bytes(m)
//   gpu  kv_full             dense, sparse, sparda-no-offload: L * sum(tokens) * kv_tok
//   gpu  kv_working_set      sparse modes: Lw * batch * slots * block_tokens * kv_tok, where
//                            slots = topk + 1 (tail) without offload, max(cache_blocks, topk + 1)
//                            with it; Lw = L, or L - 1 for sparda and sparda-no-prefetch
//   gpu  kv_layer0           sparda, sparda-no-prefetch: sum(tokens) * kv_tok (layer 0 resident)
//   gpu  kv_prefill_staging  offload modes with prefill "real": the longest sequence's
//                            tokens * L * kv_tok (one sequence's KV before its copy to host)
//   gpu  compressed_keys     sparse modes: all layers' compressed keys
//   gpu  selection, activations, workspace, logits
//   host kv_full             offload modes: Lw * sum(tokens) * kv_tok (pinned)
MemoryPlan plan_memory(const config::ModelConfig& m, const config::RunConfig& run,
                       const config::HardwareConfig& hw);

// Throws MemoryError with the breakdown when the plan does not fit.
void require_fits(const MemoryPlan& plan);

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

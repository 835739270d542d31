// Op costs: bytes and FLOPs of every stage from the model shape (roofline
// inputs), the roofline time on a hardware config, and the transfer-time
// model. All formulas are listed in docs/simulator.md.
#pragma once

#include <cstdint>
#include <string_view>

#include "foresight/config/hardware.hpp"
#include "foresight/config/mode.hpp"
#include "foresight/config/model.hpp"
#include "foresight/trace/schema.hpp"

namespace foresight::sim {

struct OpCost {
  std::uint64_t bytes = 0;  // HBM bytes read + written
  std::uint64_t flops = 0;  // multiply-add = 2
};

// Work shape of one decode step (or prefill chunk) for the whole batch.
struct StepShape {
  std::int64_t batch = 1;
  std::int64_t tokens_total = 0;     // sum over sequences of tokens in the KV cache
  std::int64_t new_tokens = 0;       // tokens processed this step (batch for decode)
  std::int64_t attended_tokens = 0;  // sum over sequences of tokens attention reads
  std::int64_t topk_blocks = 96;
  bool forecast = false;             // selection by one Forecast head per KV head
  bool prefill = false;              // causal attention over new_tokens
  bool indexer = false;              // DSA: the indexer's rows in qkvf_gemm, its keys written
};

// Bytes/FLOPs of `stage` (a name from trace/stages.hpp); unknown stages cost 0.
OpCost stage_cost(const config::ModelConfig& m, std::string_view stage, const StepShape& s);
// Layer 0's selector projection in the Forecast modes (one rotated head per
// KV head from the normed hidden state); traced as a second qkvf_gemm.
OpCost selector_cost(const config::ModelConfig& m, const StepShape& s);

// True for stages whose FLOPs run on tensor cores (GEMMs, attention).
bool stage_uses_tensor_cores(std::string_view stage);
// Whether a recorded op of kind `kind` and stage `stage` is timed by its cost
// (recorded durations, the fit): compute ops, and the host work of sparse
// prefill's prefill_choose, which grows with the prompt like a kernel.
bool op_timed_by_cost(trace::OpKind kind, std::string_view stage);
// Whether an op's time follows the GPU (re-timed by the roofline ratio of
// other hardware): every cost-timed stage but the host's prefill_choose.
bool stage_runs_on_gpu(std::string_view stage);

// Roofline: kernel_launch_us + max(bytes / hbm_gbps, flops / peak).
std::int64_t roofline_ns(const config::HardwareConfig& hw, const OpCost& c, bool tensor);

// Bytes of one KV block of one KV head (K and V): block_tokens * head_dim * 2 * dtype.
std::int64_t kv_block_bytes(const config::ModelConfig& m);
// Bytes of one token's K and V over all KV heads (DSA's unit of selection).
std::int64_t token_bytes(const config::ModelConfig& m);
// Bytes one gathered unit moves in `mode`: a token (DSA modes) or a block of
// one KV head (block modes). Gathers and cache outcomes count these units.
std::int64_t gather_unit_bytes(const config::ModelConfig& m, config::Mode mode);

// Transfer time: latency + bytes / bandwidth, the bandwidth from the
// hardware curves for the engine and granularity, times `pcie_scale` for
// PCIe engines. `chunk_bytes` is the size of one piece (one KV block).
std::int64_t transfer_ns(const config::HardwareConfig& hw, trace::OpKind kind,
                         trace::Engine engine, std::uint64_t bytes, std::uint32_t chunks,
                         std::uint16_t ctas, double pcie_scale);

}  // namespace foresight::sim

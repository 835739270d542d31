// How one run (real, synthesized or simulated) was configured. Written into
// every trace and every run folder as the resolved config.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "foresight/config/kernel_options.hpp"
#include "foresight/config/mode.hpp"
#include "foresight/config/sparse_prefill.hpp"

namespace foresight::config {

// Eviction policy of the per-(layer, KV head) GPU block cache.
enum class Eviction { sparda, lru, lfu, fifo, arc, opt };

// Workload model for synthetic block selections (see traces/README.md).
// Defaults: the preset "smollm2-8k", measured on a real model (below).
struct WorkloadConfig {
  double reuse = 0.826;         // P(a non-forced block selected at step t stays at t+1)
  double cross_layer = 0.402;   // overlap of layer l+1's fresh picks with layer l's
  double zipf_s = 1.0;          // popularity skew of fresh picks over blocks (assumed)
};

// Named workload settings (docs/workload-model.md gives their provenance):
//   "smollm2-8k"  the default: SmolLM2-135M-Instruct's own query selections
//                 on licence text, context 8000, top-16 of 64-token blocks,
//                 recorded on the H200 (bench/RESULTS-real-model.md)
//   "assumed"     reuse 0.85, cross_layer 0.7: the assumption before any
//                 real model was measured
//   "dsa-public"  token streams of the DSA modes from public figures
//                 (issue #15, ../shared/reference/field.md): adjacent decode
//                 tokens' top-k sets have Jaccard similarity above 0.8, so a
//                 share 2J / (1 + J) = 0.89 of the picks stays; adjacent
//                 layers share 70-100% of their top-k tokens: cross_layer
//                 0.85, the middle (not measured here)
// Throws ConfigError naming `option` and listing the names for any other.
WorkloadConfig workload_preset(const std::string& name, const std::string& option = "--workload");
std::vector<std::string> workload_preset_names();
// The preset a mode's workload defaults to: "dsa-public" for the token
// modes, "smollm2-8k" for the block modes.
const char* default_workload_preset(Mode mode);

struct RunConfig {
  Mode mode = Mode::sparda;
  std::string backend = "synth";                 // "cuda", "cpu" or "synth"
  std::int64_t batch = 1;
  std::vector<std::int64_t> context_tokens;      // per sequence, size == batch
  std::int64_t decode_steps = 4;
  std::int64_t warmup_steps = 1;
  std::string prefill = "real";                  // "real", "synthetic" or "none"
  std::int64_t prefill_chunk_tokens = 512;       // tokens per real-prefill chunk (sizes activations)
  // Real prefill's attention (config/sparse_prefill.hpp): dense, or sparse
  // patterns chosen per head to keep `prefill_recall` of the estimated
  // attention mass; sparse runs the whole prompt as one chunk.
  PrefillAttention prefill_attention = PrefillAttention::dense;
  double prefill_recall = 0.95;                  // in (0, 1]
  std::int64_t topk_blocks = 96;                 // may differ from the model default
  std::int64_t cache_blocks = 0;                 // GPU slots per (layer, KV head); 0 = topk + 1
  Eviction eviction = Eviction::sparda;
  Prefetch prefetch = Prefetch::lookahead;
  std::int64_t gather_ctas = 16;
  bool cuda_graph = true;                        // asked for: replay decode steps as a CUDA graph
  // GPU L2 persisting set-aside the run held (run --l2-reserve, clamped to
  // what the device grants; 0 = none); its access-policy windows follow
  // l2_windows() (config/l2_windows.hpp).
  std::int64_t l2_reserve_bytes = 0;
  std::string selection_source = "model";        // "model", "file" or "workload"
  WorkloadConfig workload;
  std::uint64_t seed = 1;
  // Kernel variants and launch switches of a cuda run (config/kernel_options.hpp).
  KernelOptions kernels;
};

// Whether decode steps really run as a CUDA graph: asked for, on the CUDA
// backend, and with SparDA's exact working set (an LRU working set,
// cache_blocks > topk + 1, passes a per-step clock to its kernels and is
// launched op by op). The runtime decides with this; the simulator charges a
// host launch per op when it is false.
bool decode_uses_graph(const RunConfig& r);
// An LRU working set: a selecting mode with more GPU slots than top-k + 1.
bool lru_working_set(const RunConfig& r);

// Whether kernel options pick the bulk-copy gather (KernelOptions::kv_gather).
inline bool bulk_copy_gather(const KernelOptions& k) { return k.kv_gather == "bulk"; }
// The gather kernel's CTAs when a run does not say, for the gather path of
// `k`. SM loads: 16 up to batch 16, 32 above (the reference's choice on the
// H100). Bulk copy: 12 one-warp CTAs at any batch, the best of 4-12 at batch
// 4, 16 and 32 on the H100 (bench/RESULTS-runtime-h200.md, "Prefetch
// paths"). The runtime uses it, and the simulator follows it when a --batch
// what-if crosses that line.
inline int default_gather_ctas(std::int64_t batch, const KernelOptions& k = {}) {
  return bulk_copy_gather(k) ? 12 : batch <= 16 ? 16 : 32;
}

const char* to_string(Eviction e);
// Parse a name (modes and prefetch: config/mode.hpp); throw foresight::config::ConfigError naming `field` if unknown.
Eviction parse_eviction(const std::string& s, const std::string& field);

}  // namespace foresight::config

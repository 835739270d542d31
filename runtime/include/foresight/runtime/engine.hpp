// The decode loop, written once against Backend: prefill (real, chunked per
// sequence, or synthetic) then greedy decode steps for a batch of sequences
// of different context lengths, in every mode: dense, sparse,
// sparse-offload, sparda-no-prefetch, sparda, sparda-no-offload. The loop
// never reads device data on the host inside a step: selections, cache
// counters and output ids come back once, at its end.
//
// Tokens: sequence b has a prompt of context_tokens[b] ids. Prefill covers
// positions [0, L_b - 1); decode step s feeds the token at position
// L_b - 1 + s (the last prompt token at step 0, then the previous output) and
// produces one token, so after step s the sequence holds L_b + s tokens.
//
// Device layout per layer (K and V separately, bf16):
//   kv store        [batch, kv_heads, max_blocks * block_tokens, head_dim]
//                   (= kv_gather's store layout and dense attention's cache);
//                   pinned host memory in the offload modes (sparda modes:
//                   layers >= 1; layer 0 stays on the GPU)
//   compressed keys [batch, max_comp, kv_heads, head_dim]
//   key ring        [batch, compress_kernel, kv_heads, head_dim]
//   slots (sparse)  [batch, kv_heads, n_slots + 1, block_tokens, head_dim],
//                   n_slots = max(topk, cache_blocks); slot n_slots is the
//                   tail slot holding the current block.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "foresight/common/progress.hpp"
#include "foresight/config/l2_windows.hpp"
#include "foresight/config/model.hpp"
#include "foresight/config/run.hpp"
#include "foresight/runtime/backend.hpp"
#include "foresight/runtime/device_weights.hpp"
#include "foresight/runtime/recorder.hpp"
#include "foresight/runtime/selection_source.hpp"
#include "foresight/runtime/weights.hpp"

namespace foresight::runtime {

struct EngineOptions {
  config::Mode mode = config::Mode::dense;
  std::vector<std::int64_t> context_tokens;  // per sequence, >= 1
  std::int64_t max_steps = 1;                // decode steps the caches are sized for
  std::int64_t topk_blocks = 96;
  // Regular GPU slots per (layer, sequence, KV head), the tail slot not
  // counted; 0 or topk: SparDA's exact working set; more: extra blocks kept
  // with LRU eviction.
  std::int64_t cache_blocks = 0;
  int gather_ctas = 0;                       // prefetch/gather kernel CTAs; 0: config::default_gather_ctas
  // The run's kernel options; the engine reads the host KV gather's
  // (kv_gather, gather_stages), the backend was made with the rest.
  config::KernelOptions kernels;
  // Replay decode steps as a CUDA graph where possible (backend supports it,
  // exact working set, no recall counting); timed ops' events are recorded
  // by the graph.
  bool cuda_graph = true;
  bool synthetic_prefill = false;
  std::int64_t prefill_chunk_tokens = 512;
  // Real prefill's attention (config/sparse_prefill.hpp); a sparse one needs
  // prefill_chunk_tokens >= every prompt (one chunk per sequence).
  config::PrefillAttention prefill_attention = config::PrefillAttention::dense;
  double prefill_recall = 0.95;              // target estimated recall per head, (0, 1]
  std::uint64_t seed = 1;                    // synthetic prefill data
  // Decode steps before this one are warm-up (trace/steps.hpp): left out of
  // cache_totals(), as every metric leaves them out.
  std::int64_t warmup_steps = 0;
  ExternalSelections* selections = nullptr;  // null: the model selects
  // Real prefill reports prompt tokens done of all sequences' after each
  // chunk ("prefill"); empty: no reporting.
  common::Progress progress;
  // Polled before each real prefill chunk (and each sequence's prefill): when
  // set, prefill stops there and prefill_interrupted() says so. Null: never.
  const std::atomic<bool>* stop = nullptr;
  // sparda-no-offload: also select layer l's blocks with its own query (as
  // sparse does) and count the overlap, for recall_by_layer(). Adds ops.
  bool measure_recall = false;
  // GPU L2 persisting set-aside (bytes, as granted; 0: none): the slot
  // buffers of the first layers are marked persisting while their attention
  // runs (config/l2_windows.hpp). Block-sparse modes only.
  std::int64_t l2_reserve_bytes = 0;
  // Called during real prefill after each layer's QKVF GEMM (before RoPE) with
  // device pointers: normalised input xn [rows, hidden] and the QKVF output
  // [rows, qkvf_rows]. Used by Forecast calibration.
  std::function<void(int layer, int rows, const bf16* xn, const bf16* qkvf)> prefill_tap;
};

using config::default_gather_ctas;  // the contract's rule (config/run.hpp)

// The options a run config implies: mode, contexts, steps (warm-up + timed),
// top-k, regular slots (RunConfig::cache_blocks counts the tail slot,
// EngineOptions::cache_blocks does not), gather CTAs, prefill kind, seed.
EngineOptions engine_options(const config::RunConfig& run);
// The model's RoPE frequencies (plain, or Llama 3 scaling), as the engine applies them.
kernels::RopeFrequencies rope_frequencies(const config::ModelConfig& m);

// Overlap of the Forecast's selection with the query's own, per layer, over
// the blocks that are not forced (sink, local window).
struct RecallCounts {
  std::uint64_t query_blocks = 0;  // non-forced blocks the query selected
  std::uint64_t matched = 0;       // of those, also selected by the Forecast
  double recall() const { return query_blocks ? static_cast<double>(matched) / static_cast<double>(query_blocks) : 1.0; }
};

// Cache outcome totals over the steady decode steps (sparse modes; warm-up
// steps, EngineOptions::warmup_steps, left out as in docs/metrics.md).
struct CacheTotals {
  std::uint64_t selected = 0, hits = 0, misses = 0, loaded_bytes = 0;
  std::uint64_t h2d_bytes = 0;  // of loaded_bytes, read from pinned host memory
};

class DecodeEngine {
 public:
  // Uploads `w` to `backend` itself.
  DecodeEngine(const config::ModelConfig& m, const Weights& w, Backend& backend, Recorder& rec,
               EngineOptions opts);
  // Shares weights already on the device (w.backend runs the engine).
  DecodeEngine(const config::ModelConfig& m, const DeviceWeights& w, Recorder& rec, EngineOptions opts);
  ~DecodeEngine();
  DecodeEngine(const DecodeEngine&) = delete;
  DecodeEngine& operator=(const DecodeEngine&) = delete;

  // Runs the prefill of every sequence; prompts[b] has context_tokens[b] ids
  // in [0, vocab). Returns the prefill time (ns, sum of its steps).
  std::int64_t prefill(const std::vector<std::vector<std::int32_t>>& prompts);

  // One greedy decode step; returns the next token of every sequence.
  std::vector<std::int32_t> step();
  // A decode step that feeds `inputs` ([batch] token ids) instead of the
  // previous step's outputs (teacher forcing); step 0 still feeds each
  // prompt's last token, so `inputs` must be empty there.
  std::vector<std::int32_t> step(std::span<const std::int32_t> inputs);
  std::int64_t steps_done() const;
  std::int64_t last_step_ns() const;

  // Logits of the last step, [batch, vocab] as float (from bf16).
  std::vector<float> last_logits() const;
  const CacheTotals& cache_totals() const;
  // Wall time the constructor spent allocating pinned host memory (ns).
  std::int64_t pin_ns() const;
  // The last prefill() stopped early on EngineOptions::stop (no decode step may follow).
  bool prefill_interrupted() const;
  // Per layer (measure_recall only; empty otherwise).
  const std::vector<RecallCounts>& recall_by_layer() const;
  // The L2 reservation's windows (empty without one).
  const std::vector<config::L2Window>& l2_windows() const;

  struct State;  // device buffers and host mirrors (engine_state.hpp)

 private:
  std::unique_ptr<State> s_;
};

}  // namespace foresight::runtime

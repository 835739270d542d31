// The memory footprint of a run: the GPU and pinned-host bytes that
// (model, run config, hardware) needs, by category, and whether they fit.
// One definition for the runtime (which refuses a run that does not fit), the
// simulator (a replay what-if that does not fit reports out_of_memory) and the
// capacity plan. It counts what the runtime allocates
// (runtime/src/engine.cpp: allocate_kv and the activation buffers;
// runtime/src/device_weights.cpp; the CUDA backend's workspaces), so a run
// that `foresight plan` says fits is one `foresight run` accepts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "foresight/config/hardware.hpp"
#include "foresight/config/model.hpp"
#include "foresight/config/run.hpp"
#include "foresight/trace/schema.hpp"

namespace foresight::config {

struct Footprint {
  // Non-zero categories, GPU ones first, then pinned host.
  std::vector<trace::MemoryEntry> items;
  std::uint64_t gpu_capacity_bytes = 0;   // hardware gpu_mem_bytes
  std::uint64_t host_capacity_bytes = 0;  // hardware host_mem_bytes - host_reserve_bytes (>= 0)

  std::uint64_t gpu_bytes() const;
  std::uint64_t host_bytes() const;       // pinned host
  std::uint64_t bytes(const std::string& category) const;  // summed over locations; 0 if absent
  bool fits() const { return gpu_bytes() <= gpu_capacity_bytes && host_bytes() <= host_capacity_bytes; }
  // Host RAM a CPU-backend run needs at its peak (bytes): its device memory
  // is host memory, so the GPU categories sit beside the pinned ones, and the
  // weights are held twice while uploaded (the loaded copy and the
  // backend's, before the engine allocates anything):
  // max(gpu_bytes() + host_bytes(), 2 * bytes("weights")).
  std::uint64_t cpu_backend_host_bytes() const;
  // "" when it fits, else e.g. "GPU memory: needs 81.20 GiB of 78.00 GiB"
  // (both memories named, "; "-separated, when both fall short).
  std::string shortfall() const;
  // One line per location (needed vs capacity, DOES NOT FIT marks) and per
  // category, in GiB.
  std::string breakdown() const;
};

// The footprint of `run` (its mode, batch, context_tokens, warmup_steps +
// decode_steps, topk_blocks, cache_blocks, prefill, prefill_chunk_tokens,
// selection_source) of model `m` on `hw`.
//
// Notation: B = batch; L = n_layers; T = the longest sequence's tokens at the
// end of the run (max context_tokens + max(warmup_steps + decode_steps, 1)),
// rounded up to whole blocks: the KV store of every sequence is T long
// ([B, n_kv_heads, T, head_dim] per layer for K and for V; a context_tokens
// shorter than batch repeats its last entry); kv_tok = 2 * n_kv_heads *
// head_dim * dtype_bytes (K and V, one token, one layer); Lh =
// mode_traits(mode).host_layers(L) (L for sparse-offload, L - 1 for the
// SparDA offload modes, which keep layer 0 on the GPU, 0 otherwise);
// slots = max(topk_blocks + 1, cache_blocks) (top-k plus the tail slot);
// W = compressed keys of T tokens, at least 1; dt = dtype_bytes.
//   gpu  weights             m.stored_params() * dt (Forecast rows and selector in every mode),
//                            DSA modes: + m.indexer_params() * dt
//   gpu  kv_full             KV on the GPU: L * B * T * kv_tok
//   gpu  kv_layer0           SparDA offload modes: B * T * kv_tok
//   gpu  kv_prefill_staging  offload modes unless prefill = "synthetic": Lh * T * kv_tok
//                            (one sequence's KV, computed on the GPU, then copied to host)
//   gpu  kv_working_set      selecting modes: L * B * slots * block_tokens * kv_tok
//   gpu  compressed_keys     selecting modes: L * B * (W + compress_kernel) * n_kv_heads *
//                            head_dim * dt (keys + decode ring), plus one sequence's
//                            token-major key copy T * n_kv_heads * head_dim * dt
//   gpu  selection           selecting modes: block maps and load lists per layer, scores
//                            over W, selected ids (int32; int64 LRU clocks)
//   gpu  activations         max(B, prefill_chunk_tokens) rows of (2 hidden + QKVF rows +
//                            n_heads * head_dim + 3 intermediate) plus B rows of
//                            (q, selector query, logits), all dt
//   gpu  prefill_sparse      real prefill with sparse attention: prefill_sparse_bytes(m, T)
//                            (config/sparse_prefill.hpp: the estimate's masses, the largest layout)
//   gpu  workspace           hw.gpu_workspace_bytes (cuBLAS) + the larger of split-KV
//                            attention partials (fp32 [B, n_heads, splits, head_dim + 2],
//                            splits = max(1, sm_count / (B * n_kv_heads))) and, when the
//                            query selects, its scores (fp32 [B, n_heads, W + 2 chunks])
//   gpu  kv_gathered         DSA modes: B * topk_tokens * kv_tok (the packed selected
//                            tokens, one buffer every layer reuses)
//   gpu  indexer_keys        DSA modes: L * B * T * indexer_dim * dt
//   gpu  selection           DSA modes: fp32 token scores [B, T] + int32 selected tokens and
//                            counts [L, B, topk_tokens + 1]
//   (activations: DSA modes add the indexer rows, indexer_heads * (indexer_dim + 1) +
//    indexer_dim, to every row)
//   host kv_full             offload modes: Lh * B * T * kv_tok (pinned)
Footprint footprint(const ModelConfig& m, const RunConfig& run, const HardwareConfig& hw);

}  // namespace foresight::config

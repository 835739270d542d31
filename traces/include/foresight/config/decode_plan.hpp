// The op graph of one decode layer (and of a prefill chunk), written once: the runtime's engine
// executes this list (runtime/src/engine.cpp) and the simulator's schedule
// emits it as trace ops (sim/src/schedule.cpp), so the two cannot drift
// apart. Each entry is one piece of work in the order the main stream issues
// it; a prefetch is issued at its place in that order onto the side stream.
#pragma once

#include <cstdint>
#include <vector>

#include "foresight/config/mode.hpp"

namespace foresight::config {

enum class LayerWork : std::uint8_t {
  project,           // RMSNorm + QKV (+ Forecast) projection            stage qkvf_gemm
  rope_append,       // RoPE; the new token's K/V to the store, tail slot stage rope
  dense_attention,   // attention over the whole KV                       stage attention
  compress,          // the new token's key into the compressed keys      stage compress
  self_project,      // layer 0 of a Forecast mode: its selector's query  stage qkvf_gemm
  select,            // score, top-k and working-set update of `layer`    score, pool_topk, ws_update
  fetch,             // `layer`'s missing blocks into its slots, on main  h2d_gather or d2d_gather
  prefetch,          // the same gather on the side stream, after the latest select
  wait_fetch,        // main waits for `layer`'s prefetch                 stage wait_kv
  sparse_attention,  // attention over the selected blocks' slots         stage attention
  index_select,      // DSA: indexer key append + score, top-k tokens     index_score, token_topk
  token_gather,      // DSA: the selected tokens' K/V packed, on main     h2d_gather or d2d_gather
  token_attention,   // DSA: attention over the packed tokens             stage attention
  o_proj,            // output projection + residual                      stage o_proj
  mlp,               // RMSNorm + gate/up + SwiGLU + down + residual      stage mlp
};

// One entry: the work and the layer it is for (the layer whose blocks a
// select / fetch / prefetch / wait_fetch handles; the current layer otherwise).
struct LayerStep {
  LayerWork work = LayerWork::project;
  std::int32_t layer = 0;
  bool operator==(const LayerStep&) const = default;
};

// Whether layer `layer`'s full KV is in pinned host memory in mode `t` (a
// fetch of its blocks crosses PCIe; otherwise it is a GPU-to-GPU copy).
bool layer_kv_on_host(const ModeTraits& t, std::int32_t layer);

// The work of decode layer `layer` (0-based, of `n_layers`) in mode `t` when
// offloaded layers are fetched with `prefetch`:
//   every mode   project, rope_append, ..., o_proj, mlp
//   dense        dense_attention between them
//   selecting    compress; the selection of this layer (query modes) or of
//                layer + 1 (Forecast modes; layer 0 first selects itself
//                with self_project); a fetch of this layer's misses, or with
//                lookahead a prefetch of the next layer's right after its
//                selection and a wait before this layer's attention.
//   dsa modes    index_select, token_gather, token_attention of this layer
//                (the indexer needs this layer's query: nothing to prefetch,
//                so `prefetch` is ignored)
// Query modes with lookahead (a simulator what-if; the runtime's query modes
// fetch inline) prefetch layer l + 1 after layer l's own selection, and layer
// 0 at the start of the step.
// lookahead2 (a simulator what-if: the runtime prefetches one layer ahead)
// moves every selection and prefetch one layer earlier still: layer l
// selects and prefetches layer l + 2 (Forecast modes; layer 0 selects layers
// 0, 1 and 2), or prefetches it after its own selection (query modes; layers
// 0 and 1 at the start of the step). Replayed with the recorded selections,
// it is the bound of what the longer distance buys: a Forecast two layers
// ahead picks less accurately, which the replay does not model.
std::vector<LayerStep> decode_layer_plan(const ModeTraits& t, Prefetch prefetch, std::int32_t layer,
                                         std::int32_t n_layers);

const char* to_string(LayerWork w);

// Prefill, written once the same way. A chunk of prompt tokens runs every
// layer's work in this order (the runtime: per sequence and chunk of
// --prefill-chunk tokens; the simulator: one chunk of the whole prompt):
enum class PrefillWork : std::uint8_t {
  project,    // RMSNorm + QKV (+ Forecast) projection    stage qkvf_gemm
  rope,       // RoPE on q and k                          stage rope
  kv_write,   // the chunk's K/V to the store (or staging) stage kv_write
  attention,  // causal attention over the prompt so far  stage prefill_attention
  o_proj,     //                                          stage o_proj
  mlp,        //                                          stage mlp
};
const std::vector<PrefillWork>& prefill_layer_plan();

// How the K/V of the layers that live in host memory get there during
// prefill (stage prefill_kv_offload, a device-to-host copy):
enum class PrefillOffload : std::uint8_t {
  none,    // no layer's KV is on the host
  inline_copy,  // on the main stream after the chunk's layers: on the critical path (query modes)
  side_copy,    // on a side stream, overlapped with the next chunk's layers (Forecast modes)
};
PrefillOffload prefill_offload(const ModeTraits& t);
// After a sequence's last chunk, selecting modes compress every layer's keys
// (stage compress). The prompt's last token is the first decode step's input:
// prefill runs no LM head.
inline bool prefill_compresses(const ModeTraits& t) { return t.selects_blocks(); }

}  // namespace foresight::config

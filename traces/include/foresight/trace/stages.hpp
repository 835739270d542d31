// Canonical stage names written by the runtime and the synthesizer and
// understood by the simulator. A trace may carry other names; the simulator
// treats unknown stages as opaque compute.
#pragma once

#include <string_view>

namespace foresight::trace::stage {

inline constexpr std::string_view embed = "embed";
inline constexpr std::string_view rmsnorm = "rmsnorm";
inline constexpr std::string_view qkvf_gemm = "qkvf_gemm";      // Q,K,V(,Forecast) GEMM
inline constexpr std::string_view rope = "rope";
inline constexpr std::string_view compress = "compress";        // key compression
inline constexpr std::string_view score = "score";              // stage-1 scoring
inline constexpr std::string_view pool_topk = "pool_topk";
inline constexpr std::string_view ws_update = "ws_update";      // working-set diff
inline constexpr std::string_view index_score = "index_score";  // DSA indexer: new key appended, every token scored
inline constexpr std::string_view token_topk = "token_topk";    // DSA: top-k tokens of the scores
inline constexpr std::string_view h2d_gather = "h2d_gather";    // KV blocks (DSA: tokens) host->GPU
inline constexpr std::string_view d2d_gather = "d2d_gather";    // KV blocks (DSA: tokens) GPU->GPU
inline constexpr std::string_view wait_kv = "wait_kv";          // main waits for KV
inline constexpr std::string_view kv_write = "kv_write";        // new token's K/V
inline constexpr std::string_view attention = "attention";
inline constexpr std::string_view o_proj = "o_proj";
inline constexpr std::string_view mlp = "mlp";                  // gate/up, SwiGLU, down
inline constexpr std::string_view lm_head = "lm_head";
inline constexpr std::string_view argmax = "argmax";
inline constexpr std::string_view kv_writeback = "kv_writeback";// tail block GPU->host
inline constexpr std::string_view prefill_attention = "prefill_attention";
inline constexpr std::string_view prefill_kv_offload = "prefill_kv_offload";
// Dynamic sparse prefill (config/sparse_prefill.hpp), per layer in place of prefill_attention:
inline constexpr std::string_view prefill_estimate = "prefill_estimate";      // last queries' attention masses
inline constexpr std::string_view prefill_choose = "prefill_choose";          // host: patterns, tile lists, upload
inline constexpr std::string_view prefill_sparse_attention = "prefill_sparse_attention";  // block-sparse attention
inline constexpr std::string_view host = "host";                // host overhead
inline constexpr std::string_view launch = "launch";            // host launch of one op (no CUDA graph; simulated only)

}  // namespace foresight::trace::stage

// Model shape and SparDA sparse settings. Loaded from configs/models/*.toml or
// a Hugging Face config.json (config/load.hpp); written into every trace.
#pragma once

#include <cstdint>
#include <string>

namespace foresight::config {

// Llama-3 style RoPE frequency scaling; type "none" means plain theta.
struct RopeScaling {
  std::string type = "none";        // "none" or "llama3"
  double factor = 1.0;
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  std::int64_t original_max_position = 8192;
};

struct SparseConfig {
  std::int64_t block_tokens = 64;       // tokens per KV block
  std::int64_t compress_kernel = 32;    // tokens averaged per compressed key
  std::int64_t compress_stride = 16;    // tokens between compressed keys
  std::int64_t topk_blocks = 96;        // blocks selected per KV head (incl. forced)
  std::int64_t sink_blocks = 1;         // always-selected leading blocks
  std::int64_t window_blocks = 32;      // always-selected trailing blocks (local window)
  std::int64_t pool_kernel = 5;         // max-pool over compressed positions
  std::int64_t pool_stride = 4;
  std::int64_t pool_padding = 1;
};

// DeepSeek-style dynamic sparse attention (DSA, modes dsa and dsa-offload):
// per layer a lightning indexer of `indexer_heads` heads of `indexer_dim`
// scores every cached token, score[t] = sum_h w_h * relu(q_h . k_t) (k_t:
// one indexer key per token, shared by the heads; q_h and w_h: projections
// of the current token; DeepSeek's 1/sqrt(indexer_dim) scale is left out, as
// a positive constant does not change the selection), and attention reads the
// top `topk_tokens` tokens of each sequence, the first `sink_tokens` and
// the last `local_tokens` (the new token included) always among them. The
// selection is shared by a sequence's KV heads. Defaults: DeepSeek-V3.2's
// top-2048 with a small indexer (the "a few small heads").
struct TokenSparseConfig {
  std::int64_t topk_tokens = 2048;
  std::int64_t sink_tokens = 0;
  std::int64_t local_tokens = 1;
  std::int64_t indexer_heads = 4;
  std::int64_t indexer_dim = 64;
};

struct ModelConfig {
  std::string name;
  std::int64_t n_layers = 0;
  std::int64_t hidden = 0;
  std::int64_t n_heads = 0;             // query heads
  std::int64_t n_kv_heads = 0;
  std::int64_t head_dim = 0;
  std::int64_t intermediate = 0;
  std::int64_t vocab = 0;
  std::int64_t max_context = 131072;
  double rope_theta = 10000.0;
  double rms_eps = 1e-5;
  bool tie_embeddings = false;
  std::int64_t dtype_bytes = 2;         // bf16 storage
  RopeScaling rope_scaling;
  SparseConfig sparse;
  TokenSparseConfig dsa;

  // Derived sizes (bytes, in dtype_bytes storage).
  std::int64_t kv_bytes_per_token_layer() const { return 2 * n_kv_heads * head_dim * dtype_bytes; }
  // Parameter counts, the one definition every module uses:
  //   weight_params    the Llama-style decoder: per layer q, k, v, o, gate, up,
  //                    down and two RMSNorm weights; embeddings, final norm and
  //                    an LM head unless tied
  //   forecast_params  SparDA's Forecast projection, [n_kv_heads * head_dim, hidden] per layer
  //   selector_params  layer 0's selector projection, [n_kv_heads * head_dim, hidden]
  //   stored_params    all three: what the runtime uploads in every mode (the
  //                    Forecast rows live in each layer's QKVF matrix)
  std::int64_t weight_params() const;
  std::int64_t forecast_params() const { return n_layers * n_kv_heads * head_dim * hidden; }
  std::int64_t selector_params() const { return n_kv_heads * head_dim * hidden; }
  std::int64_t stored_params() const { return weight_params() + forecast_params() + selector_params(); }
  //   indexer_params   DSA's indexer per layer: queries [indexer_heads *
  //                    indexer_dim, hidden], key [indexer_dim, hidden], head
  //                    weights [indexer_heads, hidden]; uploaded by the DSA
  //                    modes only (on top of stored_params)
  std::int64_t indexer_params() const {
    return n_layers * hidden * (dsa.indexer_heads * dsa.indexer_dim + dsa.indexer_dim + dsa.indexer_heads);
  }
};

}  // namespace foresight::config

// Model weights in bf16 host memory, in the layout the decode loop uses:
// projections fused so one GEMM produces Q, K, V and the Forecast, and one
// produces gate and up. All matrices are [out, in] row-major (HF layout).
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "foresight/config/model.hpp"
#include "foresight/kernels/bf16.hpp"
#include "foresight/runtime/safetensors.hpp"

namespace foresight::runtime {

struct LayerWeights {
  std::vector<bf16> attn_norm;  // [hidden]
  // Rows: Q [n_heads*head_dim], K [n_kv*head_dim], V [n_kv*head_dim],
  // Forecast [n_kv*head_dim]; [qkvf_rows(m), hidden].
  std::vector<bf16> wqkvf;
  std::vector<bf16> wo;         // [hidden, n_heads*head_dim]
  std::vector<bf16> ffn_norm;   // [hidden]
  std::vector<bf16> w_gate_up;  // [2*intermediate, hidden], gate rows first
  std::vector<bf16> w_down;     // [hidden, intermediate]
};

struct Weights {
  std::vector<LayerWeights> layers;
  std::vector<bf16> embed;       // [vocab, hidden]
  std::vector<bf16> final_norm;  // [hidden]
  std::vector<bf16> lm_head;     // [vocab, hidden]; empty when tied to embed
  // Layer 0's current-query selector projection (SparDA: layer 0 selects its
  // own blocks): [n_kv*head_dim, hidden].
  std::vector<bf16> layer0_selector;
  bool forecast_loaded = false;  // Forecast rows came from a file (else synthetic)

  const std::vector<bf16>& lm_head_or_embed() const { return lm_head.empty() ? embed : lm_head; }
  std::uint64_t bytes() const;   // all bf16 storage (2 bytes per element held)
  // Frees all host storage (e.g. once uploaded to the GPU); bytes() is then 0.
  void release();
};

std::int64_t qkvf_rows(const config::ModelConfig& m);  // (n_heads + 3*n_kv) * head_dim

// Seeded synthetic weights: linear layers and embeddings ~ normal(0, 0.02),
// norms = 1, Forecast and selector ~ normal(0, 0.02). Counter-based: element
// i of tensor t is a pure function of (seed, t, i) (splitmix64 picks one of
// 65536 equal-probability normal quantiles), so the fill runs on all hardware
// threads and the weights are identical for any thread count.
Weights make_synthetic_weights(const config::ModelConfig& m, std::uint64_t seed);
// The same with `threads` workers (0 = std::thread::hardware_concurrency()).
Weights make_synthetic_weights(const config::ModelConfig& m, std::uint64_t seed, unsigned threads);

// Loads a Hugging Face Llama-format checkpoint directory: *.safetensors (one
// file, or shards listed in model.safetensors.index.json); or a llama.cpp
// GGUF file (a path ending in .gguf: load_gguf, runtime/gguf.hpp). Checks every
// tensor's name, shape and dtype and throws WeightsError at the first
// mismatch, naming the file and the tensor. The Forecast rows and layer 0's
// selector stay synthetic (seeded by `seed`) unless load_forecast is called.
Weights load_checkpoint(const std::filesystem::path& dir, const config::ModelConfig& m,
                        std::uint64_t seed);

// HF tensor names of the Forecast file.
std::string forecast_tensor_name(std::int64_t layer);  // model.layers.{l}.self_attn.forecast_proj.weight
inline constexpr const char* kLayer0SelectorName = "model.layers.0.self_attn.select_proj.weight";

// Replaces the Forecast rows of every layer (and layer 0's selector) with the
// tensors of a safetensors file, each [n_kv*head_dim, hidden].
void load_forecast(const std::filesystem::path& file, const config::ModelConfig& m, Weights& w);

// Writes `w` as a HF Llama-format checkpoint (model.safetensors, or `shards`
// files plus model.safetensors.index.json), and its Forecast file
// forecast.safetensors. Used by tests and tools.
void save_checkpoint(const std::filesystem::path& dir, const config::ModelConfig& m,
                     const Weights& w, int shards = 1);
void save_forecast(const std::filesystem::path& file, const config::ModelConfig& m, const Weights& w);

}  // namespace foresight::runtime

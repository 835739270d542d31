// A Llama-architecture GGUF file as a ModelConfig and as Weights: the config
// from the llama.* metadata, the tensors dequantized to bf16 and turned back
// into the Hugging Face layout (llama.cpp's converter permutes the rows of Q
// and K for its RoPE, which rotates adjacent pairs; HF rotates halves).
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "foresight/config/load.hpp"
#include "foresight/config/sparse_fit.hpp"
#include "foresight/runtime/gguf.hpp"
#include "foresight/runtime/weights.hpp"

namespace foresight::runtime {
namespace {

const std::string kArch = "llama";

[[noreturn]] void refuse(const GgufFile& f, const std::string& what) {
  throw WeightsError(fmt::format("{}: {}", f.path().string(), what));
}

// Metadata keys (under "llama.") and tensors whose presence means math
// foresight does not implement.
void refuse_unsupported(const GgufFile& f, const config::ModelConfig& m) {
  const std::string p = kArch + ".";
  if (f.has(p + "rope.scaling.type")) {
    const auto& v = f.at(p + "rope.scaling.type");
    const std::string t = v.type == GgufValueType::string ? v.s : "?";
    if (t != "none")
      refuse(f, fmt::format("metadata '{}rope.scaling.type' is \"{}\": RoPE scaling other than none is not "
                            "implemented for GGUF files",
                            p, t));
  }
  if (f.has(p + "rope.scaling.factor") && f.number(p + "rope.scaling.factor") != 1.0)
    refuse(f, fmt::format("metadata '{}rope.scaling.factor' is {}: RoPE scaling is not implemented for GGUF files",
                          p, f.number(p + "rope.scaling.factor")));
  if (f.has_tensor("rope_freqs.weight"))
    refuse(f, "tensor 'rope_freqs.weight' is present: per-dimension RoPE factors (llama3 scaling as llama.cpp "
              "writes it) are not implemented for GGUF files; use the HF checkpoint");
  for (const char* k : {"expert_count", "expert_used_count"})
    if (f.has(p + k) && f.integer(p + k) > 0)
      refuse(f, fmt::format("metadata '{}{}' is {}: a mixture of experts is not implemented", p, k, f.integer(p + k)));
  if (f.has(p + "attention.sliding_window") && f.integer(p + "attention.sliding_window") > 0)
    refuse(f, fmt::format("metadata '{}attention.sliding_window' is set: sliding-window attention is not implemented", p));
  if (f.has(p + "rope.dimension_count") && f.integer(p + "rope.dimension_count") != m.head_dim)
    refuse(f, fmt::format("metadata '{}rope.dimension_count' is {}, head_dim is {}: partial rotary embeddings are "
                          "not implemented",
                          p, f.integer(p + "rope.dimension_count"), m.head_dim));
  if (f.has(p + "attention.value_length") && f.integer(p + "attention.value_length") != m.head_dim)
    refuse(f, fmt::format("metadata '{}attention.value_length' is {}, key_length {}: different K and V head sizes "
                          "are not implemented",
                          p, f.integer(p + "attention.value_length"), m.head_dim));
  for (const auto& [name, t] : f.tensors()) {
    if (name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0)
      refuse(f, fmt::format("tensor '{}': biases are not implemented", name));
  }
}

// Row r of a GGUF Q/K matrix (head h, pair j, element i of the pair) is row
// h*hd + i*hd/2 + j of the HF matrix.
void unpermute_rows(std::vector<float>& w, std::int64_t heads, std::int64_t hd, std::int64_t cols) {
  std::vector<float> out(w.size());
  const std::int64_t half = hd / 2;
  for (std::int64_t h = 0; h < heads; ++h)
    for (std::int64_t j = 0; j < half; ++j)
      for (std::int64_t i = 0; i < 2; ++i) {
        const float* src = w.data() + ((h * hd + 2 * j + i) * cols);
        std::copy(src, src + cols, out.data() + ((h * hd + i * half + j) * cols));
      }
  w.swap(out);
}

void to_bf16(const std::vector<float>& src, bf16* dst) {
  for (std::size_t i = 0; i < src.size(); ++i) dst[i] = float_to_bf16(src[i]);
}

}  // namespace

config::ModelConfig model_from_gguf(const GgufFile& f) {
  const std::string arch = f.string("general.architecture");
  if (arch != kArch)
    refuse(f, fmt::format("metadata 'general.architecture' is \"{}\"; supported: llama", arch));
  const std::string p = kArch + ".";
  config::ModelConfig m;
  m.name = f.path().stem().string();
  m.n_layers = f.integer(p + "block_count");
  m.hidden = f.integer(p + "embedding_length");
  m.intermediate = f.integer(p + "feed_forward_length");
  m.n_heads = f.integer(p + "attention.head_count");
  m.n_kv_heads = f.has(p + "attention.head_count_kv") ? f.integer(p + "attention.head_count_kv") : m.n_heads;
  if (f.has(p + "attention.key_length")) {
    m.head_dim = f.integer(p + "attention.key_length");
  } else {
    if (m.n_heads <= 0 || m.hidden % m.n_heads != 0)
      refuse(f, fmt::format("metadata '{}attention.key_length' is missing and embedding_length {} is not divisible "
                            "by head_count {}",
                            p, m.hidden, m.n_heads));
    m.head_dim = m.hidden / m.n_heads;
  }
  if (f.has(p + "context_length")) m.max_context = f.integer(p + "context_length");
  m.rope_theta = f.has(p + "rope.freq_base") ? f.number(p + "rope.freq_base") : 10000.0;
  m.rms_eps = f.number(p + "attention.layer_norm_rms_epsilon");
  if (f.has(p + "vocab_size")) {
    m.vocab = f.integer(p + "vocab_size");
  } else if (f.has_tensor("token_embd.weight") && f.tensors().at("token_embd.weight").dims.size() == 2) {
    m.vocab = f.tensors().at("token_embd.weight").dims[1];
  } else {
    refuse(f, fmt::format("metadata '{}vocab_size' is missing and there is no 2-D 'token_embd.weight'", p));
  }
  m.tie_embeddings = !f.has_tensor("output.weight");
  m.dtype_bytes = 2;  // dequantized to bf16 at load
  refuse_unsupported(f, m);
  config::fit_sparse_to_context(m);
  try {
    return config::model_from_json(config::to_json(m), f.path().string());  // range checks
  } catch (const config::ConfigError& e) {
    throw WeightsError(e.what());
  }
}

Weights load_gguf(const GgufFile& f, const config::ModelConfig& m, std::uint64_t seed) {
  // As load_checkpoint: the Forecast rows and the selector stay synthetic.
  Weights w = make_synthetic_weights(m, seed);
  const std::int64_t H = m.hidden, hd = m.head_dim, q = m.n_heads * hd, kv = m.n_kv_heads * hd, I = m.intermediate;
  auto read = [&](const std::string& name, std::vector<std::int64_t> shape, bf16* dst) {
    to_bf16(f.read_f32(name, shape), dst);
  };
  read("token_embd.weight", {m.vocab, H}, w.embed.data());
  read("output_norm.weight", {H}, w.final_norm.data());
  if (!m.tie_embeddings) read("output.weight", {m.vocab, H}, w.lm_head.data());
  for (std::int64_t l = 0; l < m.n_layers; ++l) {
    auto& L = w.layers[static_cast<std::size_t>(l)];
    auto name = [&](const char* t) { return fmt::format("blk.{}.{}.weight", l, t); };
    read(name("attn_norm"), {H}, L.attn_norm.data());
    auto wq = f.read_f32(name("attn_q"), {q, H});
    unpermute_rows(wq, m.n_heads, hd, H);
    to_bf16(wq, L.wqkvf.data());
    auto wk = f.read_f32(name("attn_k"), {kv, H});
    unpermute_rows(wk, m.n_kv_heads, hd, H);
    to_bf16(wk, L.wqkvf.data() + q * H);
    read(name("attn_v"), {kv, H}, L.wqkvf.data() + (q + kv) * H);
    read(name("attn_output"), {H, q}, L.wo.data());
    read(name("ffn_norm"), {H}, L.ffn_norm.data());
    read(name("ffn_gate"), {I, H}, L.w_gate_up.data());
    read(name("ffn_up"), {I, H}, L.w_gate_up.data() + I * H);
    read(name("ffn_down"), {H, I}, L.w_down.data());
  }
  return w;
}

}  // namespace foresight::runtime

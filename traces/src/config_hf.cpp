// A Hugging Face config.json (Llama-style decoder) as a ModelConfig, as
// written by transformers 4.x and 5.x:
//   RoPE      4.x: top-level rope_theta and rope_scaling {rope_type|type, ...};
//             5.x: rope_parameters {rope_type, rope_theta, ...} (rope_theta
//             inside; transformers 5 still reads the 4.x keys, and so do we)
//   dtype     4.x: torch_dtype; 5.x: dtype
// Keys that change the math and that foresight does not implement (biases,
// other activations, sliding windows, experts, quantization, RoPE types other
// than default/llama3, partial rotary, muP scalings, other model types) are
// refused with an error naming the key; keys that do not change the decode
// math (ids, dropout, init range, use_cache, ...) are ignored.
// Sparse settings are SparDA's defaults (SparseConfig{}), scaled down when
// they select more than max_context (fit_sparse_to_context).
#include <algorithm>

#include <fmt/format.h>

#include "config_internal.hpp"
#include "foresight/config/sparse_fit.hpp"

namespace foresight::config::detail {

using nlohmann::json;

namespace {

bool present(Fields& f, const std::string& key) { return f.has(key) && !f.raw(key).is_null(); }

// Model types whose decoder is Llama's math when none of the keys refused
// below is set.
constexpr const char* kLlamaTypes[] = {"llama", "mistral"};

// The key must be absent, null, or equal to its neutral value.
void refuse_unless(Fields& f, const std::string& key, const json& neutral, const std::string& why) {
  if (!present(f, key)) return;
  const json& v = f.raw(key);
  if (v == neutral) return;
  f.fail(key, fmt::format("is {}: {} is not implemented by foresight", v.dump(), why));
}

// Keys whose mere presence (non-null) means math foresight does not do.
void refuse_present(Fields& f, const std::string& key, const std::string& why) {
  if (present(f, key)) f.fail(key, fmt::format("is set: {} is not implemented by foresight", why));
}

void refuse_unsupported(Fields& f) {
  if (present(f, "model_type")) {
    const std::string t = f.string("model_type");
    bool ok = false;
    for (const char* l : kLlamaTypes) ok = ok || t == l;
    if (!ok)
      f.fail("model_type", fmt::format("is \"{}\"; supported: llama, mistral (Llama-architecture decoders)", t));
  }
  refuse_unless(f, "attention_bias", false, "a bias on the Q/K/V/O projections");
  refuse_unless(f, "mlp_bias", false, "a bias on the MLP projections");
  refuse_unless(f, "hidden_act", "silu", "an MLP activation other than silu");
  refuse_unless(f, "use_sliding_window", false, "sliding-window attention");
  refuse_present(f, "sliding_window", "sliding-window attention");
  refuse_present(f, "layer_types", "attention that differs per layer");
  for (const char* k : {"num_local_experts", "num_experts", "n_routed_experts"})
    refuse_unless(f, k, 0, "a mixture of experts");
  refuse_present(f, "quantization_config", "a quantized checkpoint");
  refuse_unless(f, "partial_rotary_factor", 1, "partial rotary embedding");
  // MiniCPM's muP scalings.
  refuse_unless(f, "scale_emb", 1, "an embedding scale");
  refuse_unless(f, "scale_depth", 1, "a residual scale");
  refuse_present(f, "dim_model_base", "a muP logit scale");
  refuse_unless(f, "logit_scale", 1, "a logit scale");
}

// RoPE type and parameters from rope_parameters (5.x) or rope_scaling (4.x).
void read_rope(Fields& f, ModelConfig& m) {
  const bool has_params = present(f, "rope_parameters");
  const bool has_scaling = present(f, "rope_scaling");
  // Top-level rope_theta: 4.x, or 5.x defaults it into rope_parameters.
  const bool has_theta = present(f, "rope_theta");
  const double top_theta = has_theta ? f.number("rope_theta") : 10000.0;  // LlamaConfig's default
  m.rope_theta = top_theta;
  if (!has_params && !has_scaling) return;
  if (has_params && has_scaling)
    f.fail("rope_scaling", "and 'rope_parameters' are both set; write one (transformers 5 reads rope_scaling "
                           "only when rope_parameters is absent)");
  const std::string key = has_params ? "rope_parameters" : "rope_scaling";
  // transformers 5 nests parameters per layer type ({"full_attention": {...},
  // "sliding_attention": {...}}) for models whose layers differ.
  for (const auto& [k, v] : f.raw(key).items())
    if (v.is_object())
      f.fail(key + "." + k, "is a table: RoPE parameters that differ per layer type are not implemented by foresight");
  Fields r = f.table(key, true);
  if (present(r, "rope_theta")) {
    m.rope_theta = r.number("rope_theta");
    if (has_theta && m.rope_theta != top_theta)
      r.fail("rope_theta", fmt::format("is {} but the top-level 'rope_theta' is {}", m.rope_theta, top_theta));
  }
  refuse_unless(r, "partial_rotary_factor", 1, "partial rotary embedding");
  const std::string type = present(r, "rope_type") ? r.string("rope_type")
                           : present(r, "type")    ? r.string("type")
                                                   : "default";
  if (type == "llama3") {
    auto& rs = m.rope_scaling;
    rs.type = "llama3";
    rs.factor = r.number("factor");
    rs.low_freq_factor = r.number("low_freq_factor");
    rs.high_freq_factor = r.number("high_freq_factor");
    // transformers defaults it to max_position_embeddings.
    rs.original_max_position = present(r, "original_max_position_embeddings")
                                   ? r.integer("original_max_position_embeddings")
                                   : m.max_context;
  } else if (type != "default") {
    // Not representable (e.g. linear, dynamic, yarn, MiniCPM's longrope):
    // refuse rather than run with the wrong positions.
    r.fail(present(r, "rope_type") ? "rope_type" : "type",
           fmt::format("is \"{}\"; supported: llama3, default (write a TOML model config "
                       "to use these shapes with plain RoPE)",
                       type));
  }
}

}  // namespace

ModelConfig model_from_hf(const json& j, const std::string& where, const std::string& name) {
  Fields f(j, where, "");
  refuse_unsupported(f);
  ModelConfig m;
  m.name = name;
  m.n_layers = f.integer("num_hidden_layers");
  m.hidden = f.integer("hidden_size");
  m.n_heads = f.integer("num_attention_heads");
  // HF: a missing num_key_value_heads means multi-head attention.
  m.n_kv_heads = present(f, "num_key_value_heads") ? f.integer("num_key_value_heads") : m.n_heads;
  if (present(f, "head_dim")) {
    m.head_dim = f.integer("head_dim");
  } else {
    if (m.n_heads <= 0 || m.hidden % m.n_heads != 0)
      f.fail("head_dim", fmt::format("is missing and hidden_size ({}) is not divisible by "
                                     "num_attention_heads ({})",
                                     m.hidden, m.n_heads));
    m.head_dim = m.hidden / m.n_heads;
  }
  m.intermediate = f.integer("intermediate_size");
  m.vocab = f.integer("vocab_size");
  // LlamaConfig's default when the key is absent.
  m.max_context = present(f, "max_position_embeddings") ? f.integer("max_position_embeddings") : 2048;
  read_rope(f, m);
  // HF's LlamaConfig default when the key is absent.
  m.rms_eps = present(f, "rms_norm_eps") ? f.number("rms_norm_eps") : 1e-6;
  // LlamaConfig's default is untied (both 4.x and 5.x).
  m.tie_embeddings = present(f, "tie_word_embeddings") ? f.boolean("tie_word_embeddings") : false;
  // 5.x writes dtype, 4.x torch_dtype; if both, they must agree.
  std::string dtype_key = present(f, "dtype") ? "dtype" : "torch_dtype";
  const std::string dtype = present(f, dtype_key) ? f.string(dtype_key) : "bfloat16";
  if (dtype_key == "dtype" && present(f, "torch_dtype") && f.string("torch_dtype") != dtype)
    f.fail("torch_dtype", fmt::format("is \"{}\" but 'dtype' is \"{}\"", f.string("torch_dtype"), dtype));
  if (dtype == "bfloat16" || dtype == "float16") {
    m.dtype_bytes = 2;
  } else if (dtype == "float32") {
    m.dtype_bytes = 4;
  } else {
    f.fail(dtype_key, fmt::format("is \"{}\"; supported: bfloat16, float16, float32", dtype));
  }
  fit_sparse_to_context(m);
  validate_model(m, where);
  return m;
}

}  // namespace foresight::config::detail

namespace foresight::config {

void fit_sparse_to_context(ModelConfig& m) {
  auto& s = m.sparse;
  if (s.block_tokens <= 0 || s.topk_blocks * s.block_tokens <= m.max_context) return;
  const std::int64_t blocks = m.max_context / s.block_tokens;
  s.topk_blocks = std::min(blocks, std::max<std::int64_t>(3, blocks / 2));
  s.window_blocks = std::max<std::int64_t>(1, s.topk_blocks / 3);
  s.sink_blocks = s.topk_blocks > s.window_blocks + 1 ? 1 : 0;
}

}  // namespace foresight::config

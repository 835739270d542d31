// A Hugging Face config.json (Llama-style decoder) as a ModelConfig. HF keys
// this project does not use are ignored; the ones it reads are type-checked.
// Sparse settings are SparDA's defaults (SparseConfig{}).
#include <fmt/format.h>

#include "config_internal.hpp"

namespace foresight::config::detail {

using nlohmann::json;

namespace {
bool present(Fields& f, const std::string& key) { return f.has(key) && !f.raw(key).is_null(); }
}  // namespace

ModelConfig model_from_hf(const json& j, const std::string& where, const std::string& name) {
  Fields f(j, where, "");
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
  if (present(f, "max_position_embeddings")) m.max_context = f.integer("max_position_embeddings");
  if (present(f, "rope_theta")) m.rope_theta = f.number("rope_theta");
  // HF's LlamaConfig default when the key is absent.
  m.rms_eps = present(f, "rms_norm_eps") ? f.number("rms_norm_eps") : 1e-6;
  if (present(f, "tie_word_embeddings")) m.tie_embeddings = f.boolean("tie_word_embeddings");
  const std::string dtype = present(f, "torch_dtype") ? f.string("torch_dtype") : "bfloat16";
  if (dtype == "bfloat16" || dtype == "float16") {
    m.dtype_bytes = 2;
  } else if (dtype == "float32") {
    m.dtype_bytes = 4;
  } else {
    f.fail("torch_dtype", fmt::format("is \"{}\"; supported: bfloat16, float16, float32", dtype));
  }

  if (present(f, "rope_scaling")) {
    Fields r = f.table("rope_scaling", true);
    std::string type = present(r, "rope_type") ? r.string("rope_type")
                       : present(r, "type")    ? r.string("type")
                                               : "default";
    if (type == "llama3") {
      auto& rs = m.rope_scaling;
      rs.type = "llama3";
      rs.factor = r.number("factor");
      rs.low_freq_factor = r.number("low_freq_factor");
      rs.high_freq_factor = r.number("high_freq_factor");
      rs.original_max_position = r.integer("original_max_position_embeddings");
    } else if (type != "default") {
      // Not representable (e.g. MiniCPM's longrope): refuse rather than run
      // with the wrong positions.
      r.fail(present(r, "rope_type") ? "rope_type" : "type",
             fmt::format("is \"{}\"; supported: llama3, default (write a TOML model config "
                         "to use these shapes with plain RoPE)",
                         type));
    }
  }
  validate_model(m, where);
  return m;
}

}  // namespace foresight::config::detail

// Hugging Face config.json as transformers 4.x and 5.x write it: the same
// model either way, and every key that changes the math but is not
// implemented refused by name (issue #14).
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "foresight/config/load.hpp"

using namespace foresight::config;
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A Llama-3-style config as transformers 5.25 saves it (rope_parameters, dtype).
json tf5_llama3() {
  return json::parse(R"({
    "architectures": ["LlamaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
    "bos_token_id": 1, "dtype": "bfloat16", "eos_token_id": 2, "head_dim": 64, "hidden_act": "silu",
    "hidden_size": 96, "initializer_range": 0.02, "intermediate_size": 128, "max_position_embeddings": 2048,
    "mlp_bias": false, "model_type": "llama", "num_attention_heads": 6, "num_hidden_layers": 2,
    "num_key_value_heads": 2, "pad_token_id": null, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
    "rope_parameters": {"factor": 8.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                        "original_max_position_embeddings": 256, "rope_theta": 500000.0, "rope_type": "llama3"},
    "tie_word_embeddings": true, "transformers_version": "5.25.0", "use_cache": true, "vocab_size": 256})");
}

// The same model as transformers 4.x writes it (rope_theta, rope_scaling, torch_dtype).
json tf4_llama3() {
  json j = tf5_llama3();
  j["rope_scaling"] = j["rope_parameters"];
  j["rope_scaling"].erase("rope_theta");
  j.erase("rope_parameters");
  j["rope_theta"] = 500000.0;
  j.erase("dtype");
  j["torch_dtype"] = "bfloat16";
  j["transformers_version"] = "4.43.0";
  return j;
}

struct TempConfig {
  fs::path path;
  explicit TempConfig(const json& j, const std::string& name = "config.json") {
    const fs::path dir = fs::temp_directory_path() / ("foresight_hf_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    path = dir / name;
    std::ofstream(path) << j.dump(2);
  }
  ~TempConfig() { fs::remove(path); }
};

ModelConfig load(const json& j) { return load_model(TempConfig(j).path.string()); }

std::string error_of(const json& j) {
  TempConfig c(j);
  try {
    load_model(c.path.string());
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    const std::string prefix = c.path.string() + ": ";
    return msg.rfind(prefix, 0) == 0 ? msg.substr(prefix.size()) : msg;
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("transformers 4 and 5 configs of one model read the same") {
  const ModelConfig m5 = load(tf5_llama3()), m4 = load(tf4_llama3());
  CHECK(to_json(m5) == to_json(m4));
  CHECK(m5.rope_theta == 500000.0);
  CHECK(m5.rope_scaling.type == "llama3");
  CHECK(m5.rope_scaling.factor == 8.0);
  CHECK(m5.rope_scaling.low_freq_factor == 1.0);
  CHECK(m5.rope_scaling.high_freq_factor == 4.0);
  CHECK(m5.rope_scaling.original_max_position == 256);
  CHECK(m5.tie_embeddings);
  CHECK(m5.rms_eps == 1e-5);
  CHECK(m5.head_dim == 64);
  CHECK(m5.n_kv_heads == 2);
  CHECK(m5.dtype_bytes == 2);

  // 4.x's "type" instead of "rope_type"; a plain RoPE in rope_parameters.
  json old = tf4_llama3();
  old["rope_scaling"].erase("rope_type");
  old["rope_scaling"]["type"] = "llama3";
  CHECK(to_json(load(old)) == to_json(m5));
  json plain = tf5_llama3();
  plain["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 100000.0}};
  const ModelConfig p = load(plain);
  CHECK(p.rope_theta == 100000.0);
  CHECK(p.rope_scaling.type == "none");
  // llama3 without original_max_position_embeddings: transformers uses max_position_embeddings.
  json no_orig = tf5_llama3();
  no_orig["rope_parameters"].erase("original_max_position_embeddings");
  CHECK(load(no_orig).rope_scaling.original_max_position == 2048);
  // Absent keys take LlamaConfig's defaults.
  json bare = {{"num_hidden_layers", 2}, {"hidden_size", 64}, {"num_attention_heads", 4},
               {"intermediate_size", 128}, {"vocab_size", 256}};
  const ModelConfig b = load(bare);
  CHECK(b.rope_theta == 10000.0);
  CHECK(b.rms_eps == 1e-6);
  CHECK_FALSE(b.tie_embeddings);
  CHECK(b.max_context == 2048);
  CHECK(b.n_kv_heads == 4);
  json f32 = tf5_llama3();
  f32["dtype"] = "float32";
  CHECK(load(f32).dtype_bytes == 4);  // the runtime refuses it (it holds bf16), the simulator may plan it
}

TEST_CASE("HF config keys that change the math and are not implemented are refused by name") {
  auto with = [](const std::string& key, const json& v) {
    json j = tf5_llama3();
    j[key] = v;
    return error_of(j);
  };
  CHECK(with("attention_bias", true) ==
        "'attention_bias' is true: a bias on the Q/K/V/O projections is not implemented by foresight");
  CHECK(with("mlp_bias", true) == "'mlp_bias' is true: a bias on the MLP projections is not implemented by foresight");
  CHECK(with("hidden_act", "gelu") ==
        "'hidden_act' is \"gelu\": an MLP activation other than silu is not implemented by foresight");
  CHECK(with("sliding_window", 4096) == "'sliding_window' is set: sliding-window attention is not implemented by foresight");
  CHECK(with("use_sliding_window", true) ==
        "'use_sliding_window' is true: sliding-window attention is not implemented by foresight");
  CHECK(with("num_local_experts", 8) == "'num_local_experts' is 8: a mixture of experts is not implemented by foresight");
  CHECK(with("quantization_config", {{"quant_method", "awq"}}) ==
        "'quantization_config' is set: a quantized checkpoint is not implemented by foresight");
  CHECK(with("model_type", "qwen2") ==
        "'model_type' is \"qwen2\"; supported: llama, mistral (Llama-architecture decoders)");
  CHECK(with("scale_emb", 12) == "'scale_emb' is 12: an embedding scale is not implemented by foresight");
  CHECK(with("layer_types", json::array({"full_attention"})) ==
        "'layer_types' is set: attention that differs per layer is not implemented by foresight");
  CHECK(with("torch_dtype", "float16") == "'torch_dtype' is \"float16\" but 'dtype' is \"bfloat16\"");
  CHECK(with("dtype", "int8") == "'dtype' is \"int8\"; supported: bfloat16, float16, float32");
  // Neutral values of those keys are fine.
  CHECK(with("sliding_window", nullptr) == "(no error)");
  CHECK(with("num_local_experts", 0) == "(no error)");

  auto rope = [](const json& params) {
    json j = tf5_llama3();
    j["rope_parameters"] = params;
    return error_of(j);
  };
  for (const char* t : {"linear", "dynamic", "yarn", "longrope"}) {
    CHECK(rope({{"rope_type", t}, {"factor", 2.0}, {"rope_theta", 10000.0}}) ==
          fmt::format("'rope_parameters.rope_type' is \"{}\"; supported: llama3, default (write a TOML model "
                      "config to use these shapes with plain RoPE)",
                      t));
  }
  CHECK(rope({{"rope_type", "default"}, {"rope_theta", 10000.0}, {"partial_rotary_factor", 0.5}}) ==
        "'rope_parameters.partial_rotary_factor' is 0.5: partial rotary embedding is not implemented by foresight");
  CHECK(rope({{"full_attention", {{"rope_type", "default"}, {"rope_theta", 10000.0}}}}) ==
        "'rope_parameters.full_attention' is a table: RoPE parameters that differ per layer type are not "
        "implemented by foresight");
  json both = tf5_llama3();
  both["rope_scaling"] = both["rope_parameters"];
  CHECK(error_of(both).rfind("'rope_scaling' and 'rope_parameters' are both set", 0) == 0);
  json clash = tf5_llama3();
  clash["rope_theta"] = 10000.0;
  CHECK(error_of(clash) == "'rope_parameters.rope_theta' is 500000 but the top-level 'rope_theta' is 10000");
}

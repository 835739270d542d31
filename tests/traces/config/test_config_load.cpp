// Loading the shipped TOML configs, Hugging Face config.json, name lookup,
// and every kind of loader error on a deliberately broken file.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "foresight/config/load.hpp"

using namespace foresight::config;
namespace fs = std::filesystem;

namespace {
const std::string kData = FORESIGHT_CONFIG_TEST_DATA;
const std::string kConfigs = FORESIGHT_TEST_CONFIGS;

std::string error_of(auto&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// A scratch file under the temp directory, removed at scope exit.
struct TempFile {
  fs::path path;
  TempFile(const std::string& name, const std::string& text)
      : path(fs::temp_directory_path() /
             ("foresight_cfg_" + std::to_string(::getpid()) + "_" + name)) {
    std::ofstream(path) << text;
  }
  ~TempFile() { fs::remove(path); }
};

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string without_line_starting(const std::string& text, const std::string& prefix) {
  std::istringstream in(text);
  std::string line, out;
  while (std::getline(in, line))
    if (line.rfind(prefix, 0) != 0) out += line + "\n";
  return out;
}
}  // namespace

TEST_CASE("every shipped model config loads by name and round-trips through JSON") {
  for (const char* name : {"minicpm4.1-8b", "llama3.1-8b", "tiny"}) {
    INFO(name);
    ModelConfig m = load_model(name);
    CHECK(m.name == name);
    ModelConfig back = model_from_json(nlohmann::json::parse(to_json(m).dump()), "roundtrip");
    CHECK(to_json(back) == to_json(m));
  }
  ModelConfig c = load_model(kConfigs + "/models/minicpm4.1-8b.toml");
  CHECK(c.n_layers == 32);
  CHECK(c.n_kv_heads == 2);
  CHECK(c.vocab == 73448);
  CHECK(c.kv_bytes_per_token_layer() == 1024);  // 1 KiB per token per layer (SparDA)
  CHECK(c.sparse.topk_blocks == 96);
  CHECK(c.sparse.window_blocks == 32);
  ModelConfig l = load_model("llama3.1-8b");
  CHECK(l.weight_params() == 8030261248LL);
  CHECK(l.rope_scaling.type == "llama3");
  CHECK(l.rope_scaling.factor == 8.0);
  CHECK(l.rope_theta == 500000.0);
  ModelConfig t = load_model("tiny");
  CHECK(t.sparse.pool_stride * t.sparse.compress_stride == t.sparse.block_tokens);
}

TEST_CASE("every shipped hardware config loads, with provenance for every number") {
  for (const char* name : {"h100-sxm", "h200", "a100-pcie4", "a5000-pcie4"}) {
    INFO(name);
    HardwareConfig h = load_hardware(name);
    CHECK(h.name == name);
    CHECK(h.provenance.size() == 18u + (h.bulk_gather_by_ctas_16k.x.empty() ? 0u : 1u));  // + the optional curve
    for (const auto& [key, text] : h.provenance) CHECK(!text.empty());
    HardwareConfig back = hardware_from_json(nlohmann::json::parse(to_json(h).dump()), "rt");
    CHECK(to_json(back) == to_json(h));
  }
  HardwareConfig h = load_hardware("h100-sxm");
  CHECK(h.sm_count == 132);
  CHECK(h.l2_bytes == 50 * 1024 * 1024);
  CHECK(h.persisting_l2_max_bytes == 32768000);
  CHECK(h.h2d_memcpy_by_size.at(1048576) == 46.0);
  CHECK(h.gather_by_ctas_16k.at(16) == 51.0);
  CHECK(h.provenance.at("sm_count").rfind("measured", 0) == 0);
  CHECK(h.provenance.at("bf16_tflops").rfind("datasheet", 0) == 0);
}

TEST_CASE("Hugging Face config.json reads like the TOML of the same model") {
  ModelConfig hf = load_model(kData + "/Llama-3.1-8B/config.json");
  ModelConfig toml = load_model("llama3.1-8b");
  CHECK(hf.name == "Llama-3.1-8B");  // from the folder name
  hf.name = toml.name;
  CHECK(to_json(hf) == to_json(toml));

  CHECK(contains(error_of([] { load_model(kData + "/hf_longrope.json"); }),
                 "hf_longrope.json: 'rope_scaling.rope_type' is \"longrope\""));
  CHECK(contains(error_of([] { load_model(kData + "/hf_no_head_dim.json"); }),
                 "hf_no_head_dim.json: 'head_dim' is missing and hidden_size (250) is not "
                 "divisible by num_attention_heads (4)"));
}

TEST_CASE("loader errors name the file and the key") {
  CHECK(error_of([] { load_model(kData + "/unknown_key.toml"); }) ==
        kData +
            "/unknown_key.toml: unknown key 'sparse.top_k' (did you mean 'sparse.topk_blocks'?)");
  CHECK(error_of([] { load_model(kData + "/wrong_type.toml"); }) ==
        kData + "/wrong_type.toml: 'n_layers' must be an integer, got string");
  std::string syntax = error_of([] { load_model(kData + "/syntax_error.toml"); });
  CHECK(syntax.rfind(kData + "/syntax_error.toml:3:", 0) == 0);
  CHECK(contains(syntax, "TOML syntax error"));
  CHECK(contains(error_of([] { load_model(kData + "/missing.toml"); }),
                 kData + "/missing.toml: cannot open (No such file or directory)"));
  CHECK(error_of([] { load_model(kData + "/missing.json"); }) ==
        kData + "/missing.json: cannot open (No such file or directory)");
  std::string bad_json = error_of([] { load_model(kData + "/syntax_error.json"); });
  CHECK(bad_json.rfind(kData + "/syntax_error.json:3:", 0) == 0);
  CHECK(contains(bad_json, "JSON syntax error"));
  CHECK(contains(error_of([] { load_model(kData + "/bad_gqa.toml"); }),
                 "bad_gqa.toml: 'n_kv_heads' must divide n_heads (8)"));
  CHECK(contains(error_of([] { load_model(kData + "/topk_too_small.toml"); }),
                 "topk_too_small.toml: 'sparse.topk_blocks' must exceed sink_blocks + "
                 "window_blocks = 3, got 3"));
  CHECK(contains(error_of([] { load_model(kData + "/date_value.toml"); }),
                 "date_value.toml:1:12: 'n_layers' is a date or time"));
}

TEST_CASE("a bare name that is not shipped lists what is") {
  std::string msg = error_of([] { load_model("minicpm"); });
  CHECK(contains(msg, "unknown model config 'minicpm'"));
  CHECK(contains(msg, "did you mean 'minicpm4.1-8b'?"));
  CHECK(contains(msg, "llama3.1-8b, minicpm4.1-8b, smollm2-135m, tiny"));
  msg = error_of([] { load_hardware("h100"); });
  CHECK(contains(msg, "a100-pcie4, a5000-pcie4, h100-sxm, h200"));
}

TEST_CASE("FORESIGHT_CONFIGS overrides the configs directory") {
  const char* old = std::getenv("FORESIGHT_CONFIGS");
  std::string saved = old ? old : "";
  ::setenv("FORESIGHT_CONFIGS", "/nonexistent/configs", 1);
  CHECK(configs_dir() == fs::path("/nonexistent/configs"));
  CHECK(contains(error_of([] { load_model("tiny"); }), "/nonexistent/configs/models"));
  if (old)
    ::setenv("FORESIGHT_CONFIGS", saved.c_str(), 1);
  else
    ::unsetenv("FORESIGHT_CONFIGS");
  CHECK(configs_dir() == fs::path(kConfigs));
}

TEST_CASE("hardware: a number without provenance is rejected") {
  const std::string h100 = read_text(kConfigs + "/hardware/h100-sxm.toml");
  REQUIRE(contains(h100, "\nhbm_gbps = \""));
  TempFile f("noprov.toml", without_line_starting(h100, "hbm_gbps = \""));
  std::string msg = error_of([&] { load_hardware(f.path.string()); });
  CHECK(msg.rfind(f.path.string() + ": 'hbm_gbps' has no provenance", 0) == 0);

  TempFile g("extra.toml", h100 + "hbm_gpbs = \"measured: typo\"\n");
  CHECK(error_of([&] { load_hardware(g.path.string()); }) ==
        g.path.string() +
            ": unknown key 'provenance.hbm_gpbs' (did you mean 'provenance.hbm_gbps'?)");

  TempFile n("noprovtable.toml", h100.substr(0, h100.find("\n[provenance]")));
  CHECK(contains(error_of([&] { load_hardware(n.path.string()); }),
                 "'provenance' is required: every number must state where it comes from"));
}

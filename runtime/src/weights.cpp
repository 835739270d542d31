// Synthetic weights, HF checkpoint loading (single file or sharded) and saving.
#include "foresight/runtime/weights.hpp"
#include "foresight/runtime/gguf.hpp"
#include "synthetic_fill.hpp"

#include <fstream>
#include <map>
#include <memory>
#include <utility>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

namespace foresight::runtime {
namespace {

using Shape = std::vector<std::int64_t>;

constexpr float kInitStd = 0.02f;

std::vector<bf16> ones(std::size_t n) { return std::vector<bf16>(n, float_to_bf16(1.f)); }

std::string layer_name(std::int64_t l, const char* suffix) {
  return fmt::format("model.layers.{}.{}", l, suffix);
}

// Tensor name -> (shape, storage) for every checkpoint tensor; Ptr is bf16*
// when loading, const bf16* when saving.
template <class Ptr>
struct SlotT {
  std::string name;
  Shape shape;
  Ptr dst;
};

template <class W, class Ptr = decltype(std::declval<W&>().embed.data())>
std::vector<SlotT<Ptr>> checkpoint_slots(const config::ModelConfig& m, W& w) {
  const std::int64_t H = m.hidden, hd = m.head_dim, q = m.n_heads * hd, kv = m.n_kv_heads * hd;
  std::vector<SlotT<Ptr>> s;
  s.push_back({"model.embed_tokens.weight", {m.vocab, H}, w.embed.data()});
  for (std::int64_t l = 0; l < m.n_layers; ++l) {
    auto& L = w.layers[static_cast<std::size_t>(l)];
    s.push_back({layer_name(l, "input_layernorm.weight"), {H}, L.attn_norm.data()});
    s.push_back({layer_name(l, "self_attn.q_proj.weight"), {q, H}, L.wqkvf.data()});
    s.push_back({layer_name(l, "self_attn.k_proj.weight"), {kv, H}, L.wqkvf.data() + q * H});
    s.push_back({layer_name(l, "self_attn.v_proj.weight"), {kv, H}, L.wqkvf.data() + (q + kv) * H});
    s.push_back({layer_name(l, "self_attn.o_proj.weight"), {H, q}, L.wo.data()});
    s.push_back({layer_name(l, "post_attention_layernorm.weight"), {H}, L.ffn_norm.data()});
    s.push_back({layer_name(l, "mlp.gate_proj.weight"), {m.intermediate, H}, L.w_gate_up.data()});
    s.push_back({layer_name(l, "mlp.up_proj.weight"), {m.intermediate, H},
                 L.w_gate_up.data() + m.intermediate * H});
    s.push_back({layer_name(l, "mlp.down_proj.weight"), {H, m.intermediate}, L.w_down.data()});
  }
  s.push_back({"model.norm.weight", {H}, w.final_norm.data()});
  if (!m.tie_embeddings) s.push_back({"lm_head.weight", {m.vocab, H}, w.lm_head.data()});
  return s;
}

template <class W, class Ptr = decltype(std::declval<W&>().embed.data())>
std::vector<SlotT<Ptr>> forecast_slots(const config::ModelConfig& m, W& w) {
  const std::int64_t H = m.hidden, q = m.n_heads * m.head_dim, kv = m.n_kv_heads * m.head_dim;
  std::vector<SlotT<Ptr>> s;
  for (std::int64_t l = 0; l < m.n_layers; ++l) {
    s.push_back({forecast_tensor_name(l), {kv, H},
                 w.layers[static_cast<std::size_t>(l)].wqkvf.data() + (q + 2 * kv) * H});
  }
  s.push_back({kLayer0SelectorName, {kv, H}, w.layer0_selector.data()});
  return s;
}

// True when `p` is `root` or lies below it (both canonical).
bool inside(const std::filesystem::path& root, const std::filesystem::path& p) {
  auto r = root.begin(), q = p.begin();
  for (; r != root.end(); ++r, ++q) {
    if (r->empty()) continue;  // a trailing separator's empty element
    if (q == p.end() || *r != *q) return false;
  }
  return true;
}

// The file that weight_map entry `entry` (for tensor `name`) of `index` names.
// It must stay inside the checkpoint directory `dir` once resolved (".."
// and symlinks included), so a hostile index cannot make us open any file
// on the machine. One exception: in a Hugging Face hub cache
// (<repo>/snapshots/<rev>/), files are symlinks into <repo>/blobs/, which
// are allowed when the entry itself is a plain relative name.
std::filesystem::path shard_path(const std::filesystem::path& dir,
                                 const std::filesystem::path& index, const std::string& name,
                                 const std::string& entry) {
  namespace fs = std::filesystem;
  auto fail = [&](const std::string& why) {
    throw WeightsError(
        fmt::format("{}: weight_map['{}'] = '{}': {}", index.string(), name, entry, why));
  };
  if (entry.empty()) fail("is empty");
  if (entry.find('\0') != std::string::npos) fail("contains a NUL byte");
  const fs::path e(entry);
  if (e.is_absolute() || e.has_root_name() || e.has_root_directory())
    fail(fmt::format("is an absolute path; shard files must be inside the checkpoint directory {}",
                     dir.string()));
  std::error_code ec;
  const fs::path root = fs::weakly_canonical(dir, ec);
  if (ec)
    fail(fmt::format("cannot resolve the checkpoint directory {}: {}", dir.string(), ec.message()));
  const fs::path target = fs::weakly_canonical(dir / e, ec);
  if (ec) fail(fmt::format("cannot resolve the path: {}", ec.message()));
  const fs::path lexical = e.lexically_normal();
  const bool plain = !lexical.empty() && *lexical.begin() != "..";
  if (inside(root, target) && target != root && plain) return target;
  if (plain && root.parent_path().filename() == "snapshots") {
    const fs::path blobs = root.parent_path().parent_path() / "blobs";
    if (inside(blobs, target) && target.parent_path() == blobs) return target;
  }
  fail(fmt::format("resolves to {}, outside the checkpoint directory {}; refusing to open it",
                   target.string(), root.string()));
  return {};
}

void check_model(const config::ModelConfig& m) {
  if (m.n_layers <= 0 || m.hidden <= 0 || m.n_heads <= 0 || m.n_kv_heads <= 0 || m.head_dim <= 0 ||
      m.intermediate <= 0 || m.vocab <= 0 || m.n_heads % m.n_kv_heads != 0) {
    throw WeightsError(fmt::format("model '{}': invalid shape for weights", m.name));
  }
}

}  // namespace

std::int64_t qkvf_rows(const config::ModelConfig& m) { return (m.n_heads + 3 * m.n_kv_heads) * m.head_dim; }

std::string forecast_tensor_name(std::int64_t layer) {
  return layer_name(layer, "self_attn.forecast_proj.weight");
}

std::uint64_t Weights::bytes() const {
  std::uint64_t n = embed.size() + final_norm.size() + lm_head.size() + layer0_selector.size();
  for (const auto& L : layers) {
    n += L.attn_norm.size() + L.wqkvf.size() + L.wo.size() + L.ffn_norm.size() + L.w_gate_up.size() +
         L.w_down.size();
  }
  return 2 * n;
}

void Weights::release() {
  // swap with empty vectors: clear() would keep the capacity.
  std::vector<LayerWeights>().swap(layers);
  for (auto* v : {&embed, &final_norm, &lm_head, &layer0_selector}) std::vector<bf16>().swap(*v);
}

Weights make_synthetic_weights(const config::ModelConfig& m, std::uint64_t seed) {
  return make_synthetic_weights(m, seed, 0);
}

Weights make_synthetic_weights(const config::ModelConfig& m, std::uint64_t seed, unsigned threads) {
  check_model(m);
  const auto H = static_cast<std::size_t>(m.hidden);
  const auto q = static_cast<std::size_t>(m.n_heads * m.head_dim);
  const auto kv = static_cast<std::size_t>(m.n_kv_heads * m.head_dim);
  const auto I = static_cast<std::size_t>(m.intermediate);
  const auto V = static_cast<std::size_t>(m.vocab);
  const auto L = static_cast<std::size_t>(m.n_layers);
  // Tensor numbers (the `t` of each element's (seed, t, i)): embed 0, layer l's
  // wqkvf, wo, w_gate_up, w_down 1 + 4l .. 4 + 4l, lm_head 1 + 4L, selector 2 + 4L.
  Weights w;
  w.layers.resize(L);
  std::vector<NormalTensor> jobs;
  jobs.push_back({&w.embed, V * H, 0});
  for (std::size_t l = 0; l < L; ++l) {
    auto& Lw = w.layers[l];
    Lw.attn_norm = ones(H);
    Lw.ffn_norm = ones(H);
    jobs.push_back({&Lw.wqkvf, static_cast<std::size_t>(qkvf_rows(m)) * H, 1 + 4 * l});
    jobs.push_back({&Lw.wo, H * q, 2 + 4 * l});
    jobs.push_back({&Lw.w_gate_up, 2 * I * H, 3 + 4 * l});
    jobs.push_back({&Lw.w_down, H * I, 4 + 4 * l});
  }
  w.final_norm = ones(H);
  if (!m.tie_embeddings) jobs.push_back({&w.lm_head, V * H, 1 + 4 * L});
  jobs.push_back({&w.layer0_selector, kv * H, 2 + 4 * L});
  fill_normal_tensors(jobs, seed, kInitStd, threads);
  return w;
}

Weights load_checkpoint(const std::filesystem::path& dir, const config::ModelConfig& m,
                        std::uint64_t seed) {
  if (dir.extension() == ".gguf" && !std::filesystem::is_directory(dir)) {
    check_model(m);
    return load_gguf(GgufFile(dir), m, seed);
  }
  if (!std::filesystem::is_directory(dir)) {
    throw WeightsError(fmt::format("{}: not a checkpoint directory (nor a .gguf file)", dir.string()));
  }
  // Start from synthetic weights: the Forecast rows and the selector stay
  // synthetic; every checkpoint tensor below overwrites its part.
  Weights w = make_synthetic_weights(m, seed);
  // Which file holds which tensor.
  std::map<std::string, std::filesystem::path> where;
  const auto index = dir / "model.safetensors.index.json";
  std::vector<std::filesystem::path> files;
  if (std::filesystem::exists(index)) {
    require_regular_file(index);  // a FIFO would block the read forever
    nlohmann::json j;
    try {
      std::ifstream in(index);
      j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw WeightsError(fmt::format("{}: not valid JSON: {}", index.string(), e.what()));
    }
    if (!j.contains("weight_map") || !j["weight_map"].is_object()) {
      throw WeightsError(fmt::format("{}: missing object \"weight_map\"", index.string()));
    }
    for (const auto& [name, file] : j["weight_map"].items()) {
      if (!file.is_string()) throw WeightsError(fmt::format("{}: weight_map['{}'] is not a file name", index.string(), name));
      where[name] = shard_path(dir, index, name, file.get<std::string>());
    }
  } else if (std::filesystem::exists(dir / "model.safetensors")) {
    files.push_back(dir / "model.safetensors");
  } else {
    throw WeightsError(fmt::format("{}: neither model.safetensors nor model.safetensors.index.json",
                                   dir.string()));
  }
  std::map<std::filesystem::path, std::unique_ptr<SafetensorsFile>> open;
  auto file_of = [&](const std::filesystem::path& p) -> const SafetensorsFile& {
    auto& f = open[p];
    if (!f) f = std::make_unique<SafetensorsFile>(p);
    return *f;
  };
  for (const auto& f : files) file_of(f);

  for (const auto& s : checkpoint_slots(m, w)) {
    std::filesystem::path p;
    if (!where.empty()) {
      auto it = where.find(s.name);
      if (it == where.end()) {
        throw WeightsError(fmt::format("{}: tensor '{}' is missing from weight_map", index.string(), s.name));
      }
      p = it->second;
    } else {
      p = files.front();
    }
    file_of(p).read_bf16(s.name, s.shape, s.dst);
  }
  return w;
}

void load_forecast(const std::filesystem::path& file, const config::ModelConfig& m, Weights& w) {
  SafetensorsFile f(file);
  for (const auto& s : forecast_slots(m, w)) f.read_bf16(s.name, s.shape, s.dst);
  w.forecast_loaded = true;
}

void save_checkpoint(const std::filesystem::path& dir, const config::ModelConfig& m,
                     const Weights& w, int shards) {
  std::filesystem::create_directories(dir);
  const auto slots = checkpoint_slots(m, w);
  nlohmann::json cfg = {{"architectures", {"LlamaForCausalLM"}},
                        {"model_type", "llama"},
                        {"hidden_size", m.hidden},
                        {"intermediate_size", m.intermediate},
                        {"num_attention_heads", m.n_heads},
                        {"num_key_value_heads", m.n_kv_heads},
                        {"num_hidden_layers", m.n_layers},
                        {"head_dim", m.head_dim},
                        {"vocab_size", m.vocab},
                        {"rms_norm_eps", m.rms_eps},
                        {"rope_theta", m.rope_theta},
                        {"max_position_embeddings", m.max_context},
                        {"tie_word_embeddings", m.tie_embeddings},
                        {"torch_dtype", "bfloat16"}};
  std::ofstream(dir / "config.json") << cfg.dump(2) << "\n";
  if (shards <= 1) {
    std::vector<TensorToWrite> t;
    for (const auto& s : slots) t.push_back({s.name, s.shape, s.dst});
    write_safetensors(dir / "model.safetensors", t);
    return;
  }
  nlohmann::json index = {{"metadata", nlohmann::json::object()}, {"weight_map", nlohmann::json::object()}};
  const std::size_t per = (slots.size() + static_cast<std::size_t>(shards) - 1) / static_cast<std::size_t>(shards);
  for (int k = 0; k < shards; ++k) {
    const std::string name = fmt::format("model-{:05d}-of-{:05d}.safetensors", k + 1, shards);
    std::vector<TensorToWrite> t;
    for (std::size_t i = static_cast<std::size_t>(k) * per; i < std::min(slots.size(), (static_cast<std::size_t>(k) + 1) * per); ++i) {
      t.push_back({slots[i].name, slots[i].shape, slots[i].dst});
      index["weight_map"][slots[i].name] = name;
    }
    write_safetensors(dir / name, t);
  }
  std::ofstream(dir / "model.safetensors.index.json") << index.dump(2) << "\n";
}

void save_forecast(const std::filesystem::path& file, const config::ModelConfig& m, const Weights& w) {
  std::vector<TensorToWrite> t;
  for (const auto& s : forecast_slots(m, w)) t.push_back({s.name, s.shape, s.dst});
  write_safetensors(file, t);
}

}  // namespace foresight::runtime

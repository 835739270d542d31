// Real prompts and checkpoint models (see prompts.hpp).
#include "foresight/runtime/prompts.hpp"

#include <fstream>
#include <sstream>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "foresight/config/load.hpp"
#include "foresight/runtime/gguf.hpp"

namespace foresight::runtime {
namespace {

bool is_gguf(const std::filesystem::path& p) {
  return p.extension() == ".gguf" && !std::filesystem::is_directory(p);
}

std::string read_all(const std::filesystem::path& file) {
  if (!std::filesystem::is_regular_file(file))
    throw config::ConfigError(fmt::format("{}: not a readable file", file.string()));
  std::ifstream in(file, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (!in.good() && !in.eof()) throw config::ConfigError(fmt::format("{}: cannot be read", file.string()));
  return ss.str();
}

std::vector<std::int32_t> ids_of(const nlohmann::json& list, const std::string& where, std::int64_t vocab) {
  std::vector<std::int32_t> out;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const auto& v = list[i];
    if (!v.is_number_integer() || v.get<std::int64_t>() < 0 || v.get<std::int64_t>() >= vocab) {
      throw config::ConfigError(fmt::format("{}[{}]: {} is not a token id in [0, {})", where, i, v.dump(), vocab));
    }
    out.push_back(v.get<std::int32_t>());
  }
  if (out.empty()) throw config::ConfigError(fmt::format("{}: an empty prompt", where));
  return out;
}

}  // namespace

config::ModelConfig checkpoint_model(const std::filesystem::path& checkpoint) {
  if (is_gguf(checkpoint)) return model_from_gguf(GgufFile(checkpoint));
  return config::load_model((checkpoint / "config.json").string());
}

std::shared_ptr<const Tokenizer> checkpoint_tokenizer(const std::filesystem::path& checkpoint) {
  if (!is_gguf(checkpoint)) return nullptr;
  return std::make_shared<const Tokenizer>(Tokenizer::from_gguf(GgufFile(checkpoint)));
}

std::vector<std::int32_t> read_prompt_text(const std::filesystem::path& file, const Tokenizer& tokenizer) {
  const std::string text = read_all(file);
  if (text.empty()) throw config::ConfigError(fmt::format("{}: the prompt text is empty", file.string()));
  return tokenizer.encode(text);
}

std::vector<std::vector<std::int32_t>> read_prompt_ids(const std::filesystem::path& file, std::int64_t vocab) {
  const std::string where = file.string();
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_all(file));
  } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number beyond double
    throw config::ConfigError(fmt::format("{}: not JSON ({})", where, e.what()));
  }
  if (!j.is_array() || j.empty())
    throw config::ConfigError(fmt::format("{}: expected a list of token ids or a list of such lists", where));
  if (!j[0].is_array()) return {ids_of(j, where, vocab)};
  std::vector<std::vector<std::int32_t>> out;
  for (std::size_t b = 0; b < j.size(); ++b) {
    if (!j[b].is_array()) throw config::ConfigError(fmt::format("{}[{}]: expected a list of token ids", where, b));
    out.push_back(ids_of(j[b], fmt::format("{}[{}]", where, b), vocab));
  }
  return out;
}

}  // namespace foresight::runtime

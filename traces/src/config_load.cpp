// load_model / load_hardware: resolve a path or a bare name, read TOML or
// JSON, validate. configs_dir() finds the shipped configs/.
#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "config_internal.hpp"
#include "foresight/config/toml.hpp"

namespace foresight::config {

namespace fs = std::filesystem;
using nlohmann::json;

fs::path configs_dir() {
  if (const char* env = std::getenv("FORESIGHT_CONFIGS"); env && *env) return fs::path(env);
#ifdef FORESIGHT_SOURCE_CONFIGS
  {
    std::error_code ec;
    if (fs::is_directory(FORESIGHT_SOURCE_CONFIGS, ec)) return fs::path(FORESIGHT_SOURCE_CONFIGS);
  }
#endif
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return fs::path("configs");
  return exe.parent_path().parent_path() / "configs";
}

namespace {

bool looks_like_path(const std::string& spec) {
  if (spec.find('/') != std::string::npos) return true;
  const std::string ext = fs::path(spec).extension().string();
  if (ext == ".toml" || ext == ".json") return true;
  std::error_code ec;
  return fs::is_regular_file(spec, ec);
}

// A bare name -> configs_dir()/<kind>/<name>.toml, or an error listing names.
fs::path resolve(const std::string& spec, const std::string& kind) {
  if (looks_like_path(spec)) return fs::path(spec);
  const fs::path dir = configs_dir() / kind;
  const fs::path file = dir / (spec + ".toml");
  std::error_code ec;
  if (fs::is_regular_file(file, ec)) return file;
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == ".toml") names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  if (names.empty())
    throw ConfigError(
        fmt::format("unknown {} config '{}': no {}/*.toml found (set FORESIGHT_CONFIGS "
                    "to the configs/ directory, or give a path)",
                    kind == "models" ? "model" : "hardware", spec, dir.string()));
  std::string hint = detail::did_you_mean(spec, names);
  throw ConfigError(fmt::format("unknown {} config '{}'{} (available in {}: {})",
                                kind == "models" ? "model" : "hardware", spec,
                                hint.empty() ? "" : fmt::format(", did you mean '{}'?", hint),
                                dir.string(), fmt::join(names, ", ")));
}

json read_json_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in)
    throw ConfigError(fmt::format("{}: cannot open ({})", file.string(), std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  const std::string s = text.str();
  try {
    return json::parse(s);
  } catch (const json::parse_error& e) {
    // Turn the byte offset into line:column.
    std::size_t line = 1, col = 1;
    for (std::size_t i = 0; i + 1 < e.byte && i < s.size(); ++i) {
      if (s[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    throw ConfigError(
        fmt::format("{}:{}:{}: JSON syntax error: {}", file.string(), line, col, e.what()));
  } catch (const json::exception& e) {  // out_of_range 406: a number beyond double (found by fuzz_config_json)
    throw ConfigError(fmt::format("{}: not valid JSON: {}", file.string(), e.what()));
  }
}

std::string name_for(const fs::path& file) {
  // ".../Llama-3.1-8B/config.json" names the model by its folder.
  if (file.filename() == "config.json" && file.has_parent_path() &&
      !file.parent_path().filename().empty())
    return file.parent_path().filename().string();
  return file.stem().string();
}

}  // namespace

ModelConfig load_model(const std::string& spec) {
  const fs::path file = resolve(spec, "models");
  const std::string where = file.string();
  if (file.extension() == ".json") {
    json j = read_json_file(file);
    if (j.is_object() && j.contains("num_hidden_layers"))
      return detail::model_from_hf(j, where, name_for(file));
    detail::Fields f(j, where, "");
    return detail::model_from_fields(f, name_for(file));
  }
  json j = read_toml_file(file);
  detail::Fields f(j, where, "");
  return detail::model_from_fields(f, file.stem().string());
}

HardwareConfig load_hardware(const std::string& spec) {
  const fs::path file = resolve(spec, "hardware");
  const std::string where = file.string();
  json j = file.extension() == ".json" ? read_json_file(file) : read_toml_file(file);
  detail::Fields f(j, where, "");
  return detail::hardware_from_fields(f, file.stem().string());
}

}  // namespace foresight::config

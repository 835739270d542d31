// The only file that includes toml++ (slow to compile): reads TOML and
// converts it to JSON (see config/toml.hpp).
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "foresight/config/load.hpp"
#include "foresight/config/toml.hpp"

namespace foresight::config {

using nlohmann::json;

namespace {
json to_json_node(const toml::node& n, const std::string& where, const std::string& path) {
  switch (n.type()) {
    case toml::node_type::table: {
      json out = json::object();
      for (auto&& [k, v] : *n.as_table()) {
        std::string key(k.str());
        out[key] = to_json_node(v, where, path.empty() ? key : path + "." + key);
      }
      return out;
    }
    case toml::node_type::array: {
      json out = json::array();
      std::size_t i = 0;
      for (auto&& v : *n.as_array())
        out.push_back(to_json_node(v, where, fmt::format("{}[{}]", path, i++)));
      return out;
    }
    case toml::node_type::string:
      return n.as_string()->get();
    case toml::node_type::integer:
      return n.as_integer()->get();
    case toml::node_type::floating_point:
      return n.as_floating_point()->get();
    case toml::node_type::boolean:
      return n.as_boolean()->get();
    default: {
      const auto& src = n.source().begin;
      throw ConfigError(fmt::format("{}:{}:{}: '{}' is a date or time, which no config key takes",
                                    where, src.line, src.column, path));
    }
  }
}
}  // namespace

json parse_toml(const std::string& text, const std::string& where) {
  try {
    toml::table tbl = toml::parse(text, where);
    return to_json_node(tbl, where, "");
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    throw ConfigError(
        fmt::format("{}:{}:{}: TOML syntax error: {}", where, b.line, b.column, e.description()));
  }
}

json read_toml_file(const std::filesystem::path& file) {
  const std::string where = file.string();
  std::ifstream in(file, std::ios::binary);
  if (!in) throw ConfigError(fmt::format("{}: cannot open ({})", where, std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  return parse_toml(text.str(), where);
}

}  // namespace foresight::config

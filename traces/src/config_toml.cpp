// The only file that includes toml++ (slow to compile): reads TOML and
// converts it to JSON (see config/toml.hpp).
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include <fmt/format.h>
#include <toml++/toml.h>

#include "foresight/config/load.hpp"
#include "foresight/config/toml.hpp"

namespace foresight::config {

using nlohmann::json;

namespace {

// The code point of the UTF-8 sequence at text[i] (its lead byte >= 0x80)
// and its length in bytes; 0xFFFD and 1 when malformed (toml++ then reports
// the bad UTF-8 itself).
std::pair<char32_t, std::size_t> code_point_at(const std::string& text, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(k < text.size() ? text[k] : 0); };
  const unsigned char c = b(i);
  const int n = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : -1;
  if (n < 0) return {0xFFFD, 1};
  char32_t cp = c & (0x3F >> n);
  for (int k = 1; k <= n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return {0xFFFD, 1};
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  return {cp, static_cast<std::size_t>(n) + 1};
}

// The code points toml++ 3.3 (Debian 12's) cannot test for whitespace:
// is_non_ascii_horizontal_whitespace() reaches __builtin_unreachable()
// (undefined behaviour) for them. Found by tests/fuzz (fuzz_study,
// fuzz_config_toml).
bool tomlpp_unsafe(char32_t c) {
  return (c >= 0xA1 && c <= 0x499) || (c >= 0x2C5E && c <= 0x3057 && c != 0x3000) || (c >= 0xFB26 && c <= 0xFEFE);
}

// `text` made safe for toml++ 3.3, which tests characters for whitespace
// wherever it scans (outside strings, in a bare value it is reading, after a
// backslash in a multi-line string, ...). No code point of tomlpp_unsafe()
// reaches it raw: in a "basic" string it becomes the same character's
// \uXXXX escape; in a comment, '?' (comments are dropped); anywhere else
// (outside strings, where TOML 1.0 allows only ASCII, in a 'literal'
// string, or escaped by a backslash) it is refused, naming its line and
// column. Whatever this scan makes of malformed TOML, the property holds,
// because every state handles such a code point.
std::string safe_for_tomlpp(const std::string& text, const std::string& where) {
  enum class In { code, comment, basic, literal, ml_basic, ml_literal } in = In::code;
  std::string out;
  out.reserve(text.size());
  std::size_t line = 1, line_start = 0;
  const auto refuse = [&](std::size_t i, char32_t cp, const char* what) {
    throw ConfigError(fmt::format("{}:{}:{}: TOML syntax error: character U+{:04X} {}", where, line,
                                  i - line_start + 1, static_cast<std::uint32_t>(cp), what));
  };
  const auto starts = [&](std::size_t i, const char* s) { return text.compare(i, std::strlen(s), s) == 0; };
  std::size_t i = starts(0, "\xEF\xBB\xBF") ? 3 : 0;  // a UTF-8 byte order mark, which toml++ skips
  out.append(text, 0, i);
  bool escaped = false;  // the previous character was a backslash inside a basic string
  while (i < text.size()) {
    const char c = text[i];
    if (static_cast<unsigned char>(c) >= 0x80) {
      const auto [cp, n] = code_point_at(text, i);
      if (in == In::code) refuse(i, cp, "outside a string or comment; TOML allows only ASCII there");
      if (tomlpp_unsafe(cp)) {
        if (escaped) refuse(i, cp, "after a backslash: not an escape sequence");
        if (in == In::literal || in == In::ml_literal)
          refuse(i, cp, "in a 'literal' string, which this TOML reader cannot take: write it in a \"basic\" string");
        out += in == In::comment ? std::string("?") : fmt::format("\\u{:04X}", static_cast<std::uint32_t>(cp));
      } else {
        out.append(text, i, n);
      }
      escaped = false;
      i += n;
      continue;
    }
    if (c == '\n') {
      ++line;
      line_start = i + 1;
    }
    std::size_t n = 1;
    const bool was_escaped = escaped;
    escaped = false;
    switch (in) {
      case In::code:
        if (c == '#') in = In::comment;
        else if (starts(i, "\"\"\"")) in = In::ml_basic, n = 3;
        else if (starts(i, "'''")) in = In::ml_literal, n = 3;
        else if (c == '"') in = In::basic;
        else if (c == '\'') in = In::literal;
        break;
      case In::comment:
        if (c == '\n') in = In::code;
        break;
      case In::basic:
        if (was_escaped) break;
        if (c == '\\') escaped = true;
        else if (c == '"' || c == '\n') in = In::code;
        break;
      case In::literal:
        if (c == '\'' || c == '\n') in = In::code;
        break;
      case In::ml_basic:
        if (was_escaped) break;
        if (c == '\\') escaped = true;
        else if (starts(i, "\"\"\"")) in = In::code, n = 3;
        break;
      case In::ml_literal:
        if (starts(i, "'''")) in = In::code, n = 3;
        break;
    }
    out.append(text, i, n);
    i += n;
  }
  return out;
}

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
  const std::string safe = safe_for_tomlpp(text, where);
  try {
    toml::table tbl = toml::parse(safe, where);
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

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

// The code point of the UTF-8 sequence at text[i] (its lead byte >= 0x80);
// 0xFFFD when malformed (toml++ then reports the bad UTF-8 itself).
char32_t code_point_at(const std::string& text, std::size_t i) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(k < text.size() ? text[k] : 0); };
  const unsigned char c = b(i);
  const int n = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : -1;
  if (n < 0) return 0xFFFD;
  char32_t cp = c & (0x3F >> n);
  for (int k = 1; k <= n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0xFFFD;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  return cp;
}

// toml++ 3.3 (Debian 12's) asks whether a character is whitespace only
// outside strings and comments, and after a backslash in a multi-line basic
// string; for many non-ASCII code points (U+00A1-U+0499, U+2E5E-U+3257,
// U+FBE6-U+FEFE) that test reaches __builtin_unreachable(): undefined
// behaviour, found by tests/fuzz (fuzz_study, fuzz_config_toml). TOML 1.0
// allows only ASCII in those places anyway, so any non-ASCII character
// there is refused here, naming its line and column, before toml++ sees the
// text. Inside strings and comments non-ASCII text is untouched.
void refuse_non_ascii_outside_strings(const std::string& text, const std::string& where) {
  enum class In { code, comment, basic, literal, ml_basic, ml_literal } in = In::code;
  std::size_t line = 1, line_start = 0;
  const auto at = [&](std::size_t i, const char* what) {
    throw ConfigError(fmt::format("{}:{}:{}: TOML syntax error: character U+{:04X} {}; TOML allows only ASCII "
                                  "there (write it inside a string)",
                                  where, line, i - line_start + 1, static_cast<std::uint32_t>(code_point_at(text, i)),
                                  what));
  };
  const auto starts = [&](std::size_t i, const char* s) { return text.compare(i, std::strlen(s), s) == 0; };
  const std::size_t bom = starts(0, "\xEF\xBB\xBF") ? 3 : 0;  // a UTF-8 byte order mark, which toml++ skips
  for (std::size_t i = bom; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') {
      ++line;
      line_start = i + 1;
    }
    switch (in) {
      case In::code:
        if (static_cast<unsigned char>(c) >= 0x80) at(i, "outside a string or comment");
        if (c == '#') in = In::comment;
        else if (starts(i, "\"\"\"")) in = In::ml_basic, i += 2;
        else if (starts(i, "'''")) in = In::ml_literal, i += 2;
        else if (c == '"') in = In::basic;
        else if (c == '\'') in = In::literal;
        break;
      case In::comment:
        if (c == '\n') in = In::code;
        break;
      case In::basic:
        if (c == '\\') ++i;  // an escape: the next character is not the end
        else if (c == '"' || c == '\n') in = In::code;
        break;
      case In::literal:
        if (c == '\'' || c == '\n') in = In::code;
        break;
      case In::ml_basic:
        if (c == '\\') {
          // toml++ tests the next character, and after a line-ending
          // backslash the first one after the whitespace, for whitespace.
          std::size_t j = i + 1;
          while (j < text.size() && (text[j] == ' ' || text[j] == '\t' || text[j] == '\r' || text[j] == '\n')) {
            if (text[j] == '\n') {
              ++line;
              line_start = j + 1;
            }
            ++j;
          }
          if (j < text.size() && static_cast<unsigned char>(text[j]) >= 0x80)
            at(j, "after a backslash in a multi-line string");
          i = j == i + 1 ? j : j - 1;  // past an escaped character; before the first after whitespace
        } else if (starts(i, "\"\"\"")) {
          in = In::code, i += 2;
        }
        break;
      case In::ml_literal:
        if (starts(i, "'''")) in = In::code, i += 2;
        break;
    }
  }
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
  refuse_non_ascii_outside_strings(text, where);
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

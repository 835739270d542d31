// A tiny XML well-formedness check for the SVG the report writes: tags
// balanced and properly nested, attributes quoted, no raw '<' or stray '&'
// in text. Returns "" when well-formed, else what is wrong and where.
#pragma once

#include <cctype>
#include <string>
#include <vector>

namespace foresight::test {

inline std::string xml_problem(const std::string& s) {
  std::vector<std::string> stack;
  std::size_t i = 0;
  auto where = [&](std::size_t at) { return " at offset " + std::to_string(at); };
  while (i < s.size()) {
    if (s[i] == '&') {
      const auto semi = s.find(';', i);
      if (semi == std::string::npos || semi - i > 6) return "stray '&'" + where(i);
      i = semi + 1;
      continue;
    }
    if (s[i] != '<') { ++i; continue; }
    const std::size_t start = i;
    if (s.compare(i, 4, "<!--") == 0) {
      const auto e = s.find("-->", i);
      if (e == std::string::npos) return "unclosed comment" + where(i);
      i = e + 3;
      continue;
    }
    const bool closing = i + 1 < s.size() && s[i + 1] == '/';
    i += closing ? 2 : 1;
    std::string name;
    while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '-' ||
                            s[i] == ':' || s[i] == '_'))
      name += s[i++];
    if (name.empty()) return "tag without a name" + where(start);
    bool self_closing = false;
    while (true) {
      while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
      if (i >= s.size()) return "unterminated tag <" + name + where(start);
      if (s[i] == '>') { ++i; break; }
      if (s[i] == '/' && i + 1 < s.size() && s[i + 1] == '>') { self_closing = true; i += 2; break; }
      if (closing) return "attributes on a closing tag" + where(i);
      std::string attr;
      while (i < s.size() && (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '-' ||
                              s[i] == ':' || s[i] == '_'))
        attr += s[i++];
      if (attr.empty()) return "bad attribute in <" + name + ">" + where(i);
      if (i >= s.size() || s[i] != '=') return "attribute " + attr + " without a value" + where(i);
      ++i;
      if (i >= s.size() || (s[i] != '"' && s[i] != '\'')) return "unquoted attribute " + attr + where(i);
      const char q = s[i];
      const auto e = s.find(q, i + 1);
      if (e == std::string::npos) return "unterminated attribute " + attr + where(i);
      if (s.substr(i + 1, e - i - 1).find('<') != std::string::npos)
        return "'<' inside attribute " + attr + where(i);
      i = e + 1;
    }
    if (closing) {
      if (stack.empty() || stack.back() != name)
        return "</" + name + "> does not close <" + (stack.empty() ? "" : stack.back()) + ">" +
               where(start);
      stack.pop_back();
    } else if (!self_closing) {
      stack.push_back(name);
    }
  }
  if (!stack.empty()) return "unclosed <" + stack.back() + ">";
  return "";
}

}  // namespace foresight::test

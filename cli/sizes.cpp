// Token counts on the command line (see sizes.hpp).
#include "sizes.hpp"

#include <sstream>

#include <fmt/core.h>

#include "foresight/config/load.hpp"

namespace foresight::cli {

std::int64_t parse_tokens(const std::string& s, const std::string& option) {
  const auto bad = [&] {
    return config::ConfigError(fmt::format("{} '{}': expected a token count such as 4096, 32K or 128Ki", option, s));
  };
  std::size_t pos = 0;
  long long v = 0;
  try {
    v = std::stoll(s, &pos);
  } catch (const std::exception&) {
    throw bad();
  }
  const std::string unit = s.substr(pos);
  std::int64_t mult = 1;
  if (unit == "K" || unit == "k" || unit == "Ki") mult = 1024;
  else if (!unit.empty()) throw bad();
  if (v <= 0) throw config::ConfigError(fmt::format("{} '{}': must be positive", option, s));
  if (v > (std::int64_t{1} << 40) / mult) throw config::ConfigError(fmt::format("{} '{}': too large", option, s));
  return v * mult;
}

std::vector<std::int64_t> parse_token_list(const std::string& s, const std::string& option) {
  std::vector<std::int64_t> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) v.push_back(parse_tokens(item, option));
  if (v.empty()) throw config::ConfigError(fmt::format("{}: no token count given", option));
  return v;
}

CLI::Validator tokens_transform() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        try {
          s = std::to_string(parse_tokens(s, "value"));
        } catch (const config::ConfigError& e) {
          return e.what();
        }
        return {};
      },
      "TOKENS (4096, 32K = 32768)", "tokens");
}

}  // namespace foresight::cli

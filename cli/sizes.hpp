// Token counts on the command line, the same on every command: "4096",
// "32K", "32k" or "32Ki" (K = 1024 tokens); comma lists of them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace foresight::cli {

// Throws config::ConfigError naming `option` for anything else or <= 0.
std::int64_t parse_tokens(const std::string& s, const std::string& option);
std::vector<std::int64_t> parse_token_list(const std::string& s, const std::string& option);

// A CLI11 transform that rewrites a token count to plain digits (so an
// integer option accepts "32K").
CLI::Validator tokens_transform();

}  // namespace foresight::cli

// TOML to JSON, the one place TOML is read (model and hardware configs,
// study files): tables become objects, arrays arrays, scalars JSON scalars,
// so every reader checks one form. Errors are config::ConfigError:
// "<where>:<line>:<column>: TOML syntax error: ..." or a date/time value
// (no key takes one), named by its key path.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace foresight::config {

nlohmann::json parse_toml(const std::string& text, const std::string& where);
// Reads and parses a file; `where` in messages is the path. A missing file
// is a ConfigError naming it.
nlohmann::json read_toml_file(const std::filesystem::path& file);

}  // namespace foresight::config

// Private to the config loaders: a checked reader over one JSON object (TOML
// files are converted to JSON first, so both forms share every check), and
// the per-type validators. Errors name the source (`where`) and the key path.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <array>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "foresight/common/text.hpp"
#include "foresight/config/load.hpp"

namespace foresight::config::detail {

using common::did_you_mean;  // foresight/common/text.hpp
// "string", "integer", "float", "boolean", "table", "array" or "null".
std::string kind_name(const nlohmann::json& v);

[[noreturn]] void fail(const std::string& where, const std::string& path, const std::string& what);

// Name of an enum value in a (value, name) table; "?" when absent.
template <class E, std::size_t N>
const char* name_of(const std::array<std::pair<E, const char*>, N>& table, E e) {
  for (const auto& [v, n] : table)
    if (v == e) return n;
  return "?";
}

// The value named `s`; throws ConfigError naming `field`, with a did-you-mean.
template <class E, std::size_t N>
E parse_name(const std::array<std::pair<E, const char*>, N>& table, const std::string& s,
             const std::string& field) {
  std::vector<std::string> names;
  for (const auto& [v, n] : table) {
    if (s == n) return v;
    names.emplace_back(n);
  }
  std::string hint = did_you_mean(s, names);
  throw ConfigError(fmt::format("{}: unknown value '{}'{} (one of: {})", field, s,
                                hint.empty() ? "" : fmt::format(", did you mean '{}'?", hint),
                                fmt::join(names, ", ")));
}

// Reads the fields of one table. Every key asked for (present or not) is
// remembered as known; finish() rejects any other key with a did-you-mean.
class Fields {
 public:
  Fields(const nlohmann::json& obj, std::string where, std::string prefix);

  std::string path(const std::string& key) const { return prefix_ + key; }
  [[noreturn]] void fail(const std::string& key, const std::string& what) const;

  bool has(const std::string& key);
  std::int64_t integer(const std::string& key);
  std::int64_t integer(const std::string& key, std::int64_t fallback);
  std::uint64_t unsigned_integer(const std::string& key);
  double number(const std::string& key);  // integer or float, finite
  double number(const std::string& key, double fallback);
  bool boolean(const std::string& key);
  bool boolean(const std::string& key, bool fallback);
  std::string string(const std::string& key);
  std::string string(const std::string& key, const std::string& fallback);
  std::vector<std::int64_t> integers(const std::string& key);
  std::vector<double> numbers(const std::string& key);
  // A sub-table; an absent optional one reads as empty (all defaults).
  Fields table(const std::string& key, bool required);
  // The raw value (must exist); marks the key known.
  const nlohmann::json& raw(const std::string& key);

  // Remembers a finished sub-table's keys, so an unknown key here that
  // belongs there is suggested ("did you mean 'sparse.topk_blocks'?").
  void adopt(const Fields& child);
  void finish() const;
  const std::string& where() const { return where_; }

 private:
  const nlohmann::json* find(const std::string& key);
  const nlohmann::json& require(const std::string& key);

  const nlohmann::json* obj_;
  std::string where_;
  std::string prefix_;
  std::vector<std::string> known_;
  std::vector<std::pair<std::string, std::string>> nested_;  // (leaf key, path from here)
};

// Range and consistency checks (types are checked while reading).
void validate_model(const ModelConfig& m, const std::string& where);
void validate_dsa(const ModelConfig& m, const std::string& where);
void validate_hardware(const HardwareConfig& h, const std::string& where);
void validate_run_alone(const RunConfig& r, const std::string& where);

// Readers over the canonical layout; `fallback_name` is used when the
// document has no `name` (TOML files default to their file stem).
ModelConfig model_from_fields(Fields& f, const std::string& fallback_name);
HardwareConfig hardware_from_fields(Fields& f, const std::string& fallback_name);

// A Hugging Face config.json (already parsed); unknown HF keys are ignored.
ModelConfig model_from_hf(const nlohmann::json& j, const std::string& where,
                          const std::string& name);

}  // namespace foresight::config::detail

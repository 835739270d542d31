// Checked field access shared by every config reader: types, unknown keys
// with a did-you-mean, messages of the form "<where>: '<key.path>' ...".
#include <algorithm>
#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "config_internal.hpp"

namespace foresight::config::detail {

using nlohmann::json;

std::string kind_name(const json& v) {
  switch (v.type()) {
    case json::value_t::string:
      return "string";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "integer";
    case json::value_t::number_float:
      return "float";
    case json::value_t::boolean:
      return "boolean";
    case json::value_t::object:
      return "table";
    case json::value_t::array:
      return "array";
    case json::value_t::null:
      return "null";
    default:
      return "unsupported value";
  }
}

void fail(const std::string& where, const std::string& path, const std::string& what) {
  throw ConfigError(fmt::format("{}: '{}' {}", where, path, what));
}

Fields::Fields(const json& obj, std::string where, std::string prefix)
    : obj_(&obj), where_(std::move(where)), prefix_(std::move(prefix)) {
  if (!obj.is_object()) {
    if (prefix_.empty())
      throw ConfigError(
          fmt::format("{}: expected a table at the top level, got {}", where_, kind_name(obj)));
    detail::fail(where_, prefix_.substr(0, prefix_.size() - 1),
                 "must be a table, got " + kind_name(obj));
  }
}

void Fields::fail(const std::string& key, const std::string& what) const {
  detail::fail(where_, path(key), what);
}

const json* Fields::find(const std::string& key) {
  if (std::find(known_.begin(), known_.end(), key) == known_.end()) known_.push_back(key);
  auto it = obj_->find(key);
  return it == obj_->end() ? nullptr : &*it;
}

const json& Fields::require(const std::string& key) {
  const json* v = find(key);
  if (!v) fail(key, "is required but missing");
  return *v;
}

bool Fields::has(const std::string& key) { return find(key) != nullptr; }

const json& Fields::raw(const std::string& key) { return require(key); }

namespace {
std::int64_t as_int64(const json& v, const Fields& f, const std::string& key) {
  if (v.is_number_unsigned()) {
    if (v.get<std::uint64_t>() >
        static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      f.fail(key, "is too large for a 64-bit signed integer");
    return static_cast<std::int64_t>(v.get<std::uint64_t>());
  }
  if (v.is_number_integer()) return v.get<std::int64_t>();
  f.fail(key, "must be an integer, got " + kind_name(v));
}

double as_double(const json& v, const Fields& f, const std::string& key) {
  if (!v.is_number()) f.fail(key, "must be a number, got " + kind_name(v));
  double d = v.get<double>();
  if (!std::isfinite(d)) f.fail(key, "must be finite");
  return d;
}
}  // namespace

std::int64_t Fields::integer(const std::string& key) { return as_int64(require(key), *this, key); }
std::int64_t Fields::integer(const std::string& key, std::int64_t fallback) {
  const json* v = find(key);
  return v ? as_int64(*v, *this, key) : fallback;
}

std::uint64_t Fields::unsigned_integer(const std::string& key) {
  const json& v = require(key);
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer()) {
    if (v.get<std::int64_t>() < 0) fail(key, "must be non-negative");
    return static_cast<std::uint64_t>(v.get<std::int64_t>());
  }
  fail(key, "must be an integer, got " + kind_name(v));
}

double Fields::number(const std::string& key) { return as_double(require(key), *this, key); }
double Fields::number(const std::string& key, double fallback) {
  const json* v = find(key);
  return v ? as_double(*v, *this, key) : fallback;
}

bool Fields::boolean(const std::string& key) {
  const json& v = require(key);
  if (!v.is_boolean()) fail(key, "must be a boolean, got " + kind_name(v));
  return v.get<bool>();
}
bool Fields::boolean(const std::string& key, bool fallback) {
  return has(key) ? boolean(key) : fallback;
}

std::string Fields::string(const std::string& key) {
  const json& v = require(key);
  if (!v.is_string()) fail(key, "must be a string, got " + kind_name(v));
  return v.get<std::string>();
}
std::string Fields::string(const std::string& key, const std::string& fallback) {
  return has(key) ? string(key) : fallback;
}

std::vector<std::int64_t> Fields::integers(const std::string& key) {
  const json& v = require(key);
  if (!v.is_array()) fail(key, "must be an array of integers, got " + kind_name(v));
  std::vector<std::int64_t> out;
  for (std::size_t i = 0; i < v.size(); ++i)
    out.push_back(as_int64(v[i], *this, fmt::format("{}[{}]", key, i)));
  return out;
}

std::vector<double> Fields::numbers(const std::string& key) {
  const json& v = require(key);
  if (!v.is_array()) fail(key, "must be an array of numbers, got " + kind_name(v));
  std::vector<double> out;
  for (std::size_t i = 0; i < v.size(); ++i)
    out.push_back(as_double(v[i], *this, fmt::format("{}[{}]", key, i)));
  return out;
}

Fields Fields::table(const std::string& key, bool required) {
  static const json empty = json::object();
  const json* v = find(key);
  if (!v) {
    if (required) fail(key, "is required but missing");
    v = &empty;
  }
  return Fields(*v, where_, path(key) + ".");
}

void Fields::adopt(const Fields& child) {
  const std::string rel = child.prefix_.substr(prefix_.size());
  for (const auto& k : child.known_) nested_.emplace_back(k, rel + k);
  for (const auto& [leaf, p] : child.nested_) nested_.emplace_back(leaf, rel + p);
}

void Fields::finish() const {
  for (auto it = obj_->begin(); it != obj_->end(); ++it) {
    if (std::find(known_.begin(), known_.end(), it.key()) != known_.end()) continue;
    std::string hint = did_you_mean(it.key(), known_);
    if (hint.empty()) {
      // A key that belongs in a sub-table: suggest only an exact leaf match.
      for (const auto& [leaf, p] : nested_)
        if (leaf == it.key()) hint = p;
    }
    throw ConfigError(
        fmt::format("{}: unknown key '{}'{}", where_, path(it.key()),
                    hint.empty() ? "" : fmt::format(" (did you mean '{}'?)", path(hint))));
  }
}

}  // namespace foresight::config::detail

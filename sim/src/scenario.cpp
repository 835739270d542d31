// Scenario keys, parsing and labels (see scenario.hpp).
#include "foresight/sim/scenario.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/core.h>

#include "foresight/common/text.hpp"
#include "foresight/config/load.hpp"

namespace foresight::sim {

const std::vector<std::string>& scenario_keys() {
  static const std::vector<std::string> keys = {"hardware", "pcie_gbps",    "gather_ctas",
                                                "compute_scale", "cache_blocks", "policy",
                                                "prefetch", "mode",         "batch",
                                                "context",  "seed"};
  return keys;
}

const std::vector<std::string>& scenario_option_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    for (std::string k : scenario_keys()) {
      std::replace(k.begin(), k.end(), '_', '-');
      out.push_back(k);
    }
    return out;
  }();
  return names;
}

std::string scenario_field(const std::string& name) {
  std::string field = name;
  std::replace(field.begin(), field.end(), '-', '_');
  const auto& keys = scenario_keys();
  return std::find(keys.begin(), keys.end(), field) != keys.end() ? field : name;
}

namespace {
[[noreturn]] void bad(const std::string& where, const std::string& key, const std::string& msg) {
  throw std::invalid_argument(fmt::format("{}: {}: {}", where, key, msg));
}
double number(const nlohmann::json& v, const std::string& where, const std::string& key) {
  if (!v.is_number()) bad(where, key, "must be a number, got " + v.dump());
  return v.get<double>();
}
std::int64_t integer(const nlohmann::json& v, const std::string& where, const std::string& key,
                     std::int64_t lo, std::int64_t hi) {
  if (!v.is_number_integer()) bad(where, key, "must be an integer, got " + v.dump());
  const auto x = v.get<std::int64_t>();
  if (x < lo || x > hi) bad(where, key, fmt::format("must be in [{}, {}], got {}", lo, hi, x));
  return x;
}
std::string text(const nlohmann::json& v, const std::string& where, const std::string& key) {
  if (!v.is_string()) bad(where, key, "must be a string, got " + v.dump());
  return v.get<std::string>();
}
}  // namespace

void set_scenario_key(Scenario& s, const std::string& name, const nlohmann::json& v,
                      const std::string& where) {
  const std::string key = scenario_field(name);  // messages use the spelling given
  if (key == "hardware") {
    s.hardware = text(v, where, name);
  } else if (key == "pcie_gbps") {
    const double x = number(v, where, name);
    if (!(x > 0 && x <= 10000)) bad(where, name, fmt::format("must be in (0, 10000] GB/s, got {}", x));
    s.pcie_gbps = x;
  } else if (key == "gather_ctas") {
    s.gather_ctas = integer(v, where, name, 1, 1024);
  } else if (key == "compute_scale") {
    const double x = number(v, where, name);
    if (!(x > 0 && x <= 1000)) bad(where, name, fmt::format("must be in (0, 1000], got {}", x));
    s.compute_scale = x;
  } else if (key == "cache_blocks") {
    s.cache_blocks = integer(v, where, name, 1, std::int64_t{1} << 30);
  } else if (key == "policy") {
    try {
      s.policy = config::parse_eviction(text(v, where, name), where + ": " + name);
    } catch (const config::ConfigError& e) {
      throw std::invalid_argument(e.what());
    }
  } else if (key == "prefetch") {
    try {
      s.prefetch = config::parse_prefetch(text(v, where, name), where + ": " + name);
    } catch (const config::ConfigError& e) {
      throw std::invalid_argument(e.what());
    }
  } else if (key == "mode") {
    try {
      s.mode = config::parse_mode(text(v, where, name), where + ": " + name);
    } catch (const config::ConfigError& e) {
      throw std::invalid_argument(e.what());
    }
  } else if (key == "batch") {
    s.batch = integer(v, where, name, 1, 65536);
  } else if (key == "context") {
    s.context = integer(v, where, name, 1, std::int64_t{1} << 40);
  } else if (key == "seed") {
    s.seed = static_cast<std::uint64_t>(integer(v, where, name, 0, INT64_MAX));
  } else {
    const std::string hint = common::did_you_mean(name, scenario_option_names());
    bad(where, name,
        "unknown key" + (hint.empty() ? std::string() : " (did you mean '" + hint + "'?)") +
            "; known keys: hardware, pcie-gbps, gather-ctas, compute-scale, cache-blocks, policy, "
            "prefetch, mode, batch, context, seed");
  }
}

nlohmann::json to_json(const Scenario& s) {
  nlohmann::json j = nlohmann::json::object();
  if (s.hardware) j["hardware"] = *s.hardware;
  if (s.pcie_gbps) j["pcie_gbps"] = *s.pcie_gbps;
  if (s.gather_ctas) j["gather_ctas"] = *s.gather_ctas;
  if (s.compute_scale != 1.0) j["compute_scale"] = s.compute_scale;
  if (s.cache_blocks) j["cache_blocks"] = *s.cache_blocks;
  if (s.policy) j["policy"] = config::to_string(*s.policy);
  if (s.prefetch) j["prefetch"] = config::to_string(*s.prefetch);
  if (s.mode) j["mode"] = config::to_string(*s.mode);
  if (s.batch) j["batch"] = *s.batch;
  if (s.context) j["context"] = *s.context;
  if (s.seed != 1) j["seed"] = s.seed;
  return j;
}

std::string scenario_label(const Scenario& s) {
  const nlohmann::json j = to_json(s);
  std::string out;
  for (const auto& k : scenario_keys()) {
    if (!j.contains(k)) continue;
    if (!out.empty()) out += ',';
    out += k + "=" + (j[k].is_string() ? j[k].get<std::string>() : j[k].dump());
  }
  return out.empty() ? "baseline" : out;
}

}  // namespace foresight::sim

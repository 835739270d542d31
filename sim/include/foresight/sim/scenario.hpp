// A what-if scenario: the options of `foresight replay` and the keys of a
// sweep study. Unset options keep the trace's recorded value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "foresight/config/run.hpp"

namespace foresight::sim {

struct Scenario {
  std::optional<double> pcie_gbps;          // PCIe H2D ceiling, GB/s; curves scaled to it
  std::optional<std::string> hardware;      // another hardware config (name or path)
  std::optional<std::int64_t> gather_ctas;  // CTAs of the zero-copy gather kernel
  double compute_scale = 1.0;               // compute ops run this many times faster
  std::optional<std::int64_t> cache_blocks; // GPU slots per (layer, KV head) incl. tail
  std::optional<config::Eviction> policy;   // eviction policy of those slots
  std::optional<config::Prefetch> prefetch; // offload modes: none or lookahead
  // Another selecting mode (sparse-offload <-> sparda, ...): the recorded
  // selections stand in for the new mode's (a query's for a Forecast's).
  std::optional<config::Mode> mode;
  std::optional<std::int64_t> batch;        // sequences (selection streams resampled)
  std::optional<std::int64_t> context;      // context tokens per sequence
  std::uint64_t seed = 1;                   // resampling seed for --batch
};

// Field names of a scenario in outputs (scenario.json, results.csv and
// results.json columns), in column order: "pcie_gbps", "gather_ctas", ...
const std::vector<std::string>& scenario_keys();
// The same names spelled as the CLI options (and study keys): "pcie-gbps", ...
const std::vector<std::string>& scenario_option_names();
// The field name of `name` in either spelling ("pcie-gbps" -> "pcie_gbps");
// any other name is returned unchanged.
std::string scenario_field(const std::string& name);

// Sets key `name` (either spelling) from a JSON value (number or string);
// throws std::invalid_argument naming `where` and the key as spelled, with a
// did-you-mean for unknown keys, or the allowed range for impossible values.
void set_scenario_key(Scenario& s, const std::string& name, const nlohmann::json& value,
                      const std::string& where);

// The keys that are set, as an object (stable order of scenario_keys()).
nlohmann::json to_json(const Scenario& s);

// "key=value,key=value" of the set keys; "baseline" when none is set.
std::string scenario_label(const Scenario& s);

}  // namespace foresight::sim

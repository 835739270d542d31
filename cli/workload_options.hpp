// The workload-model options, the same on every command that synthesizes
// block selections (synth, run --selections workload): a named preset
// (config::workload_preset) and per-parameter overrides.
#pragma once

#include <limits>
#include <string>

#include <CLI/CLI.hpp>

#include "foresight/config/run.hpp"

namespace foresight::cli {

struct WorkloadOptions {
  static constexpr double kUnset = std::numeric_limits<double>::quiet_NaN();
  std::string preset;  // empty: the mode's (config::default_workload_preset)
  double reuse = kUnset, cross_layer = kUnset, zipf = kUnset;  // NaN: the preset's

  // The preset (or `mode`'s default) with the given overrides; throws
  // config::ConfigError naming the option.
  config::WorkloadConfig resolve(config::Mode mode) const;
  // Adds --workload, --reuse, --cross-layer and --zipf to `sub`.
  void add_to(CLI::App* sub);
};

}  // namespace foresight::cli

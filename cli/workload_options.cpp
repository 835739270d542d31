// Workload-model options (see workload_options.hpp).
#include "workload_options.hpp"

#include <cmath>

#include <fmt/core.h>

namespace foresight::cli {

config::WorkloadConfig WorkloadOptions::resolve(config::Mode mode) const {
  config::WorkloadConfig w =
      config::workload_preset(preset.empty() ? config::default_workload_preset(mode) : preset, "--workload");
  if (!std::isnan(reuse)) w.reuse = reuse;
  if (!std::isnan(cross_layer)) w.cross_layer = cross_layer;
  if (!std::isnan(zipf)) w.zipf_s = zipf;
  return w;
}

void WorkloadOptions::add_to(CLI::App* sub) {
  const config::WorkloadConfig d;
  std::string names;
  for (const auto& n : config::workload_preset_names()) names += (names.empty() ? "" : ", ") + n;
  sub->add_option("--workload", preset,
                  fmt::format("Workload-model preset ({}): smollm2-8k is measured on a real model, assumed is the "
                              "earlier 0.85/0.7 assumption, dsa-public the DSA token streams' public figures; "
                              "docs/workload-model.md (default: dsa-public for dsa modes, else smollm2-8k)", names));
  sub->add_option("--reuse", reuse,
                  fmt::format("Workload: share of a step's free picks kept at the next step, in [0,1] (default: the "
                              "preset's, {})", d.reuse));
  sub->add_option("--cross-layer", cross_layer,
                  fmt::format("Workload: share of fresh picks also selected by the layer below, in [0,1] (default: "
                              "the preset's, {})", d.cross_layer));
  sub->add_option("--zipf", zipf,
                  fmt::format("Workload: Zipf exponent of block popularity for fresh picks, >= 0 (default: the "
                              "preset's, {})", d.zipf_s));
}

}  // namespace foresight::cli

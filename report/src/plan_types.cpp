// Memory totals of the plan data model, and a plan point resolved to a run.
#include "foresight/report/plan_types.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>

#include <fmt/core.h>

namespace foresight::report {

namespace {
std::int64_t sum(const std::vector<BytePart>& parts) {
  std::int64_t total = 0;
  for (const auto& [name, bytes] : parts) total += bytes;
  return total;
}

// Footprint category -> the report's label ("kv_working_set" -> "KV working set").
std::string memory_label(const std::string& category) {
  static const std::map<std::string, std::string> names = {
      {"weights", "weights"},
      {"kv_full", "KV cache"},
      {"kv_working_set", "KV working set"},
      {"kv_layer0", "KV layer 0"},
      {"kv_prefill_staging", "prefill staging"},
      {"prefill_sparse", "sparse prefill layout"},
      {"compressed_keys", "compressed keys"},
      {"selection", "block selection"},
      {"activations", "activations"},
      {"workspace", "workspace"}};
  auto it = names.find(category);
  return it == names.end() ? category : it->second;
}
}  // namespace

std::int64_t ScenarioMetrics::gpu_bytes() const { return sum(gpu_parts); }
std::int64_t ScenarioMetrics::host_bytes() const { return sum(host_parts); }

namespace {
// The value of a knob a plan point must set; throws naming it when unset.
template <class T>
T required(const std::optional<T>& v, const char* knob) {
  if (!v) throw std::invalid_argument(fmt::format("plan point: '{}' must be set", knob));
  return *v;
}
}  // namespace

ResolvedPoint resolve_point(const config::Scenario& s, std::int64_t topk_blocks, const config::HardwareConfig& hw) {
  required(s.hardware, "hardware");
  ResolvedPoint p;
  config::RunConfig& r = p.run;
  r.mode = required(s.mode, "mode");
  r.backend = "cuda";
  r.batch = required(s.batch, "batch");
  p.context_tokens = required(s.context, "context");
  r.context_tokens.assign(static_cast<std::size_t>(std::max<std::int64_t>(r.batch, 1)), p.context_tokens);
  r.topk_blocks = topk_blocks;
  r.cache_blocks = s.cache_blocks.value_or(0);
  r.gather_ctas = s.gather_ctas.value_or(config::default_gather_ctas(r.batch));
  r.eviction = s.policy.value_or(r.eviction);
  r.prefetch = s.prefetch.value_or(config::mode_traits(r.mode).prefetch);
  r.workload = config::workload_preset(config::default_workload_preset(r.mode), "plan");
  r.workload.reuse = s.reuse.value_or(r.workload.reuse);
  p.pcie_gbps = s.pcie_gbps.value_or(hw.h2d_gbps);
  return p;
}

void set_memory(ScenarioMetrics& m, const config::Footprint& f) {
  m.gpu_parts.clear();
  m.host_parts.clear();
  for (const auto& e : f.items)
    (e.location == trace::MemoryLocation::gpu ? m.gpu_parts : m.host_parts)
        .emplace_back(memory_label(e.category), static_cast<std::int64_t>(e.bytes));
  m.gpu_capacity_bytes = static_cast<std::int64_t>(f.gpu_capacity_bytes);
  m.host_capacity_bytes = static_cast<std::int64_t>(f.host_capacity_bytes);
  m.fits = f.fits();
}

std::string cache_cell(const config::Scenario& s, std::int64_t default_cache) {
  const config::Mode mode = s.mode.value();
  if (mode_tunes_cache(mode))
    return std::to_string(s.cache_blocks.value()) +
           (s.cache_blocks == default_cache ? " (top-k+1)" : "");
  return mode_offloads(mode) ? "none (top-k tokens gathered every step)" : "all on GPU";
}

std::string ctas_cell(const config::Scenario& s) {
  return mode_tunes_cache(s.mode.value()) ? std::to_string(s.gather_ctas.value()) : "-";
}

}  // namespace foresight::report

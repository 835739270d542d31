// Memory totals of the plan data model, and a scenario's run and footprint.
#include "foresight/report/plan_types.hpp"

#include <map>

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

config::RunConfig scenario_run(const Scenario& s, std::int64_t topk_blocks) {
  config::RunConfig r;
  r.mode = s.mode;
  r.backend = "cuda";
  r.batch = s.batch;
  r.context_tokens.assign(static_cast<std::size_t>(std::max<std::int64_t>(s.batch, 1)), s.context_tokens);
  r.topk_blocks = topk_blocks;
  r.cache_blocks = s.cache_blocks;
  r.gather_ctas = s.gather_ctas;
  r.prefetch = config::mode_traits(s.mode).prefetch;
  r.workload.reuse = s.reuse;
  return r;
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

}  // namespace foresight::report

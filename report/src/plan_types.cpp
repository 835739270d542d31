// Mode names and memory totals of the plan data model.
#include "foresight/report/plan_types.hpp"

#include <stdexcept>

namespace foresight::report {

namespace {
std::int64_t sum(const std::vector<BytePart>& parts) {
  std::int64_t total = 0;
  for (const auto& [name, bytes] : parts) total += bytes;
  return total;
}
}  // namespace

std::int64_t ScenarioMetrics::gpu_bytes() const { return sum(gpu_parts); }
std::int64_t ScenarioMetrics::host_bytes() const { return sum(host_parts); }

const char* mode_name(config::Mode m) {
  switch (m) {
    case config::Mode::dense: return "dense";
    case config::Mode::sparse: return "sparse";
    case config::Mode::sparse_offload: return "sparse-offload";
    case config::Mode::sparda_no_prefetch: return "sparda-no-prefetch";
    case config::Mode::sparda: return "sparda";
    case config::Mode::sparda_no_offload: return "sparda-no-offload";
  }
  return "?";
}

config::Mode mode_from_name(const std::string& s) {
  for (auto m : {config::Mode::dense, config::Mode::sparse, config::Mode::sparse_offload,
                 config::Mode::sparda_no_prefetch, config::Mode::sparda,
                 config::Mode::sparda_no_offload})
    if (s == mode_name(m)) return m;
  throw std::invalid_argument("unknown mode '" + s +
                              "' (known: dense, sparse, sparse-offload, sparda-no-prefetch, "
                              "sparda, sparda-no-offload)");
}

bool mode_offloads(config::Mode m) {
  return m == config::Mode::sparse_offload || m == config::Mode::sparda_no_prefetch ||
         m == config::Mode::sparda;
}

bool mode_is_sparse(config::Mode m) { return m != config::Mode::dense; }

}  // namespace foresight::report

// Memory planner (see memory_plan.hpp for what is counted).
#include "foresight/runtime/memory_plan.hpp"

#include <algorithm>

#include <fmt/core.h>

namespace foresight::runtime {
using config::Mode;

MemoryPlan plan_memory(const config::ModelConfig& m, const config::RunConfig& run,
                       const config::HardwareConfig& hw) {
  return config::footprint(m, run, hw);
}

void require_fits(const MemoryPlan& plan) {
  if (!plan.fits()) {
    throw MemoryError("the run does not fit in memory:\n" + plan.breakdown());
  }
}

void require_host_ram(const MemoryPlan& plan, const config::HardwareConfig& host) {
  constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
  const std::uint64_t need = plan.cpu_backend_host_bytes();
  const std::int64_t cap = std::max<std::int64_t>(host.host_mem_bytes - host.host_reserve_bytes, 0);
  if (need <= static_cast<std::uint64_t>(cap)) return;
  throw MemoryError(fmt::format(
      "the run does not fit in this host's RAM on the CPU backend (whose device memory is host memory): it needs "
      "{:.2f} GiB at its peak (device-side {:.2f} GiB + pinned {:.2f} GiB; the weights twice while uploaded, "
      "{:.2f} GiB) of {:.2f} GiB ({:.2f} GiB of RAM less a {:.2f} GiB reserve); use a smaller model, batch or "
      "context, or the cuda backend",
      need / kGiB, plan.gpu_bytes() / kGiB, plan.host_bytes() / kGiB, 2 * plan.bytes("weights") / kGiB, cap / kGiB,
      host.host_mem_bytes / kGiB, host.host_reserve_bytes / kGiB));
}

std::int64_t largest_feasible_batch(const config::ModelConfig& m, config::RunConfig run,
                                    const config::HardwareConfig& hw, Mode mode,
                                    std::int64_t context_tokens) {
  run.mode = mode;
  run.context_tokens.assign(1, context_tokens);  // every sequence this long; O(1) per plan
  auto fits = [&](std::int64_t b) {
    run.batch = b;
    return plan_memory(m, run, hw).fits();
  };
  if (!fits(1)) return 0;
  // Exponential search for a batch that does not fit, then bisection.
  constexpr std::int64_t kMaxBatch = std::int64_t{1} << 40;  // guard: absurd capacity
  std::int64_t lo = 1, hi = 2;
  while (fits(hi)) {
    lo = hi;
    if (hi >= kMaxBatch) return lo;
    hi *= 2;
  }
  while (hi - lo > 1) {  // fits(lo), !fits(hi)
    const std::int64_t mid = lo + (hi - lo) / 2;
    (fits(mid) ? lo : hi) = mid;
  }
  return lo;
}

std::vector<FeasibilityRow> feasibility_table(const config::ModelConfig& m, const config::RunConfig& run,
                                              const config::HardwareConfig& hw,
                                              std::int64_t context_tokens) {
  std::vector<FeasibilityRow> rows;
  for (Mode mode : config::kAllModes) {
    if (config::mode_traits(mode).selects_tokens()) continue;  // DSA: not run by this runtime yet
    FeasibilityRow r{mode, largest_feasible_batch(m, run, hw, mode, context_tokens), 0, 0};
    if (r.largest_batch > 0) {
      config::RunConfig at = run;
      at.mode = mode;
      at.batch = r.largest_batch;
      at.context_tokens.assign(1, context_tokens);
      const MemoryPlan p = plan_memory(m, at, hw);
      r.gpu_bytes = p.gpu_bytes();
      r.host_bytes = p.host_bytes();
    }
    rows.push_back(r);
  }
  return rows;
}

nlohmann::json to_json(const std::vector<FeasibilityRow>& rows) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& r : rows) {
    j.push_back({{"mode", config::to_string(r.mode)},
                 {"largest_batch", r.largest_batch},
                 {"gpu_bytes", r.gpu_bytes},
                 {"host_bytes", r.host_bytes}});
  }
  return j;
}

std::string format_feasibility_table(const std::vector<FeasibilityRow>& rows) {
  constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
  std::string s = fmt::format("{:<20} {:>13} {:>10} {:>15}\n", "mode", "largest batch", "GPU GiB",
                              "pinned host GiB");
  for (const auto& r : rows) {
    if (r.largest_batch == 0) {
      s += fmt::format("{:<20} {:>13} {:>10} {:>15}\n", config::to_string(r.mode), "none fits", "-", "-");
    } else {
      s += fmt::format("{:<20} {:>13} {:>10.2f} {:>15.2f}\n", config::to_string(r.mode), r.largest_batch,
                       static_cast<double>(r.gpu_bytes) / kGiB, static_cast<double>(r.host_bytes) / kGiB);
    }
  }
  return s;
}

}  // namespace foresight::runtime

// The capacity plan's data model: a scenario (one point of the what-if grid,
// a config::Scenario with hardware, mode, context and batch set), the metrics
// an evaluator returns for it, and the evaluator interface that turns one into
// the other. The search (search.hpp) and the renderers only see
// this interface, so they are tested with a fake evaluator and run on either
// the built-in analytic model or the trace-driven simulator.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "foresight/config/calibration.hpp"
#include "foresight/config/footprint.hpp"
#include "foresight/config/run.hpp"
#include "foresight/config/scenario.hpp"

namespace foresight::report {

// A named byte count (a slice of a memory breakdown).
using BytePart = std::pair<std::string, std::int64_t>;

struct ScenarioMetrics {
  double tokens_per_s = 0;              // decode throughput, all sequences
  double tpot_mean_ms = 0;              // per-token latency (one decode step), mean
  double tpot_p50_ms = 0;               // per-token latency, median
  double tpot_p99_ms = 0;               // per-token latency, 99th percentile
  std::vector<BytePart> gpu_parts;      // GPU memory by use, bytes
  std::vector<BytePart> host_parts;     // pinned host memory by use, bytes
  std::int64_t gpu_capacity_bytes = 0;  // what the GPU offers
  std::int64_t host_capacity_bytes = 0;
  bool fits = true;                     // both memories suffice
  double bound_compute = 0;             // shares of the critical path, sum 1
  double bound_pcie = 0;
  double bound_host = 0;
  // Mean step time = compute_ms + exposed_h2d_ms + host_ms (ms per step), where
  double compute_ms = 0;                // all compute op time, also what transfers overlap
  double exposed_h2d_ms = 0;            // H2D time the compute stream waits for (or spends inline)
  double host_ms = 0;                   // the rest: host work and launch gaps
  double pcie_ms = 0;                   // per step, PCIe time on the critical path
  double h2d_total_ms = 0;              // per step, all H2D transfer time (hidden + exposed)
  double hit_rate = 1;                  // GPU block-cache hit rate (1 when KV is on the GPU)
  double l2_hit_rate = -1;              // KV bytes read that hit an L2 reservation (-1: none modelled)
  // Time to first token of one request: its prompt's prefill (the batch's
  // prefill over the batch), ms; NaN where the evaluator models no prefill.
  double ttft_ms = std::numeric_limits<double>::quiet_NaN();

  std::int64_t gpu_bytes() const;
  std::int64_t host_bytes() const;
};

// What the metrics of a plan rest on, printed in the report's assumptions.
struct EvaluatorInfo {
  std::string name;                     // e.g. "analytic roofline model"
  std::string trace;                    // trace used, or "synthesized: ..." / "none"
  std::vector<std::string> measured;    // inputs that were measured (with where)
  std::vector<std::string> modelled;    // what was modelled rather than measured
  // Per hardware: how far the simulator was from real runs on that GPU (the
  // fidelity benchmark's median and worst error and its date), or that no
  // calibration exists and its error is unmeasured.
  std::vector<std::string> fidelity;
};

// scenario -> metrics. Implementations must be deterministic and safe to call
// from several threads at once.
class Evaluator {
 public:
  virtual ~Evaluator() = default;
  // `s` has hardware (a name the evaluator knows), mode, context and batch set.
  virtual ScenarioMetrics evaluate(const config::Scenario& s) const = 0;
  virtual EvaluatorInfo info() const = 0;
  // Top-k blocks per KV head of the model (the default cache size is top-k + 1).
  virtual std::int64_t topk_blocks() const = 0;
  // The hardware's default H2D ceiling in GB/s (for sweeps around it).
  virtual double default_pcie_gbps(const std::string& hardware) const = 0;
  // The largest GPU L2 persisting set-aside of `hardware` (bytes) when the
  // evaluator models an L2 reservation (Scenario::l2_reserve); 0: it does not.
  virtual std::int64_t l2_reserve_max_bytes(const std::string& hardware) const {
    (void)hardware;
    return 0;
  }
  // Real reservations measured on `hardware` (its calibration's l2_measured),
  // the evidence beside the simulated gains; empty: none.
  virtual config::L2Measured l2_measured(const std::string& hardware) const {
    (void)hardware;
    return {};
  }
};

// A plan point with every knob resolved: what the evaluators compute with.
struct ResolvedPoint {
  // The run `foresight run` makes of the point: its mode, batch, context
  // (every sequence), cache blocks (unset: 0 = top-k + 1), gather CTAs
  // (unset: config::default_gather_ctas of the batch), prefetch (unset: the
  // mode's) and workload (the mode's default preset, config/run.hpp, with the
  // point's reuse where set); `topk_blocks` per KV
  // head; every other field the RunConfig default, as `foresight run` without
  // options (4 decode steps after 1 warm-up step, real prefill in 512-token
  // chunks). Both evaluators decide `fits` on its config::footprint, so the
  // plan offers what `run` accepts.
  config::RunConfig run;
  std::int64_t context_tokens = 0;  // per sequence
  double pcie_gbps = 0;             // H2D ceiling, GB/s (unset: the hardware's h2d_gbps)
};
// The one place a plan point's unset knobs take the hardware's and model's
// defaults. Throws std::invalid_argument naming the knob when hardware, mode,
// context or batch is unset.
ResolvedPoint resolve_point(const config::Scenario& s, std::int64_t topk_blocks, const config::HardwareConfig& hw);
// Fills m's memory parts (labelled), capacities and `fits` from a footprint.
void set_memory(ScenarioMetrics& m, const config::Footprint& f);

// Shorthands for the renderers; the definitions are config::to_string and
// config::mode_traits (config/mode.hpp), shared with the runtime and simulator.
inline const char* mode_name(config::Mode m) { return config::to_string(m); }
inline bool mode_offloads(config::Mode m) { return config::mode_traits(m).kv_on_host(); }
inline bool mode_is_sparse(config::Mode m) { return config::mode_traits(m).selects_blocks(); }
// Selects KV (blocks or tokens): a workload locality (reuse) applies.
inline bool mode_selects(config::Mode m) {
  const auto& t = config::mode_traits(m);
  return t.selects_blocks() || t.selects_tokens();
}
// Has the block working-set cache the plan sizes (cache blocks, gather CTAs):
// block selection with the KV in host memory. The DSA modes have no GPU token
// cache, and their gather's CTAs follow the token count.
inline bool mode_tunes_cache(config::Mode m) { return mode_is_sparse(m) && mode_offloads(m); }
// The table cells of a point's GPU cache and gather CTAs: "97 (top-k+1)" and
// "16" for the modes that tune them, else what stands in their place.
std::string cache_cell(const config::Scenario& s, std::int64_t default_cache);
std::string ctas_cell(const config::Scenario& s);

}  // namespace foresight::report

// Trace-driven replay: re-times a recorded (or synthesized) trace under a
// what-if Scenario, or reproduces it as recorded (validate). A Replayer is
// built once per trace and is safe to call from many threads (sweeps); cache
// replays are memoized per (policy, capacity).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "foresight/config/hardware.hpp"
#include "foresight/sim/cost_fit.hpp"
#include "foresight/sim/metrics.hpp"
#include "foresight/sim/scenario.hpp"
#include "foresight/sim/schedule.hpp"
#include "foresight/sim/selection_replay.hpp"
#include "foresight/trace/schema.hpp"

namespace foresight::sim {

struct ReplayResult {
  nlohmann::json scenario;             // resolved: every effective setting
  std::string status = "ok";           // "ok" or "out_of_memory"
  Metrics metrics;
  std::uint64_t events = 0;            // engine events simulated
  std::optional<trace::Trace> timeline;  // simulated run, when asked for
};

struct ValidateResult {
  struct Step {
    trace::Phase phase;
    std::int32_t step;
    std::int64_t recorded_ns, simulated_ns;
  };
  std::vector<Step> steps;
  std::int64_t max_abs_error_ns = 0;
  double mean_rel_error = 0;   // mean over steps of |sim - rec| / rec
  double total_rel_error = 0;  // |sum sim - sum rec| / sum rec
  bool exact = false;
  ReplayResult result;         // metrics of the simulated (as-recorded) run
  nlohmann::json to_json() const;
};

using HardwareLoader = std::function<config::HardwareConfig(const std::string&)>;

class Replayer {
 public:
  // `where` names the trace in errors. `load_hw` resolves Scenario::hardware
  // (default: config::load_hardware).
  explicit Replayer(trace::Trace t, std::string where = "trace", HardwareLoader load_hw = {});

  // Throws std::invalid_argument for impossible values or a trace without the
  // data the scenario needs.
  ReplayResult run(const Scenario& s, bool keep_timeline = false) const;

  // Replays the recorded op graph with recorded durations.
  ValidateResult validate(bool keep_timeline = false) const;

  const trace::Trace& trace() const { return t_; }
  const std::string& where() const { return where_; }  // the trace's name (usually its path)
  const CostFit& cost_fit() const { return *fit_; }

 private:
  std::shared_ptr<const StreamOutcomes> outcomes(config::Eviction policy, std::int64_t capacity) const;
  config::HardwareConfig hardware(const std::string& spec) const;

  trace::Trace t_;
  std::string where_;
  HardwareLoader load_hw_;
  SelectionIndex sel_;
  std::vector<std::int64_t> clean_ns_;  // recorded durations, gather interference removed
  // Clean recorded duration per (phase, step, layer + 1, canonical stage,
  // occurrence < 4), -1 where none; dense for speed.
  std::vector<std::int64_t> recorded_;
  std::int32_t rec_steps_ = 0, rec_layers_ = 0;
  std::int64_t recorded_ns(const OpKey& k) const;
  std::size_t slot(trace::Phase phase, std::int32_t step, std::int16_t layer, std::uint16_t sid,
                   std::uint8_t occ) const;
  std::int64_t host_step_ns_ = 20000;
  std::int32_t decode_steps_ = 0;
  bool has_prefill_ = false;
  bool has_layer_norm_ = false, has_kv_write_ = false;  // in the decode steps (else fused: ScheduleConfig)
  std::unique_ptr<CostFit> fit_;

  struct MemoEntry;
  mutable std::once_flag streams_once_;                  // built on the first cache replay
  mutable std::unique_ptr<const SelectionStreams> streams_;
  mutable std::mutex mu_;
  mutable std::map<std::pair<int, std::int64_t>, std::shared_ptr<MemoEntry>> memo_;
  // Op graphs per (prefetch, context_tokens): the rest of a ScheduleConfig's
  // structure is fixed per trace. At most kMaxSkeletons are kept.
  struct Skeleton;
  struct SkeletonEntry;
  static constexpr std::size_t kMaxSkeletons = 8;
  std::shared_ptr<const Skeleton> skeleton(const ScheduleConfig& sc) const;
  mutable std::map<std::pair<int, std::vector<std::int64_t>>, std::shared_ptr<SkeletonEntry>> skeletons_;
  mutable std::map<std::string, config::HardwareConfig> hw_cache_;
};

// Packs an op identity into a map key (see schedule.hpp OpKey).
std::uint64_t pack_op_key(trace::Phase phase, std::int32_t step, std::int16_t layer,
                          std::uint16_t stage_id, std::uint8_t occurrence);

}  // namespace foresight::sim

// Trace-driven replay: re-times a recorded (or synthesized) trace under a
// what-if config::Scenario, or reproduces it as recorded (validate). A Replayer is
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

#include "foresight/config/calibration.hpp"
#include "foresight/config/hardware.hpp"
#include "foresight/config/scenario.hpp"
#include "foresight/sim/cost_fit.hpp"
#include "foresight/sim/metrics.hpp"
#include "foresight/sim/schedule.hpp"
#include "foresight/sim/selection_replay.hpp"
#include "foresight/sim/token_selections.hpp"
#include "foresight/trace/schema.hpp"
#include "foresight/trace/steps.hpp"

namespace foresight::sim {

struct ReplayResult {
  nlohmann::json scenario;             // resolved: every effective setting
  std::string status = "ok";           // "ok" or "out_of_memory"
  Metrics metrics;
  std::uint64_t events = 0;            // engine events simulated
  std::optional<trace::Trace> timeline;  // simulated run, when asked for
};

// Recorded vs simulated step times of `Replayer::validate`, split into the
// groups of trace/steps.hpp: prefill chunks, warm-up decode steps and steady
// decode steps. `steady` is the headline: prefill and the warm-up step (CUDA
// graph capture, cold cache) would otherwise dominate and hide it.
struct ValidateResult {
  struct Step {
    trace::Phase phase;
    std::int32_t step;
    std::int64_t recorded_ns, simulated_ns;
    trace::StepGroup group;
  };
  // Error over the steps of one group. Ratios are NaN (null in JSON) for a
  // group without steps or with zero recorded time.
  struct Group {
    std::size_t steps = 0;
    std::int64_t recorded_ns = 0, simulated_ns = 0;  // summed over the group
    double mean_step_rel_error = 0;  // |mean sim step - mean rec step| / mean rec step
    double mean_rel_error = 0;       // mean over the group's steps of |sim - rec| / rec
    double max_rel_error = 0;        // max over the group's steps of |sim - rec| / rec
    nlohmann::json to_json() const;
  };
  std::vector<Step> steps;
  Group steady, warmup, prefill;
  std::int64_t warmup_steps = 0;   // run.warmup_steps of the trace
  // Over all steps (prefill, warm-up and steady mixed): kept for old readers.
  std::int64_t max_abs_error_ns = 0;
  double mean_rel_error = 0;   // mean over steps of |sim - rec| / rec
  double total_rel_error = 0;  // |sum sim - sum rec| / sum rec
  bool exact = false;
  ReplayResult result;         // metrics of the simulated (as-recorded) run
  const Group& group(trace::StepGroup g) const;
  nlohmann::json to_json() const;
};

class CalibratedCosts;
struct ResolvedScenario;  // a config::Scenario applied to a trace: every what-if's value (replay.cpp)

using HardwareLoader = std::function<config::HardwareConfig(const std::string&)>;

class Replayer {
 public:
  // `where` names the trace in errors. `load_hw` resolves config::Scenario::hardware
  // (default: config::load_hardware). `default_calibration`: start with
  // configs/calibration/<hardware>.json when it exists (false: none, e.g.
  // while fitting a new one).
  explicit Replayer(trace::Trace t, std::string where = "trace", HardwareLoader load_hw = {},
                    bool default_calibration = true);

  // Throws std::invalid_argument for impossible values, a plan-only knob
  // (reuse), or a trace without the data the scenario needs. keep_timeline:
  // the simulated run is materialised (ReplayResult::timeline) and its
  // per-stage times join the metrics (stages_ms.*, trace::stage_metrics).
  ReplayResult run(const config::Scenario& s, bool keep_timeline = false) const;

  // Replays the recorded op graph with recorded durations.
  ValidateResult validate(bool keep_timeline = false) const;

  const trace::Trace& trace() const { return t_; }
  const std::string& where() const { return where_; }  // the trace's name (usually its path)
  const CostFit& cost_fit() const { return *fit_; }

  // The GPU calibration used for the trace's own hardware: by default
  // configs/calibration/<hardware>.json when it exists; nullopt: roofline fit.
  void set_calibration(std::optional<config::Calibration> c);
  const std::optional<config::Calibration>& calibration() const { return cal_; }

  // Scenario::hardware resolved (cached; thread-safe); throws like config::load_hardware.
  config::HardwareConfig hardware(const std::string& spec) const;

 private:
  std::shared_ptr<const StreamOutcomes> outcomes(config::Eviction policy, std::int64_t capacity) const;
  // The steps of run(): resolve the what-ifs, replay the block cache, cost
  // the ops (ns), fix the schedule (replay.cpp).
  ResolvedScenario resolve(const config::Scenario& s) const;
  std::vector<trace::CacheOutcome> cache_outcomes(const ResolvedScenario& v) const;
  DurationFn op_duration(const ResolvedScenario& v, const config::Scenario& s, const CalibratedCosts* cc) const;
  std::vector<std::uint64_t> prefill_tiles(const ResolvedScenario& v) const;  // [layers], sparse prefill
  ScheduleConfig schedule_config(const ResolvedScenario& v, const config::RunConfig& as_run,
                                 const CalibratedCosts* cc) const;

  trace::Trace t_;
  std::string where_;
  HardwareLoader load_hw_;
  SelectionIndex sel_;
  TokenIndex tok_;  // DSA traces' token selections
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
  // What a skeleton depends on that varies between scenarios: prefetch, eager,
  // mode, context tokens, sparse prefill tiles per layer.
  using SkeletonKey = std::tuple<int, bool, int, std::vector<std::int64_t>, std::vector<std::uint64_t>>;
  mutable std::map<SkeletonKey, std::shared_ptr<SkeletonEntry>> skeletons_;
  mutable std::map<std::string, config::HardwareConfig> hw_cache_;
  std::optional<config::Calibration> cal_;
  // Calibration (or none) of another hardware named by --hardware, and the
  // models calibrations were measured with, loaded once.
  const config::Calibration* calibration_for(const std::string& hardware) const;
  const config::ModelConfig& calibration_model(const config::Calibration& c) const;
  std::optional<CalibratedCosts> scenario_costs(const ResolvedScenario& v, const config::Calibration* cal) const;
  mutable std::map<std::string, std::optional<config::Calibration>> cal_cache_;
  mutable std::map<std::string, config::ModelConfig> cal_models_;
};

// Packs an op identity into a map key (see schedule.hpp OpKey).
std::uint64_t pack_op_key(trace::Phase phase, std::int32_t step, std::int16_t layer,
                          std::uint16_t stage_id, std::uint8_t occurrence);

}  // namespace foresight::sim

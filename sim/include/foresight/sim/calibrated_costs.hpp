// Op costs of one scenario from a GPU calibration (config/calibration.hpp):
// per-op times of the decode stages at the scenario's batch and context, the
// zero-copy gather at its CTAs and link speed, the slowdown of compute beside
// a gather, the host time per step and per eager launch. Fitting:
// sim/calibrate.hpp; the model: docs/simulator.md "Calibrated costs".
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "foresight/config/calibration.hpp"
#include "foresight/config/model.hpp"
#include "foresight/sim/cost_model.hpp"
#include "foresight/sim/schedule.hpp"

namespace foresight::sim {

// The calibration table of `stage` in a mode of shape `ms`: "score/forecast"
// or "score/query" (also pool_topk, compress and qkvf_gemm; DSA modes read
// "qkvf_gemm/query", which lacks the indexer's few rows), "attention/sparse",
// "attention/dense" or "attention/dsa", "d2d_gather/token" (DSA), else the
// stage name itself.
std::string calibration_key(std::string_view stage, const ModeShape& ms);

// Decode stages a calibration must hold for a mode of shape `ms` (the
// main-stream ops build_schedule emits, fused runtime: no rmsnorm/kv_write
// per layer).
std::vector<std::string> calibration_keys(const ModeShape& ms);

struct CostScenario {
  ModeShape shape;
  std::int64_t batch = 1;
  double tokens_per_seq = 0;  // mean context tokens per sequence
  std::int64_t topk_blocks = 96;
  double pcie_scale = 1.0;    // link speed / the calibration hardware's h2d_gbps
};

class CalibratedCosts {
 public:
  // `cal_model` is the model the calibration was measured with; when it is not
  // `m`, each stage time is scaled by the ratio of the two models' rooflines.
  CalibratedCosts(const config::Calibration& cal, const config::ModelConfig& m,
                  const config::ModelConfig& cal_model, const config::HardwareConfig& hw,
                  const CostScenario& s);

  // Main-stream ns of one decode op of canonical stage `stage_id`; nullopt
  // when the calibration has no table for it (prefill ops, other stages).
  std::optional<double> decode_op_ns(std::uint16_t stage_id) const;
  const config::GatherModel& gather() const { return gather_; }       // at the scenario's link
  std::int64_t host_step_ns() const { return host_step_ns_; }
  std::int64_t eager_launch_ns() const { return eager_launch_ns_; }
  const std::vector<double>& slowdown_by_ctas() const { return slowdown_; }  // index: active CTAs

 private:
  static constexpr std::size_t kStages = 32;
  std::array<double, kStages> op_ns_{};  // < 0: not calibrated
  config::GatherModel gather_;
  std::int64_t host_step_ns_ = 0, eager_launch_ns_ = 0;
  std::vector<double> slowdown_;
};

}  // namespace foresight::sim

// Compute-op cost model fitted on a trace's own ops, to re-predict op times
// for another batch size or context length.
//
// Per stage: time_ns = a + b * bytes + c * flops by least squares (Eigen,
// column-pivoting QR) when the stage's ops span rank 3 with b, c >= 0;
// otherwise time_ns = launch + k * roofline_core(bytes, flops) with the
// efficiency k fitted through the origin (a single-batch trace usually lands
// here). Stages absent from the trace use the plain roofline.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "foresight/config/hardware.hpp"
#include "foresight/sim/cost_model.hpp"
#include "foresight/trace/schema.hpp"

namespace foresight::sim {

class CostFit {
 public:
  // Fits on the trace's compute ops. `durations_ns[i]` is the duration to fit
  // for t.ops[i] (e.g. with gather interference removed).
  CostFit(const trace::Trace& t, const std::vector<std::int64_t>& durations_ns);

  std::int64_t predict_ns(std::string_view stage, const OpCost& c,
                          const config::HardwareConfig& hw) const;

  // Mean and max |predicted - recorded| / recorded over the fitted ops, and
  // which kind of fit each stage got.
  double mean_rel_error() const { return mean_rel_error_; }
  double max_rel_error() const { return max_rel_error_; }
  nlohmann::json describe() const;

 private:
  struct StageFit {
    bool linear = false;
    double a = 0, b = 0, c = 0;  // linear: ns, ns/byte, ns/FLOP
    double k = 1;                // efficiency form: multiplier of the roofline core
    std::size_t samples = 0;
  };
  const StageFit* find(std::string_view stage) const;
  double predict(const StageFit& f, std::string_view stage, const OpCost& c,
                 const config::HardwareConfig& hw) const;

  config::HardwareConfig hw_;
  std::map<std::string, StageFit, std::less<>> fits_;
  double mean_rel_error_ = 0, max_rel_error_ = 0;
};

// Roofline time without launch overhead: max(bytes / HBM, FLOPs / peak), ns.
double roofline_core_ns(const config::HardwareConfig& hw, const OpCost& c, bool tensor);

}  // namespace foresight::sim

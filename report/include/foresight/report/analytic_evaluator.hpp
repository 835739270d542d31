// A closed-form roofline evaluator: per decode step, linear layers cost
// max(weight bytes / HBM, FLOPs / tensor rate), attention reads its KV bytes
// from HBM, offload modes move the cache misses over PCIe at the gather
// curve's bandwidth, and SparDA hides a layer's transfer behind the previous
// layer's compute. It stands in for the trace-driven simulator where none is
// linked (and is what `foresight plan --evaluator analytic` uses); every
// assumption is listed in info().
#pragma once

#include <map>
#include <string>

#include "foresight/config/hardware.hpp"
#include "foresight/config/model.hpp"
#include "foresight/report/plan_types.hpp"

namespace foresight::report {

class AnalyticEvaluator : public Evaluator {
 public:
  AnalyticEvaluator(config::ModelConfig model, std::map<std::string, config::HardwareConfig> hw);
  ScenarioMetrics evaluate(const config::Scenario& s) const override;
  EvaluatorInfo info() const override;
  std::int64_t topk_blocks() const override { return model_.sparse.topk_blocks; }
  double default_pcie_gbps(const std::string& hardware) const override;

  // Modelled constants (documented in docs/report.md).
  static constexpr double kLinearEfficiency = 0.6;     // share of peak bf16 FLOP/s reached
  static constexpr double kKernelUsPerLayer = 40;      // ~10 small kernels x 4 us per layer
  static constexpr double kHostSerialMs = 0.1;         // sampling + graph launch per step

 private:
  const config::HardwareConfig& hardware(const std::string& name) const;
  config::ModelConfig model_;
  std::map<std::string, config::HardwareConfig> hw_;
};


}  // namespace foresight::report

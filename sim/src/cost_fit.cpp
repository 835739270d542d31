// Least-squares compute cost model (see cost_fit.hpp).
#include "foresight/sim/cost_fit.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include <Eigen/Dense>

namespace foresight::sim {

double roofline_core_ns(const config::HardwareConfig& hw, const OpCost& c, bool tensor) {
  const double mem = hw.hbm_gbps > 0 ? static_cast<double>(c.bytes) / hw.hbm_gbps : 0.0;
  const double rate = tensor ? hw.bf16_tflops : hw.fp32_tflops;
  const double math = rate > 0 ? static_cast<double>(c.flops) / (rate * 1e3) : 0.0;
  return std::max(mem, math);
}

CostFit::CostFit(const trace::Trace& t, const std::vector<std::int64_t>& durations_ns)
    : hw_(t.header.hardware) {
  std::map<std::string, std::vector<std::size_t>, std::less<>> by_stage;
  for (std::size_t i = 0; i < t.ops.size(); ++i)
    if (op_timed_by_cost(t.ops[i].kind, t.stages[t.ops[i].stage])) by_stage[t.stages[t.ops[i].stage]].push_back(i);
  const double launch = hw_.kernel_launch_us * 1e3;
  double err_sum = 0;
  std::size_t err_n = 0;
  for (const auto& [stage, idx] : by_stage) {
    StageFit f;
    f.samples = idx.size();
    const auto n = static_cast<Eigen::Index>(idx.size());
    Eigen::MatrixXd X(n, 3);
    Eigen::VectorXd y(n);
    for (Eigen::Index r = 0; r < n; ++r) {
      const auto& op = t.ops[idx[static_cast<std::size_t>(r)]];
      X(r, 0) = 1.0;
      X(r, 1) = static_cast<double>(op.bytes);
      X(r, 2) = static_cast<double>(op.flops);
      y(r) = static_cast<double>(durations_ns[idx[static_cast<std::size_t>(r)]]);
    }
    // Scale columns so the QR rank test is meaningful.
    Eigen::Vector3d scale = X.cwiseAbs().colwise().maxCoeff().transpose();
    for (int k = 0; k < 3; ++k)
      if (scale(k) == 0) scale(k) = 1;
    Eigen::MatrixXd Xs = X * scale.cwiseInverse().asDiagonal();
    Eigen::ColPivHouseholderQR<Eigen::MatrixXd> qr(Xs);
    qr.setThreshold(1e-9);
    if (n >= 3 && qr.rank() == 3) {
      const Eigen::Vector3d beta = qr.solve(y).cwiseQuotient(scale);
      if (beta(1) >= 0 && beta(2) >= 0) {
        f.linear = true;
        f.a = beta(0);
        f.b = beta(1);
        f.c = beta(2);
      }
    }
    if (!f.linear) {
      const bool tensor = stage_uses_tensor_cores(stage);
      double num = 0, den = 0;
      for (Eigen::Index r = 0; r < n; ++r) {
        const OpCost c{static_cast<std::uint64_t>(X(r, 1)), static_cast<std::uint64_t>(X(r, 2))};
        const double core = roofline_core_ns(hw_, c, tensor);
        num += (y(r) - launch) * core;
        den += core * core;
      }
      f.k = den > 0 ? std::max(0.0, num / den) : 1.0;
    }
    for (Eigen::Index r = 0; r < n; ++r) {
      const OpCost c{static_cast<std::uint64_t>(X(r, 1)), static_cast<std::uint64_t>(X(r, 2))};
      const double p = predict(f, stage, c, hw_);
      if (y(r) > 0) {
        const double e = std::abs(p - y(r)) / y(r);
        err_sum += e;
        max_rel_error_ = std::max(max_rel_error_, e);
        ++err_n;
      }
    }
    fits_.emplace(stage, f);
  }
  mean_rel_error_ = err_n ? err_sum / static_cast<double>(err_n) : 0.0;
}

const CostFit::StageFit* CostFit::find(std::string_view stage) const {
  auto it = fits_.find(stage);
  return it == fits_.end() ? nullptr : &it->second;
}

double CostFit::predict(const StageFit& f, std::string_view stage, const OpCost& c,
                        const config::HardwareConfig& hw) const {
  if (f.linear)
    return f.a + f.b * static_cast<double>(c.bytes) + f.c * static_cast<double>(c.flops);
  return hw.kernel_launch_us * 1e3 + f.k * roofline_core_ns(hw, c, stage_uses_tensor_cores(stage));
}

std::int64_t CostFit::predict_ns(std::string_view stage, const OpCost& c,
                                 const config::HardwareConfig& hw) const {
  const StageFit* f = find(stage);
  if (!f) return roofline_ns(hw, c, stage_uses_tensor_cores(stage));
  return std::max<std::int64_t>(0, std::llround(predict(*f, stage, c, hw)));
}

nlohmann::json CostFit::describe() const {
  nlohmann::json j;
  j["mean_rel_error"] = mean_rel_error_;
  j["max_rel_error"] = max_rel_error_;
  nlohmann::json stages = nlohmann::json::object();
  for (const auto& [name, f] : fits_) {
    if (f.linear)
      stages[name] = {{"form", "a + b*bytes + c*flops"}, {"a_ns", f.a}, {"b_ns_per_byte", f.b},
                      {"c_ns_per_flop", f.c}, {"samples", f.samples}};
    else
      stages[name] = {{"form", "launch + k*roofline"}, {"k", f.k}, {"samples", f.samples}};
  }
  j["stages"] = stages;
  return j;
}

}  // namespace foresight::sim

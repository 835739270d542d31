// A fake evaluator with answers computable by hand, for the plan search tests.
//   step_ms   = 10 + 2 * batch - (offload ? (cache_blocks - 97) / 97 : 0)
//               + (offload ? 16 / gather_ctas : 0)   [ms]
//   tokens/s  = batch * 1000 / step_ms
//   GPU bytes = 10 GiB weights + batch * 10 GiB (+ cache_blocks MiB if offload)
//   host bytes = batch * 10 GiB if offload (100 GiB available)
//   fits      = GPU bytes <= 80 GiB and host bytes <= 100 GiB
// So with batches {1, 2, 4, 8, 16}: batch 8 needs 90 GiB and does not fit.
#pragma once

#include <atomic>

#include "foresight/report/plan_types.hpp"

namespace foresight::test {

class FakeEvaluator : public report::Evaluator {
 public:
  static constexpr std::int64_t kGiB = 1LL << 30;
  report::ScenarioMetrics evaluate(const config::Scenario& s) const override {
    ++calls;
    const bool off = report::mode_offloads(*s.mode);
    double step = 10.0 + 2.0 * static_cast<double>(*s.batch);
    if (off) step += 16.0 / static_cast<double>(*s.gather_ctas) -
                     static_cast<double>(*s.cache_blocks - 97) / 97.0;
    report::ScenarioMetrics m;
    m.tpot_mean_ms = m.tpot_p50_ms = m.tpot_p99_ms = step;
    m.tokens_per_s = static_cast<double>(*s.batch) * 1000.0 / step;
    m.gpu_parts = {{"weights", 10 * kGiB}, {"KV", *s.batch * 10 * kGiB}};
    if (off) m.gpu_parts.emplace_back("cache", *s.cache_blocks << 20);
    if (off) m.host_parts.emplace_back("KV", *s.batch * 10 * kGiB);
    m.gpu_capacity_bytes = 80 * kGiB;
    m.host_capacity_bytes = 100 * kGiB;
    m.fits = m.gpu_bytes() <= m.gpu_capacity_bytes && m.host_bytes() <= m.host_capacity_bytes;
    m.compute_ms = step;
    m.bound_compute = 1;
    m.hit_rate = off ? 0.5 + 0.1 * static_cast<double>(*s.cache_blocks) / 97.0 : 1.0;
    return m;
  }
  report::EvaluatorInfo info() const override { return {"fake", "none", {}, {}}; }
  std::int64_t topk_blocks() const override { return 96; }
  double default_pcie_gbps(const std::string&) const override { return 50; }
  mutable std::atomic<int> calls{0};
};

}  // namespace foresight::test

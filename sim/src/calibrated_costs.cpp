// Scenario op costs from a GPU calibration (see calibrated_costs.hpp).
#include "foresight/sim/calibrated_costs.hpp"

#include <algorithm>
#include <cmath>

#include "foresight/sim/cost_fit.hpp"
#include "foresight/trace/stages.hpp"

namespace foresight::sim {

namespace st = trace::stage;

namespace {

// Decode stages a calibration can hold, with whether their cost depends on
// the selection source (forecast or query) or the attention kind.
constexpr std::string_view kDecodeStages[] = {
    st::embed,  st::rmsnorm, st::qkvf_gemm, st::rope,   st::compress, st::score,
    st::pool_topk, st::ws_update, st::d2d_gather, st::kv_write, st::attention, st::o_proj,
    st::mlp,    st::lm_head, st::argmax, st::index_score, st::token_topk, st::h2d_gather};

bool by_selector(std::string_view s) {
  return s == st::score || s == st::pool_topk || s == st::compress || s == st::qkvf_gemm;
}

// The decode step shape build_schedule uses at its first step.
StepShape decode_shape(const CostScenario& s, const config::ModelConfig& m) {
  const auto tokens = static_cast<std::int64_t>(std::llround(s.tokens_per_seq)) * s.batch + s.batch;
  const std::int64_t slot_tokens =
      std::min<std::int64_t>((s.topk_blocks + 1) * m.sparse.block_tokens, tokens / s.batch) * s.batch;
  return StepShape{s.batch, tokens, s.batch, s.shape.select ? slot_tokens : tokens, s.topk_blocks,
                   s.shape.forecast, false};
}

}  // namespace

std::string calibration_key(std::string_view stage, const ModeShape& ms) {
  std::string k(stage);
  // DSA's projection and rope also run the indexer's, its attention reads a
  // packed top-k copy and its gathers move tokens: none matches a block
  // mode's measurement, so they have keys of their own.
  if (ms.tokens && (stage == st::qkvf_gemm || stage == st::rope)) return k + "/dsa";
  if (by_selector(stage)) k += ms.forecast ? "/forecast" : "/query";
  if (stage == st::attention) k += ms.tokens ? "/dsa" : ms.select ? "/sparse" : "/dense";
  if ((stage == st::d2d_gather || stage == st::h2d_gather) && ms.tokens) k += "/token";
  return k;
}

std::vector<std::string> calibration_keys(const ModeShape& ms) {
  std::vector<std::string> keys;
  for (auto s : {st::embed, st::qkvf_gemm, st::rope, st::attention, st::o_proj, st::mlp, st::lm_head,
                 st::argmax})
    keys.push_back(calibration_key(s, ms));
  if (ms.select)
    for (auto s : {st::compress, st::score, st::pool_topk, st::ws_update})
      keys.push_back(calibration_key(s, ms));
  if (ms.select && !ms.kv_on_host) keys.push_back(std::string(st::d2d_gather));
  if (ms.tokens)
    for (auto s : {st::index_score, st::token_topk, ms.kv_on_host ? st::h2d_gather : st::d2d_gather})
      keys.push_back(calibration_key(s, ms));
  return keys;
}

CalibratedCosts::CalibratedCosts(const config::Calibration& cal, const config::ModelConfig& m,
                                 const config::ModelConfig& cal_model,
                                 const config::HardwareConfig& hw, const CostScenario& s) {
  op_ns_.fill(-1.0);
  const StepShape shape = decode_shape(s, m);
  const bool same_model = cal_model.name == m.name;
  const auto b = static_cast<double>(s.batch);
  for (std::string_view stage : kDecodeStages) {
    auto it = cal.stages.find(calibration_key(stage, s.shape));
    const std::uint16_t id = canonical_stage_id(stage);
    if (it == cal.stages.end() || id >= kStages) continue;
    double ns = it->second.at(b, s.tokens_per_seq);
    if (!same_model) {
      const bool tc = stage_uses_tensor_cores(stage);
      const double mine = roofline_core_ns(hw, stage_cost(m, stage, shape), tc);
      const double theirs = roofline_core_ns(hw, stage_cost(cal_model, stage, shape), tc);
      if (theirs > 0) ns *= mine / theirs;
    }
    op_ns_[id] = ns;
  }
  gather_ = cal.gather;
  for (auto& g : gather_.gbps) g *= s.pcie_scale;  // the link what-if; the waits beside compute stay
  host_step_ns_ = std::llround(cal.step_overhead.at(b, s.tokens_per_seq));
  eager_launch_ns_ = std::llround(cal.eager_launch_ns);
  // Slowdown beside gathers at this batch, per active CTA count, both
  // clamped to the measured ranges.
  const auto& sl = cal.gather_slowdown;
  slowdown_.assign(257, 0.0);
  if (!sl.batch.empty() && !sl.tokens.empty()) {
    const double bq = std::clamp(b, sl.batch.front(), sl.batch.back());
    for (std::size_t c = 1; c < slowdown_.size(); ++c) {
      const double cq = std::clamp(static_cast<double>(c), sl.tokens.front(), sl.tokens.back());
      slowdown_[c] = std::max(0.0, sl.at(bq, cq) - 1.0);
    }
  }
}

std::optional<double> CalibratedCosts::decode_op_ns(std::uint16_t stage_id) const {
  if (stage_id >= kStages || op_ns_[stage_id] < 0) return std::nullopt;
  return op_ns_[stage_id];
}

}  // namespace foresight::sim

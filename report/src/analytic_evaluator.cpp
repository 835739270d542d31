// Closed-form roofline evaluator (see analytic_evaluator.hpp).
#include "foresight/report/analytic_evaluator.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <fmt/core.h>

namespace foresight::report {

AnalyticEvaluator::AnalyticEvaluator(config::ModelConfig model,
                                     std::map<std::string, config::HardwareConfig> hw)
    : model_(std::move(model)), hw_(std::move(hw)) {}

const config::HardwareConfig& AnalyticEvaluator::hardware(const std::string& name) const {
  auto it = hw_.find(name);
  if (it == hw_.end()) throw std::invalid_argument("evaluator has no hardware '" + name + "'");
  return it->second;
}

double AnalyticEvaluator::default_pcie_gbps(const std::string& name) const {
  return hardware(name).h2d_gbps;
}

ScenarioMetrics AnalyticEvaluator::evaluate(const config::Scenario& scenario) const {
  const auto& hw = hardware(scenario.hardware.value_or(""));
  const auto& m = model_;
  const auto& sp = m.sparse;
  const ResolvedPoint p = resolve_point(scenario, sp.topk_blocks, hw);
  const config::RunConfig& s = p.run;
  const double L = static_cast<double>(m.n_layers);
  const double B = static_cast<double>(s.batch);
  const std::int64_t kv_token_layer = 2 * m.n_kv_heads * m.head_dim * m.dtype_bytes;
  const std::int64_t block_bytes_head = sp.block_tokens * 2 * m.head_dim * m.dtype_bytes;
  const std::int64_t n_blocks = (p.context_tokens + sp.block_tokens - 1) / sp.block_tokens;
  const std::int64_t topk = std::min(sp.topk_blocks, n_blocks);
  const std::int64_t slots = s.cache_blocks > 0 ? s.cache_blocks : topk + 1;
  const bool offload = mode_offloads(s.mode), sparse = mode_is_sparse(s.mode);
  const double hbm = hw.hbm_gbps * 1e9;  // bytes/s

  // Compute per step (ms): linear layers, attention KV reads, selection work.
  const double params = static_cast<double>(m.stored_params());
  const double linear_s = std::max(params * m.dtype_bytes / hbm,
                                   2.0 * params * B / (hw.bf16_tflops * 1e12 * kLinearEfficiency));
  const double ctx = static_cast<double>(p.context_tokens);
  const double ckeys_bytes_seq_layer =
      ctx / static_cast<double>(sp.compress_stride) * m.n_kv_heads * m.head_dim * m.dtype_bytes;
  double attn_bytes = B * L * ctx * kv_token_layer;
  if (sparse)
    attn_bytes =
        B * L *
        (static_cast<double>(topk * sp.block_tokens * kv_token_layer) + ckeys_bytes_seq_layer);
  const auto& traits = config::mode_traits(s.mode);
  const double topk_tokens = std::min(static_cast<double>(m.dsa.topk_tokens), ctx);
  if (traits.selects_tokens())  // the top-k tokens' KV, and the indexer's key of every token
    attn_bytes = B * L *
                 (topk_tokens * static_cast<double>(kv_token_layer) +
                  ctx * static_cast<double>(m.dsa.indexer_dim * m.dtype_bytes));
  double compute_ms = (linear_s + attn_bytes / hbm) * 1e3 + L * kKernelUsPerLayer * 1e-3;

  // Block cache: forced blocks (sink, window) stay resident; the free picks
  // are kept with probability `reuse`, and extra slots catch a share of the
  // fresh picks (uniform over the blocks not selected).
  const std::int64_t forced = std::min(topk, sp.sink_blocks + sp.window_blocks);
  const double free_picks = static_cast<double>(topk - forced);
  const double extra = static_cast<double>(std::max<std::int64_t>(0, slots - (topk + 1)));
  const double unselected = std::max(1.0, static_cast<double>(n_blocks - topk));
  const double reuse = s.workload.reuse;
  const double free_hit = reuse + (1 - reuse) * std::min(1.0, extra / unselected);
  ScenarioMetrics r;
  r.hit_rate = offload && topk > 0 ? (forced + free_picks * free_hit) / static_cast<double>(topk) : 1.0;

  // PCIe: misses of layers >= 1 (layer 0 stays resident) at the gather rate.
  double h2d_ms = 0, exposed_ms = 0;
  if (offload && traits.selects_tokens()) {
    // No GPU token cache: every layer gathers its top-k tokens from host
    // memory each step, inline, at the link's rate.
    r.hit_rate = 0;
    const double layers = static_cast<double>(traits.host_layers(m.n_layers));
    h2d_ms =
        B * layers * topk_tokens * static_cast<double>(kv_token_layer) / (p.pcie_gbps * 1e9) * 1e3 +
        layers * hw.h2d_latency_us * 1e-3;
    exposed_ms = h2d_ms;
  } else if (offload) {
    const double pcie = p.pcie_gbps;
    // The runtime's default gather path (config::KernelOptions), as the plan's runs use.
    const bool bulk = config::bulk_copy_gather(config::KernelOptions{});
    const double gather_gbps =
        config::gather_gbps_16k(hw, bulk, static_cast<double>(s.gather_ctas)) * pcie / hw.h2d_gbps;
    const double miss_bytes = B * (L - 1) * m.n_kv_heads * free_picks * (1 - free_hit) *
                              static_cast<double>(block_bytes_head);
    h2d_ms = miss_bytes / (gather_gbps * 1e9) * 1e3 + (L - 1) * hw.h2d_latency_us * 1e-3;
    compute_ms *= 1 + hw.gather_compute_slowdown * static_cast<double>(s.gather_ctas) /
                          static_cast<double>(hw.sm_count);
    if (config::mode_traits(s.mode).transfer == config::TransferPath::side_prefetch)  // hidden behind
                                                                                    // the previous layer's compute
      exposed_ms = L * std::max(0.0, h2d_ms / (L - 1) - compute_ms / L);
    else
      exposed_ms = h2d_ms;
  }
  const double host_launch_ms = kHostSerialMs + L * 2 * hw.kernel_launch_us * 1e-3;
  const double host_ms = kHostSerialMs + std::max(0.0, host_launch_ms - compute_ms - exposed_ms);
  const double step_ms = compute_ms + exposed_ms + host_ms;

  r.compute_ms = compute_ms;
  r.exposed_h2d_ms = exposed_ms;
  r.pcie_ms = exposed_ms;
  r.host_ms = host_ms;
  r.h2d_total_ms = h2d_ms;
  r.bound_compute = compute_ms / step_ms;
  r.bound_pcie = exposed_ms / step_ms;
  r.bound_host = host_ms / step_ms;
  r.tpot_mean_ms = r.tpot_p50_ms = r.tpot_p99_ms = step_ms;  // a closed form has no step-to-step spread
  r.tokens_per_s = B / (step_ms * 1e-3);

  // Memory: the footprint of the run `foresight run` would make of it.
  set_memory(r, config::footprint(m, s, hw));
  return r;
}

EvaluatorInfo AnalyticEvaluator::info() const {
  EvaluatorInfo i;
  i.name = "analytic roofline model (report/src/analytic_evaluator.cpp)";
  i.trace = "none: a closed-form model of the decode step; no trace replayed";
  i.fidelity.push_back("analytic roofline model: its error against real runs is unmeasured");
  for (const auto& [name, hw] : hw_)
    for (const auto& [key, src] : hw.provenance) i.measured.push_back(name + " " + key + ": " + src);
  i.modelled = {
      fmt::format("linear layers: max(weights / HBM bandwidth, FLOPs / ({:.0f}% of peak bf16))",
                  kLinearEfficiency * 100),
      "attention: reads the selected KV blocks (sparse) or the whole KV (dense) from HBM, plus "
      "the compressed keys for scoring",
      fmt::format("{:.0f} us of small kernels per layer; {:.1f} ms of serial host work per step",
                  kKernelUsPerLayer, kHostSerialMs),
      "cache hit rate: sink and window blocks always hit; other picks stay selected with "
      "probability `reuse`; extra cache slots catch fresh picks uniformly",
      "sparda hides each layer's transfer behind the previous layer's compute; sparse-offload "
      "and sparda-no-prefetch wait for it",
      "DSA modes: attention reads the top-k tokens' KV and the indexer reads one key per cached "
      "token per layer from HBM; dsa-offload gathers every layer's top-k tokens over PCIe at the "
      "link's rate each step (no GPU token cache), before attention",
      "per-token latency p99 = p50 (a closed form has no step-to-step spread)",
      "memory: config::footprint of the run `foresight run` would make (4 decode steps, real "
      "prefill in 512-token chunks); pinned host memory is RAM less the hardware's "
      "host_reserve_bytes"};
  return i;
}

}  // namespace foresight::report

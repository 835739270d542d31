// The L2 reservation what-if of a replay (see replay_l2.hpp).
#include "replay_l2.hpp"

#include <cmath>
#include <stdexcept>

#include <fmt/core.h>

#include "foresight/config/mode.hpp"
#include "foresight/sim/cost_model.hpp"
#include "foresight/trace/stages.hpp"

namespace foresight::sim {

namespace st = trace::stage;

namespace {
constexpr double kMiB = 1024.0 * 1024.0;

[[noreturn]] void bad_reserve(const std::string& where, const std::string& why) {
  throw std::invalid_argument(where + ": l2-reserve: " + why);
}

// Decode ops other than attention that the smaller remaining L2 slows:
// compute kernels, not transfers, gathers (their time is PCIe's or the
// working set's copy), waits or host work.
bool slowed_by_l2(std::string_view stage) {
  return stage != st::attention && stage != st::h2d_gather && stage != st::d2d_gather && stage != st::wait_kv &&
         stage != st::host && stage != st::launch && stage != st::kv_writeback &&
         stage != st::prefill_kv_offload;
}
}  // namespace

std::int64_t l2_reserve_bytes(const config::Scenario& s, const config::HardwareConfig& hw, config::Mode mode,
                              bool has_selections, const std::string& where) {
  if (!s.l2_reserve || *s.l2_reserve <= 0) return 0;
  const auto bytes = static_cast<std::int64_t>(std::llround(*s.l2_reserve * kMiB));
  if (bytes > hw.persisting_l2_max_bytes)
    bad_reserve(where, fmt::format("{} MiB exceeds the largest persisting L2 set-aside of hardware '{}' "
                                   "(persisting_l2_max_bytes {} B = {:.4g} MiB)",
                                   *s.l2_reserve, hw.name, hw.persisting_l2_max_bytes,
                                   static_cast<double>(hw.persisting_l2_max_bytes) / kMiB));
  const auto& t = config::mode_traits(mode);
  if (!t.selects_blocks() && !t.selects_tokens())
    bad_reserve(where, fmt::format("the L2 model replays selections; mode {} selects none (block-sparse modes: "
                                   "sparse, sparse-offload, sparda-no-prefetch, sparda, sparda-no-offload; token "
                                   "modes: dsa)", config::to_string(mode)));
  if (t.selects_tokens() && t.kv_on_host())
    bad_reserve(where, fmt::format("mode {} reads its KV from host memory over PCIe; the L2 model holds KV that "
                                   "lives in HBM (use dsa)", config::to_string(mode)));
  if (!has_selections)
    bad_reserve(where, t.selects_tokens() ? "the trace has no recorded token selections (/token_selections) to replay"
                                          : "the trace has no recorded selections (/selections) to replay through L2");
  if (s.l2_policy == config::L2Policy::token_lru && !t.selects_tokens())
    bad_reserve(where, fmt::format("--l2-policy token-lru needs token selections (dsa); mode {} selects blocks "
                                   "(use lru, block-lru or opt)", config::to_string(mode)));
  return bytes;
}

namespace {
// Hit and read bytes per [step * layers + layer] of e.outcomes.
void index_bytes(L2Effect& e, std::int32_t steps) {
  const std::size_t n = static_cast<std::size_t>(std::max(steps, 0)) * static_cast<std::size_t>(e.layers);
  e.hit_bytes.assign(n, 0.0);
  e.read_bytes.assign(n, 0.0);
  for (const auto& o : e.outcomes) {
    const std::size_t at = static_cast<std::size_t>(o.step) * e.layers + o.layer;
    if (at >= n) continue;
    e.hit_bytes[at] = static_cast<double>(o.hit_bytes);
    e.read_bytes[at] = static_cast<double>(o.bytes);
  }
}
}  // namespace

L2Effect l2_effect(const trace::Trace& t, const SelectionIndex& idx, const std::vector<std::int32_t>& seq_map,
                   const std::vector<bool>& layers, std::int64_t reserve_bytes, config::L2Policy policy,
                   const config::HardwareConfig& hw, double slowdown_at_max) {
  const auto& m = t.header.model;
  L2Effect e;
  e.reserve_bytes = reserve_bytes;
  e.policy = policy;
  e.entry_bytes = static_cast<std::uint64_t>(kv_block_bytes(m));
  e.time = L2TimeModel::of(hw, reserve_bytes, slowdown_at_max);
  e.outcomes = l2_block_outcomes(t, idx, seq_map, layers,
                                 reserve_bytes / static_cast<std::int64_t>(e.entry_bytes), policy);
  e.layers = static_cast<std::int32_t>(m.n_layers);
  index_bytes(e, idx.steps);
  return e;
}

L2Effect l2_token_effect(const trace::Trace& t, const TokenIndex& idx, const std::vector<std::int32_t>& seq_map,
                         std::int64_t reserve_bytes, config::L2Policy policy, const config::HardwareConfig& hw,
                         double slowdown_at_max) {
  const auto& m = t.header.model;
  L2Effect e;
  e.reserve_bytes = reserve_bytes;
  e.policy = policy;
  e.tokens = true;
  const auto tok = static_cast<std::uint64_t>(token_bytes(m));
  e.entry_bytes = policy == config::L2Policy::block_lru ? tok * static_cast<std::uint64_t>(m.sparse.block_tokens) : tok;
  e.time = L2TimeModel::of(hw, reserve_bytes, slowdown_at_max);
  e.outcomes = l2_token_outcomes(t, idx, seq_map, reserve_bytes, policy, tok, m.sparse.block_tokens);
  e.layers = static_cast<std::int32_t>(m.n_layers);
  index_bytes(e, idx.steps);
  return e;
}

DurationFn with_l2(DurationFn base, const L2Effect& e, L2TimeTally* tally) {
  return [base = std::move(base), &e, tally](const OpKey& k, const OpCost& c) -> std::int64_t {
    const std::int64_t ns = base(k, c);
    if (k.phase != trace::Phase::decode) return ns;
    const bool timed = tally && k.step >= tally->first_step;
    if (k.stage == (e.tokens ? st::d2d_gather : st::attention)) {
      const std::size_t at = static_cast<std::size_t>(k.step) * e.layers + static_cast<std::size_t>(k.layer);
      if (k.layer < 0 || k.layer >= e.layers || at >= e.hit_bytes.size()) return ns;
      const std::int64_t fast = e.time.attention_ns(ns, e.hit_bytes[at], e.read_bytes[at]);
      if (timed) tally->kv_saved_ns += static_cast<double>(ns - fast);
      return fast;
    }
    if (!slowed_by_l2(k.stage)) return ns;
    const std::int64_t slow = e.time.other_ns(ns);
    if (timed) tally->other_added_ns += static_cast<double>(slow - ns);
    return slow;
  };
}

nlohmann::json describe_l2(const L2Effect& e) {
  return {{"reserve_bytes", e.reserve_bytes},
          {"policy", config::to_string(e.policy)},
          {"granularity", e.tokens && e.policy != config::L2Policy::block_lru ? "token" : "block"},
          {"entry_bytes", e.entry_bytes},
          {"entries", e.reserve_bytes / static_cast<std::int64_t>(e.entry_bytes)},
          {"l2_gbps", e.time.l2_gbps},
          {"hbm_gbps", e.time.hbm_gbps},
          {"other_compute_factor", e.time.other_factor},
          {"kv_reader", e.tokens ? "d2d_gather (the token gather)" : "attention"},
          {"slowdown_at_max", e.time.slowdown_at_max},
          {"model", fmt::format("the KV reader reads KV hits at l2_gbps instead of hbm_gbps; other decode compute "
                                "lasts other_compute_factor times longer: no cost up to 64% of the persisting "
                                "maximum, then a linear rise to +{:.2f}% at the maximum (the median step change of "
                                "this GPU's measured runs at the maximum, calibration l2_measured, for this "
                                "selection granularity; else +7.8%, H200 block modes, bench/RESULTS-llc.md)",
                                100 * e.time.slowdown_at_max)}};
}

}  // namespace foresight::sim

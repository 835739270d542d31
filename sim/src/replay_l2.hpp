// The L2 reservation what-if of a replay (--l2-reserve, --l2-policy): its
// checks, its outcomes and its effect on op durations, kept beside replay.cpp
// (sim/l2_model.hpp has the model; docs/simulator.md "L2 reservation").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "foresight/config/hardware.hpp"
#include "foresight/config/scenario.hpp"
#include "foresight/sim/l2_model.hpp"
#include "foresight/sim/schedule.hpp"
#include "foresight/sim/selection_replay.hpp"
#include "foresight/sim/token_selections.hpp"
#include "foresight/trace/metrics.hpp"

namespace foresight::sim {

// Bytes reserved (0: none) for the scenario on hardware `hw`. Throws
// std::invalid_argument "<where>: l2-reserve: ..." when the reserve exceeds
// hw.persisting_l2_max_bytes, the mode selects nothing or keeps its KV in
// host memory with tokens (dsa-offload: the model holds HBM-resident KV),
// the trace has no recorded selections of the mode's granularity
// (`has_selections`), or token-lru is asked of a block trace.
std::int64_t l2_reserve_bytes(const config::Scenario& s, const config::HardwareConfig& hw, config::Mode mode,
                              bool has_selections, const std::string& where);

// A reservation replayed on a trace: outcomes per (step, layer) and what
// each attention op of (step, layer) reads, bytes.
struct L2Effect {
  std::int64_t reserve_bytes = 0;
  config::L2Policy policy = config::L2Policy::lru;
  bool tokens = false;                     // DSA: the token gather reads the KV, attention a packed copy
  std::uint64_t entry_bytes = 0;           // one entry of the policy's granularity (trace/metrics.hpp L2Outcome)
  L2TimeModel time;
  std::vector<trace::L2Outcome> outcomes;  // (step, layer) order
  std::int32_t layers = 0;
  std::vector<double> hit_bytes, read_bytes;  // [step * layers + layer]
};
// `slowdown_at_max`: the set-aside's cost at the persisting maximum
// (l2_slowdown_at_max of the calibration, l2_model.hpp).
L2Effect l2_effect(const trace::Trace& t, const SelectionIndex& idx, const std::vector<std::int32_t>& seq_map,
                   const std::vector<bool>& layers, std::int64_t reserve_bytes, config::L2Policy policy,
                   const config::HardwareConfig& hw, double slowdown_at_max);
// The same for a DSA trace's token selections (token_selections.hpp).
L2Effect l2_token_effect(const trace::Trace& t, const TokenIndex& idx, const std::vector<std::int32_t>& seq_map,
                         std::int64_t reserve_bytes, config::L2Policy policy, const config::HardwareConfig& hw,
                         double slowdown_at_max);

// `base` with the reservation's time effect on decode ops (L2TimeModel):
// the op reading the selected KV (attention; DSA: the token gather, whose
// d2d_gather ops must then be timed through the DurationFn) re-timed by its
// (step, layer) hits, other compute slowed; transfers, other gathers, waits
// and host work unchanged. Holds `e` by reference.
// What the reservation changed in the decode ops of the steps from
// `first_step` on (the timed ones), ns: the KV reader's time saved by hits,
// and the time the set-aside added to the other compute ops.
struct L2TimeTally {
  std::int32_t first_step = 0;
  double kv_saved_ns = 0;
  double other_added_ns = 0;
};
// `base` re-timed by the reservation; adds to *tally (may be null) as it goes.
DurationFn with_l2(DurationFn base, const L2Effect& e, L2TimeTally* tally = nullptr);

// scenario.json's "l2": the reservation, the policy and the model's parameters.
nlohmann::json describe_l2(const L2Effect& e);

}  // namespace foresight::sim

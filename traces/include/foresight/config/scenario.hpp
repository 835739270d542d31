// A what-if scenario: one point of `foresight replay`, of a sweep study and of
// the capacity plan's grid. Every knob is optional; unset means "the recorded
// value" in a replay (the trace's mode, batch, ...) and "the default of the
// hardware and model" in the plan (report::resolve_point). The resolved
// settings a replay ran with are written to scenario.json.
//
// One table, scenario_knobs(), names each knob once: its output field, its
// option/study key, its help text (the CLI's, for every command), and how its
// value is parsed, checked and written as JSON. Adding a knob: the field
// below, its row in traces/src/config_scenario.cpp, and its effect (replay:
// sim/src/replay.cpp; plan: report/src/plan_types.cpp and the evaluators).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "foresight/config/mode.hpp"
#include "foresight/config/run.hpp"

namespace foresight::config {

// Eviction in the simulator's L2 reservation (sim/l2_model.hpp):
//   lru        LRU at the trace's granularity (blocks, or DSA's tokens)
//   token-lru  LRU over tokens (the paper's; DSA traces only)
//   block-lru  LRU over KV blocks (on a DSA trace: blocks of all KV heads
//              holding selected tokens, each costing a whole block of space)
//   opt        Belady's optimum at the trace's granularity (the bound)
enum class L2Policy { lru, token_lru, block_lru, opt };
const char* to_string(L2Policy p);
// Throws ConfigError naming `field` for another name.
L2Policy parse_l2_policy(const std::string& s, const std::string& field);

struct Scenario {
  std::optional<std::string> hardware;      // another hardware config (name or path)
  std::optional<double> pcie_gbps;          // PCIe H2D ceiling, GB/s; curves scaled to it
  std::optional<std::int64_t> gather_ctas;  // CTAs of the zero-copy gather kernel
  std::optional<double> compute_scale;      // compute ops run this many times faster (unset: 1)
  std::optional<std::int64_t> cache_blocks; // GPU slots per (layer, KV head) incl. the tail slot
  std::optional<Eviction> policy;           // eviction policy of those slots
  std::optional<Prefetch> prefetch;         // offload modes: none or lookahead
  // Another mode. A replay changes it only between modes that select blocks:
  // the recorded selections stand in for the new mode's.
  std::optional<Mode> mode;
  std::optional<std::int64_t> batch;        // sequences decoded together
  std::optional<std::int64_t> context;      // context tokens per sequence
  std::optional<std::uint64_t> seed;        // resampling seed for extra sequences (unset: 1)
  // MiB of L2 set aside for KV between decode steps (persisting L2), 0 = none,
  // at most the hardware's persisting_l2_max_bytes (checked by the replay).
  std::optional<double> l2_reserve;
  std::optional<L2Policy> l2_policy;        // eviction in that reservation (unset: lru)
  // Sparse prefill traces at another context: how each head's tiles change
  // (config/sparse_prefill.hpp; unset: share).
  std::optional<PrefillGrowth> prefill_growth;
  // Workload locality, P(a block stays selected next step). A plan knob: it
  // shapes the selections a trace is synthesized with; a replay keeps the
  // recorded selections and refuses it.
  std::optional<double> reuse;

  bool operator==(const Scenario&) const = default;
};

// How the command line reads a knob's value (the study and JSON read it as a
// TOML/JSON value of the same kind).
enum class KnobKind {
  text,     // a string (hardware name or path)
  name,     // one of a list of names (mode, policy, prefetch)
  integer,  // a whole number
  tokens,   // a token count: the CLI also accepts "32K" (K = 1024)
  number,   // a real number
};

// Who asks: a replay or sweep (plan-only knobs refused), or the plan.
enum class KnobScope { replay, plan };

struct ScenarioKnob {
  std::string field;    // output name: scenario.json "what_if", results.csv column ("pcie_gbps")
  std::string option;   // CLI option without "--" and study key ("pcie-gbps")
  KnobKind kind = KnobKind::text;
  std::string help;     // what it is, its unit and allowed values: one text for every command
  std::string replay;   // what a replay does with it, appended to the replay/sweep help ("" if nothing)
  std::string unset;    // what a replay uses when it is unset ("the trace's")
  bool replays = true;  // a replay/sweep what-if (a results.csv column); false: plan only
  // Parses and checks a JSON value (number or string) into the scenario;
  // throws std::invalid_argument "<at>: <why>" with the allowed values.
  std::function<void(Scenario&, const nlohmann::json& value, const std::string& at)> set;
  // The knob's value as JSON; null when unset.
  std::function<nlohmann::json(const Scenario&)> get;
};

// Every knob, in output column order: hardware, pcie_gbps, gather_ctas,
// compute_scale, cache_blocks, policy, prefetch, mode, batch, context, seed,
// l2_reserve, l2_policy, then the plan-only reuse.
const std::vector<ScenarioKnob>& scenario_knobs();

// The knob named `name` in either spelling ("pcie-gbps", also as the option
// "--pcie-gbps", or the older study spelling "pcie_gbps"); nullptr for any
// other name.
const ScenarioKnob* find_knob(const std::string& name);
// Like find_knob, but throws std::logic_error for a name not in the table
// (for code that names a knob by a literal).
const ScenarioKnob& knob(const std::string& name);

// The fields of the replay/sweep what-ifs in column order (results.csv).
std::vector<std::string> what_if_fields();
// The option names of the knobs `scope` takes ("pcie-gbps", ...).
std::vector<std::string> knob_options(KnobScope scope);

// Sets knob `name` (either spelling) from a JSON value. Throws
// std::invalid_argument "<where>: <name as spelled>: <why>": the allowed
// values for an impossible one, a did-you-mean and the known keys for an
// unknown name, and why a replay cannot take a plan-only knob.
void set_knob(Scenario& s, const std::string& name, const nlohmann::json& value, const std::string& where,
              KnobScope scope = KnobScope::replay);
// The same from command-line text ("16", "lru"): integers and numbers must
// be whole words; a token count arrives as digits (the CLI expands "32K").
void set_knob_text(Scenario& s, const std::string& name, const std::string& text, const std::string& where,
                   KnobScope scope = KnobScope::replay);

// The set knobs as an object keyed by field, in table order (scenario.json's
// "what_if", results.json, the sweep's resume key).
nlohmann::json to_json(const Scenario& s);
// The inverse of to_json (either spelling of each key); throws like set_knob.
Scenario scenario_from_json(const nlohmann::json& j, const std::string& where,
                            KnobScope scope = KnobScope::plan);

// "field=value,field=value" of the set knobs; "baseline" when none is set.
std::string scenario_label(const Scenario& s);

// The help of a knob's replay option and study key: its help, what a replay
// does with it, and the value used when unset.
std::string replay_help(const ScenarioKnob& k);

}  // namespace foresight::config

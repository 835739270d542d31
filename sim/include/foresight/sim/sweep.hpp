// Sweeps: a study (TOML) expands to a list of scenarios that run in parallel
// over one trace; results land in DIR/results.csv and DIR/results.json in
// study order whatever the thread count, and DIR/scenarios/done.jsonl keeps
// one line per finished scenario, with its resume key, so a rerun skips them
// (docs/reliability.md).
//
// Study file:
//   name = "pcie-vs-policy"            # optional
//   description = "..."                # optional
//   [base]                             # optional: keys set in every scenario
//   seed = 3
//   [grid]                             # cartesian product (scalars = one value)
//   pcie-gbps = [16, 32, 64]
//   policy = ["sparda", "lru", "opt"]
//   [[scenarios]]                      # optional explicit scenarios (after the grid)
//   batch = 32
// Keys: the replay options' names, the what-if knobs of config::scenario_knobs()
// (config/scenario.hpp); the old underscore spelling (pcie_gbps) still works,
// with a note. results.csv has one column per what-if knob, in table order.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "foresight/common/progress.hpp"
#include "foresight/config/scenario.hpp"
#include "foresight/sim/replay.hpp"

namespace foresight::sim {

struct Study {
  std::string name;
  std::vector<config::Scenario> scenarios;
  std::vector<std::string> notes;  // deprecations, each naming the file and key
};

// Most scenarios a study may expand to unless the caller raises it
// (`sweep --max-scenarios`): checked from the axes' sizes before anything is
// expanded, so a typo'd grid is refused at once instead of exhausting memory.
inline constexpr std::uint64_t kDefaultMaxScenarios = 1'000'000;

// Throws std::invalid_argument (or config::ConfigError for TOML syntax)
// naming the file and key (did-you-mean for unknown keys) on any bad input:
// also a value given twice on one grid axis, and more than `max_scenarios`
// scenarios (the count in the message).
Study load_study(const std::filesystem::path& path, std::uint64_t max_scenarios = kDefaultMaxScenarios);
Study parse_study(const std::string& toml_text, const std::string& where,
                  std::uint64_t max_scenarios = kDefaultMaxScenarios);

struct SweepOptions {
  std::filesystem::path out_dir;
  unsigned jobs = 0;            // 0: all cores
  common::Progress progress;    // called as scenarios finish (label); empty: silent
  // The trace file the Replayer was read from: its bytes are hashed into the
  // resume key. Empty: the key hashes the trace in memory (header and ops).
  std::filesystem::path trace_file;
};

// One scenario named by its label and its mean steady decode step.
struct SweepPoint {
  std::string label;
  double step_ms = 0;
};

struct SweepSummary {
  std::size_t ran = 0, skipped = 0;  // simulated now / found done by an earlier run
  // Scenarios done by an earlier run from other inputs (trace bytes, hardware
  // or calibration, tool version): simulated again, never reused.
  std::size_t stale = 0;
  std::string trace_hash;            // hex, of the trace file's bytes (or the trace in memory)
  std::size_t ok = 0;                // rows that fit in memory and have metrics
  std::size_t out_of_memory = 0;     // rows that do not fit (metrics: memory.* only)
  std::size_t failed = 0;            // rows whose replay threw ("error" in results.json)
  std::uint64_t events = 0;
  double seconds = 0;
  SweepPoint fastest, slowest;       // over the ok rows (decode.step_ms.mean)
  // Two or more ok rows, all with the same decode step time (to 1e-9): the
  // what-ifs did not change this trace's timing (e.g. a CPU trace, with no
  // PCIe transfers for a link or a cache to change).
  bool same_step_time = false;
};

// Runs the scenarios not done yet, in DIR = o.out_dir. A rerun reuses a
// finished scenario only when its resume key matches: the scenario's
// what-ifs, the hash of the trace's bytes, the resolved hardware config and
// calibration it replays under, and the tool version. Holds an exclusive
// lock (flock on DIR/sweep.lock) while it runs: a second sweep into DIR
// throws common::InputError at once. An error in a worker thread (a full
// disk) stops the other workers and is rethrown here; nothing is written
// under results.* then.
SweepSummary run_sweep(const Replayer& r, const Study& s, const SweepOptions& o);

}  // namespace foresight::sim

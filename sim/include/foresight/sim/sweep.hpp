// Sweeps: a study (TOML) expands to a list of scenarios that run in parallel
// over one trace; results land in DIR/results.csv and DIR/results.json in
// study order whatever the thread count, and DIR/scenarios/done.jsonl keeps
// one line per finished scenario so a rerun skips them.
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

// Throws std::invalid_argument (or config::ConfigError for TOML syntax)
// naming the file and key (did-you-mean for unknown keys) on any bad input.
Study load_study(const std::filesystem::path& path);
Study parse_study(const std::string& toml_text, const std::string& where);

struct SweepOptions {
  std::filesystem::path out_dir;
  unsigned jobs = 0;            // 0: all cores
  common::Progress progress;    // called as scenarios finish (label); empty: silent
};

// One scenario named by its label and its mean steady decode step.
struct SweepPoint {
  std::string label;
  double step_ms = 0;
};

struct SweepSummary {
  std::size_t ran = 0, skipped = 0;  // simulated now / found done by an earlier run
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

SweepSummary run_sweep(const Replayer& r, const Study& s, const SweepOptions& o);

}  // namespace foresight::sim

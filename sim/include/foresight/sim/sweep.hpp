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
//   pcie_gbps = [16, 32, 64]
//   policy = ["sparda", "lru", "opt"]
//   [[scenarios]]                      # optional explicit scenarios (after the grid)
//   batch = 32
// Keys: scenario_keys() (sim/scenario.hpp).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "foresight/sim/replay.hpp"
#include "foresight/sim/scenario.hpp"

namespace foresight::sim {

struct Study {
  std::string name;
  std::vector<Scenario> scenarios;
};

// Throws std::invalid_argument naming the file and key (did-you-mean for
// unknown keys) on any bad input.
Study load_study(const std::filesystem::path& path);
Study parse_study(const std::string& toml_text, const std::string& where);

struct SweepOptions {
  std::filesystem::path out_dir;
  unsigned jobs = 0;       // 0: all cores
  bool progress = true;    // progress bar on stderr
};

struct SweepSummary {
  std::size_t ran = 0, skipped = 0, failed = 0;
  std::uint64_t events = 0;
  double seconds = 0;
};

SweepSummary run_sweep(const Replayer& r, const Study& s, const SweepOptions& o);

}  // namespace foresight::sim

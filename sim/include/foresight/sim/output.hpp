// Writing replay run folders, through common/files.hpp: every file goes to
// "<name>.partial" first and is renamed when complete.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "foresight/sim/replay.hpp"

namespace foresight::sim {

// DIR/scenario.json, DIR/metrics.json and (if r.timeline and `timeline`)
// DIR/timeline.json (Perfetto trace-event JSON, as `foresight export`).
void write_replay_folder(const std::filesystem::path& dir, const ReplayResult& r, bool timeline);

}  // namespace foresight::sim

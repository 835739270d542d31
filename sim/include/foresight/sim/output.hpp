// Writing run folders: every file goes to "<name>.partial" first and is
// renamed when complete, so nothing half-written ever looks valid.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "foresight/sim/replay.hpp"

namespace foresight::sim {

// Writes `text` to path via path.partial + rename. Throws std::runtime_error
// naming the file on I/O failure.
void write_file_atomic(const std::filesystem::path& path, const std::string& text);
void write_json_atomic(const std::filesystem::path& path, const nlohmann::json& j);

// DIR/scenario.json, DIR/metrics.json and (if r.timeline and `timeline`)
// DIR/timeline.json (Perfetto trace-event JSON, as `foresight export`).
void write_replay_folder(const std::filesystem::path& dir, const ReplayResult& r, bool timeline);

}  // namespace foresight::sim

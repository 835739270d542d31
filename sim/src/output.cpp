// Replay run folders (see output.hpp).
#include "foresight/sim/output.hpp"

#include "foresight/common/files.hpp"
#include "foresight/trace/export.hpp"

namespace foresight::sim {

using common::write_json_atomic;

void write_replay_folder(const std::filesystem::path& dir, const ReplayResult& r, bool timeline) {
  std::filesystem::create_directories(dir);
  write_json_atomic(dir / "scenario.json", r.scenario);
  write_json_atomic(dir / "metrics.json", metrics_to_json(r.metrics));
  if (timeline && r.timeline) write_json_atomic(dir / "timeline.json", trace::to_perfetto(*r.timeline));
}

}  // namespace foresight::sim

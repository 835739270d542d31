// Atomic writes of run-folder files (see output.hpp).
#include "foresight/sim/output.hpp"

#include <fstream>
#include <stdexcept>

#include "foresight/trace/export.hpp"

namespace foresight::sim {

void write_file_atomic(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::path tmp = path;
  tmp += ".partial";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw std::runtime_error("cannot write " + tmp.string());
    f << text;
    f.flush();
    if (!f) throw std::runtime_error("write failed: " + tmp.string());
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) throw std::runtime_error("cannot rename " + tmp.string() + " to " + path.string() + ": " + ec.message());
}

void write_json_atomic(const std::filesystem::path& path, const nlohmann::json& j) {
  write_file_atomic(path, j.dump(2) + "\n");
}

void write_replay_folder(const std::filesystem::path& dir, const ReplayResult& r, bool timeline) {
  std::filesystem::create_directories(dir);
  write_json_atomic(dir / "scenario.json", r.scenario);
  write_json_atomic(dir / "metrics.json", metrics_to_json(r.metrics));
  if (timeline && r.timeline) write_json_atomic(dir / "timeline.json", trace::to_perfetto(*r.timeline));
}

}  // namespace foresight::sim

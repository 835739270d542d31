// Atomic writing of the report files (see render.hpp).
#include <fstream>
#include <stdexcept>
#include <system_error>

#include <unistd.h>

#include "foresight/report/render.hpp"

namespace foresight::report {

namespace fs = std::filesystem;

void write_files_atomically(const fs::path& dir,
                            const std::vector<std::pair<std::string, std::string>>& files) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw std::runtime_error("cannot create output folder " + dir.string() + ": " + ec.message());
  std::vector<fs::path> temps;
  auto cleanup = [&] {
    for (const auto& t : temps) fs::remove(t, ec);
  };
  for (const auto& [name, content] : files) {
    const fs::path tmp = dir / ("." + name + ".tmp." + std::to_string(::getpid()));
    temps.push_back(tmp);
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.close();
    if (!out) {
      cleanup();
      throw std::runtime_error("cannot write " + (dir / name).string());
    }
  }
  // Every file is complete on disk; refuse before renaming any if one target
  // cannot be replaced, so the folder never mixes old and new reports.
  for (const auto& [name, content] : files)
    if (fs::is_directory(dir / name)) {
      cleanup();
      throw std::runtime_error("cannot write " + (dir / name).string() + ": it is a directory");
    }
  for (std::size_t i = 0; i < files.size(); ++i) {
    fs::rename(temps[i], dir / files[i].first, ec);
    if (ec) {
      cleanup();
      throw std::runtime_error("cannot rename into " + (dir / files[i].first).string() + ": " +
                               ec.message());
    }
  }
}

void write_reports(const Plan& plan, const fs::path& dir) {
  write_files_atomically(dir, {{"report.html", render_html(plan)},
                               {"report.md", render_markdown(plan)},
                               {"plan.json", plan_to_json(plan).dump(1) + "\n"}});
}

std::string context_label(std::int64_t tokens) {
  if (tokens % 1024 == 0) return std::to_string(tokens / 1024) + "K";
  return std::to_string(tokens);
}

double to_gib(std::int64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024 * 1024); }

}  // namespace foresight::report

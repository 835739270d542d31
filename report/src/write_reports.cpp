// Writing the report files (see render.hpp).
#include "foresight/common/files.hpp"
#include "foresight/report/render.hpp"

namespace foresight::report {

namespace fs = std::filesystem;

void write_reports(const Plan& plan, const fs::path& dir) {
  common::write_files_atomic(dir, {{"report.html", render_html(plan)},
                                   {"report.md", render_markdown(plan)},
                                   {"plan.json", plan_to_json(plan).dump(1) + "\n"}});
}

std::string context_label(std::int64_t tokens) {
  if (tokens % 1024 == 0) return std::to_string(tokens / 1024) + "K";
  return std::to_string(tokens);
}

double to_gib(std::int64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024 * 1024); }

}  // namespace foresight::report

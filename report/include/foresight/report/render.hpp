// The plan's three outputs: report.html (self-contained, inline SVG plots),
// report.md (recommendations and tables) and plan.json (machine-readable
// recommendations and the full grid).
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "foresight/report/plan.hpp"

namespace foresight::report {

std::string render_html(const Plan& plan);
std::string render_markdown(const Plan& plan);
nlohmann::json plan_to_json(const Plan& plan);

// report.html, report.md and plan.json into `dir`, all or none
// (common::write_files_atomic).
void write_reports(const Plan& plan, const std::filesystem::path& dir);

// Shared helpers for the renderers.
std::string context_label(std::int64_t tokens);   // 131072 -> "128K"
double to_gib(std::int64_t bytes);
// The table's step columns joined by `sep`: compute, exposed H2D and hidden
// H2D, ms per mean step.
std::string step_columns(const ScenarioMetrics& m, const std::string& sep);
// Time to first token, ms, or "-" where no prefill was modelled.
std::string ttft_cell(const ScenarioMetrics& m);
// Which latency each number is (mean vs p99), for the assumptions.
std::string latency_note();
// Where the plan's default block reuse comes from (" (measured ...)" when it
// is the workload model's measured default; empty otherwise).
std::string reuse_source(double reuse);
// The DSA modes' token locality when the plan has one ("" otherwise).
std::string token_locality_note(const PlanRequest& r);
// The knee-or-maximum rule with its threshold, for the assumptions.
std::string choice_rule(double knee_min_gain);

}  // namespace foresight::report

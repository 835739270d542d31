// Reports are written into a folder (created); the all-or-none writing is
// tested with common::write_files_atomic (tests/traces/test_common.cpp).
#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include "catch.hpp"
#include "temp_files.hpp"
#include "fake_evaluator.hpp"
#include "foresight/report/render.hpp"

namespace fs = std::filesystem;
using namespace foresight::report;

using foresight::testing::entries;
using foresight::testing::slurp;

namespace {
fs::path fresh_dir(const std::string& name) { return foresight::testing::fresh_dir("report-test-" + name); }
}  // namespace

TEST_CASE("write_reports writes the three files and nothing else") {
  const auto dir = fresh_dir("ok");
  foresight::test::FakeEvaluator ev;
  PlanRequest req;
  req.hardware = {"gpu"};
  req.contexts = {4096};
  req.batches = {1, 2};
  write_reports(run_plan(req, ev), dir / "nested");
  REQUIRE(entries(dir / "nested") == 3);
  REQUIRE(slurp(dir / "nested" / "report.html").rfind("<!DOCTYPE html>", 0) == 0);
  const auto j = nlohmann::json::parse(slurp(dir / "nested" / "plan.json"));
  REQUIRE(j["schema"] == "foresight.plan/1");
  REQUIRE(j["cells"].size() == 5);
  fs::remove_all(dir);
}

// Calibration files (config/calibration.hpp): the shipped H200 file loads,
// interpolation by hand-computed cases, filled cells, and clear errors naming
// the file and the key for broken files.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "foresight/config/calibration.hpp"
#include "foresight/config/load.hpp"

using namespace foresight::config;
using nlohmann::json;

namespace {

const std::string kConfigs = FORESIGHT_TEST_CONFIGS;

json table(json ns) {
  return {{"batch", {1, 4}}, {"tokens", {1024, 4096}}, {"ns", std::move(ns)}};
}

json minimal() {
  return {{"schema", kCalibrationSchema},
          {"hardware", "h200"},
          {"model", "minicpm4.1-8b"},
          {"stages", {{"mlp", table({{100, 100}, {400, 400}})}}},
          {"gather", {{"ctas", {4, 16}}, {"latency_ns", {1000, 2000}}, {"gbps", {20, 40}},
                      {"beside_ns", {3000, 5000}}}},
          {"gather_slowdown", {{"batch", {1, 16}}, {"ctas", {4, 16}}, {"factor", {{1.1, 1.2}, {1.2, 1.4}}}}},
          {"step_overhead", table({{1000, 1000}, {2000, 2000}})},
          {"eager_launch_ns", 5000}};
}

std::string error_of(const json& j) {
  try {
    calibration_from_json(j, "cal.json");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("the shipped H200 calibration loads and covers every sparse mode's decode stages") {
  const auto c = load_calibration(std::filesystem::path(kConfigs) / "calibration" / "h200.json");
  CHECK(c.hardware == "h200");
  CHECK(c.model == "minicpm4.1-8b");
  for (const char* k : {"mlp", "attention/sparse", "score/forecast", "score/query", "qkvf_gemm/forecast",
                        "ws_update", "lm_head", "embed"})
    CHECK(c.stages.count(k) == 1);
  CHECK(c.gather.ctas.size() >= 4);
  CHECK(c.fidelity.contains("held_out"));
}

TEST_CASE("stage tables interpolate in log-log and extrapolate along the edge segment") {
  const auto c = calibration_from_json(minimal(), "cal.json");
  const auto& t = c.stages.at("mlp");
  CHECK(t.at(1, 1024) == Approx(100));
  CHECK(t.at(4, 4096) == Approx(400));
  CHECK(t.at(2, 2048) == Approx(200));   // ns doubles with batch: a power law, exact in log-log
  CHECK(t.at(16, 1024) == Approx(1600));  // extrapolated along the batch edge segment
  CHECK(t.at(0.5, 1024) == Approx(100));  // batch below 1 is batch 1
}

TEST_CASE("gather time and the wait beside compute interpolate in log2(ctas) and clamp") {
  const auto c = calibration_from_json(minimal(), "cal.json");
  const auto& g = c.gather;
  CHECK(g.time_ns(20000, 4) == Approx(1000 + 1000));   // 20 kB at 20 GB/s = 1000 ns
  CHECK(g.time_ns(30000, 8) == Approx(1500 + 1000));   // halfway: 1500 ns, 30 GB/s
  CHECK(g.beside_at(2) == Approx(3000));
  CHECK(g.beside_at(8) == Approx(4000));
  CHECK(g.beside_at(64) == Approx(5000));
  CHECK(c.gather_slowdown.at(4, 8) == Approx(std::pow(1.1 * 1.2 * 1.2 * 1.4, 0.25)));  // log-log centre
}

TEST_CASE("unmeasured cells (null) are filled from the measured ones") {
  json j = minimal();
  j["stages"]["mlp"] = {{"batch", {1, 2, 4}}, {"tokens", {1024}}, {"ns", {{100}, {200}, nullptr}}};
  j["stages"]["mlp"]["ns"][2] = json::array({nullptr});
  const auto c = calibration_from_json(j, "cal.json");
  CHECK(c.stages.at("mlp").ns[2][0] == Approx(400));
}

TEST_CASE("broken calibration files name the file and the key") {
  json j = minimal();
  j["schema"] = "foresight-calibration/0";
  CHECK_THAT(error_of(j), Catch::Contains("cal.json") && Catch::Contains("schema"));
  j = minimal();
  j["stages"]["mlp"]["ns"][0][1] = -5;
  CHECK_THAT(error_of(j), Catch::Contains("stages.mlp.ns") && Catch::Contains("positive"));
  j = minimal();
  j["stages"]["mlp"]["ns"][1] = {1};
  CHECK_THAT(error_of(j), Catch::Contains("row 1"));
  j = minimal();
  j["stages"]["mlp"]["batch"] = {4, 1};
  CHECK_THAT(error_of(j), Catch::Contains("ascending"));
  j = minimal();
  j["gather"].erase("beside_ns");
  CHECK_THAT(error_of(j), Catch::Contains("gather.beside_ns"));
  j = minimal();
  j["gather_slowdown"]["factor"][0] = {1.1};
  CHECK_THAT(error_of(j), Catch::Contains("gather_slowdown.factor") && Catch::Contains("ctas"));
  j = minimal();
  j["gather"]["gbps"] = {20, 0};
  CHECK_THAT(error_of(j), Catch::Contains("gbps"));
  j = minimal();
  j["stages"]["mlp"]["ns"] = {{nullptr, nullptr}, {nullptr, nullptr}};
  CHECK_THAT(error_of(j), Catch::Contains("no measured cell"));
  j = minimal();
  j["eager_launch_nss"] = 1;
  CHECK_THAT(error_of(j), Catch::Contains("eager_launch_nss"));
  CHECK_THROWS_AS(load_calibration("/nonexistent/cal.json"), ConfigError);
}

TEST_CASE("measured L2 reservations load, round-trip, and bad entries are named") {
  const auto shipped = load_calibration(std::filesystem::path(kConfigs) / "calibration" / "h200.json");
  REQUIRE(!shipped.l2_measured.points.empty());
  bool block = false, token = false;
  for (const auto& p : shipped.l2_measured.points) {
    block |= mode_traits(p.mode).selects_blocks();
    token |= mode_traits(p.mode).selects_tokens();
  }
  CHECK((block && token));
  json j = minimal();
  j["l2_measured"] = {{"source", "bench/RESULTS-llc.md"},
                      {"points", {{{"mode", "dsa"}, {"context", 32768}, {"batch", 16}, {"reserve_mib", 8},
                                   {"step_change", -0.002}}}}};
  const auto c = calibration_from_json(j, "cal.json");
  REQUIRE(c.l2_measured.points.size() == 1);
  CHECK(c.l2_measured.points[0].mode == Mode::dsa);
  CHECK(c.l2_measured.points[0].step_change == -0.002);
  CHECK(to_json(c)["l2_measured"] == j["l2_measured"]);
  auto bad = j;
  bad["l2_measured"]["points"][0]["mode"] = "dsa2";
  CHECK_THAT(error_of(bad), Catch::Contains("l2_measured.points[0].mode"));
  bad = j;
  bad["l2_measured"]["points"][0]["reserve_mib"] = 0;
  CHECK_THAT(error_of(bad), Catch::Contains("l2_measured.points[0].reserve_mib"));
  bad = j;
  bad["l2_measured"]["points"][0]["step_change"] = -1;
  CHECK_THAT(error_of(bad), Catch::Contains("step_change"));
  bad = j;
  bad["l2_measured"]["points"] = {3};
  CHECK_THAT(error_of(bad), Catch::Contains("l2_measured.points[0]"));
  bad = j;
  bad["l2_measured"]["points"][0]["batchh"] = 1;
  CHECK_THAT(error_of(bad), Catch::Contains("batchh"));
}

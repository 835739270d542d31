// End-to-end: foresight synth -> replay (--validate, what-ifs) -> sweep, and
// bad command lines, through the real executable.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "cli_run.hpp"
#include "temp_files.hpp"

#ifdef FORESIGHT_BIN
namespace fs = std::filesystem;

namespace {
int sh(const std::string& args, const fs::path& log) { return foresight::testing::run_cli(FORESIGHT_BIN, args, log); }
using foresight::testing::slurp;
}  // namespace

TEST_CASE("synth, replay and sweep from the command line", "[sim][cli]") {
  const fs::path d = fs::temp_directory_path() / "foresight-test-cli-sim";
  fs::remove_all(d);
  fs::create_directories(d);
  const fs::path log = d / "log.txt";
  REQUIRE(sh("synth --model tiny --mode sparda-no-prefetch --batch 2 --context 1024 --steps 3 --out " +
                 (d / "syn").string(), log) == 0);
  REQUIRE(fs::exists(d / "syn" / "trace.h5"));
  const auto cfg = nlohmann::json::parse(slurp(d / "syn" / "config.json"));
  CHECK(cfg["assumptions"].size() >= 5u);
  const std::string tr = (d / "syn" / "trace.h5").string();

  REQUIRE(sh("replay " + tr + " --validate --out " + (d / "val").string(), log) == 0);
  const std::string out = slurp(log);
  CHECK(out.find("(exact)") != std::string::npos);
  // Steady decode first, then warm-up and prefill; no total mixing them.
  CHECK(out.find("steady decode") < out.find("warm-up decode"));
  CHECK(out.find("warm-up decode") < out.find("prefill"));
  CHECK(out.find("total") == std::string::npos);
  const auto v = nlohmann::json::parse(slurp(d / "val" / "validate.json"));
  CHECK(v["exact"] == true);
  CHECK(v["steady"]["steps"] == 3);  // --steps 3 after the default --warmup 1
  CHECK(v["warmup"]["steps"] == 1);
  CHECK(v["steady"]["mean_step_rel_error"] == 0.0);

  REQUIRE(sh("replay " + tr + " --prefetch lookahead --pcie-gbps 16 --timeline --out " +
                 (d / "wi").string(), log) == 0);
  // Printed in readable units (full precision stays in metrics.json).
  const std::string printed = slurp(log);
  CHECK(std::regex_search(printed, std::regex(R"(decode\.step_ms\.mean +[0-9]+\.[0-9]{3,4} ms)")));
  CHECK(std::regex_search(printed, std::regex(R"(memory\.gpu_bytes +[0-9.]+ (GiB|MiB))")));
  CHECK(std::regex_search(printed, std::regex(R"(cache\.hit_rate +[0-9.]+%)")));
  CHECK_FALSE(std::regex_search(printed, std::regex(R"([0-9]\.[0-9]{6,})")));  // no 4.3835049999999995
  const auto m = nlohmann::json::parse(slurp(d / "wi" / "metrics.json"));
  for (const char* k : {"mean", "p50", "p99"}) CHECK(m["decode"]["step_ms"][k].is_number());
  for (const char* k : {"bytes", "total_ms", "exposed_ms", "hidden_ms"}) CHECK(m["h2d"][k].is_number());
  for (const char* k : {"compute", "pcie", "host"}) CHECK(m["bound"][k].is_number());
  for (const char* k : {"gpu_bytes", "host_bytes", "fits"}) CHECK(m["memory"][k].is_number());
  CHECK(m["cache"]["hit_rate"].is_number());
  CHECK(m["decode"]["tokens_per_s"].get<double>() > 0);
  CHECK(fs::exists(d / "wi" / "timeline.json"));
  CHECK(fs::exists(d / "wi" / "scenario.json"));
  CHECK_FALSE(fs::exists(d / "wi" / "metrics.json.partial"));

  // Bad input: unknown option, impossible values, validate with what-ifs, bad study key.
  CHECK(sh("replay " + tr + " --pcie-gpbs 3 --out " + (d / "x").string(), log) != 0);
  CHECK(sh("replay " + tr + " --gather-ctas 0 --out " + (d / "x").string(), log) == 2);
  CHECK(slurp(log).find("gather-ctas: must be in [1, 1024]") != std::string::npos);  // named as the option
  CHECK(sh("replay " + tr + " --validate --batch 4 --out " + (d / "x").string(), log) == 2);
  CHECK(sh("replay " + (d / "missing.h5").string() + " --out " + (d / "x").string(), log) == 2);
  CHECK(sh("synth --model tiny --batch 0 --out " + (d / "x").string(), log) == 2);
  { std::ofstream(d / "bad.toml") << "[grid]\npcie-gpbs = [1]\n"; }
  CHECK(sh("sweep " + tr + " --study " + (d / "bad.toml").string() + " --out " + (d / "sw").string(), log) == 2);
  CHECK(slurp(log).find("bad.toml") != std::string::npos);
  CHECK(slurp(log).find("did you mean 'pcie-gbps'") != std::string::npos);
  { std::ofstream(d / "ok.toml") << "[grid]\npcie-gbps = [4, 8]\n"; }
  REQUIRE(sh("sweep " + tr + " --quiet --study " + (d / "ok.toml").string() + " --out " + (d / "sw").string(), log) == 0);
  CHECK(fs::exists(d / "sw" / "results.csv"));
  CHECK(slurp(log).find("2 scenarios: 2 fit in memory, 0 out of memory, 0 failed") != std::string::npos);
  CHECK(slurp(log).find("mean decode step: fastest ") != std::string::npos);
  CHECK(slurp(log).find("note:") == std::string::npos);
  // The old spelling still runs, with a note naming the file and the key;
  // out-of-memory scenarios are counted apart from failures.
  { std::ofstream(d / "old.toml") << "[grid]\nbatch = [2, 65536]\n[base]\ncontext = 4096\npcie_gbps = 8\n"; }
  REQUIRE(sh("sweep " + tr + " --study " + (d / "old.toml").string() + " --out " + (d / "sw2").string(), log) == 0);
  const std::string swept = slurp(log);
  CHECK(swept.find("2 scenarios: 1 fit in memory, 1 out of memory, 0 failed") != std::string::npos);
  CHECK(swept.find("old.toml: base.pcie_gbps: write 'pcie-gbps'") != std::string::npos);
  CHECK(swept.find("[#") == std::string::npos);  // no progress bar: stderr is not a terminal
  fs::remove_all(d);
}
#endif

// DSA (token-granular) traces through the real executable: synth writes token
// selections, replay re-times them and replays them through an L2
// reservation under each policy; knobs that do not apply to DSA exit 2.
#include <filesystem>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "cli_run.hpp"
#include "temp_files.hpp"

#ifdef FORESIGHT_BIN
namespace fs = std::filesystem;

namespace {
int sh(const std::string& args, const fs::path& log) { return foresight::testing::run_cli(FORESIGHT_BIN, args, log); }
using foresight::testing::slurp;
nlohmann::json metrics(const fs::path& dir) { return nlohmann::json::parse(slurp(dir / "metrics.json")); }
bool says(const fs::path& log, const char* what) { return slurp(log).find(what) != std::string::npos; }
}  // namespace

TEST_CASE("dsa: synth, inspect and replay with L2 what-ifs", "[sim][cli][dsa]") {
  const fs::path d = fs::temp_directory_path() / "foresight-test-cli-dsa";
  fs::remove_all(d);
  fs::create_directories(d);
  const fs::path log = d / "log.txt";
  REQUIRE(sh("synth --mode dsa --hardware h200 --batch 2 --context 8K --steps 3 --out " + (d / "t").string(),
             log) == 0);
  const std::string tr = (d / "t" / "trace.h5").string();
  REQUIRE(sh("inspect " + tr, log) == 0);
  CHECK(says(log, "token"));
  REQUIRE(sh("replay " + tr + " --out " + (d / "base").string(), log) == 0);
  REQUIRE(sh("replay " + tr + " --l2-reserve 24 --l2-policy token-lru --out " + (d / "tok").string(), log) == 0);
  REQUIRE(sh("replay " + tr + " --l2-reserve 24 --l2-policy opt --out " + (d / "opt").string(), log) == 0);
  REQUIRE(sh("replay " + tr + " --l2-reserve 24 --l2-policy block-lru --out " + (d / "blk").string(), log) == 0);
  REQUIRE(sh("replay " + tr + " --context 16K --out " + (d / "ctx").string(), log) == 0);
  const auto base = metrics(d / "base"), tok = metrics(d / "tok"), opt = metrics(d / "opt");
  REQUIRE(tok.contains("l2"));
  const double h_tok = tok["l2"]["hit_rate"], h_opt = opt["l2"]["hit_rate"];
  const double h_blk = metrics(d / "blk")["l2"]["hit_rate"];
  CHECK((h_tok >= 0.0 && h_tok <= 1.0 && h_blk >= 0.0 && h_blk <= 1.0));
  CHECK(h_opt >= h_tok);
  CHECK(h_opt >= h_blk);
  // Twice the context: the indexer scans twice the keys; top-k attention stays.
  CHECK(metrics(d / "ctx")["decode"]["step_ms"]["mean"].get<double>() >
        base["decode"]["step_ms"]["mean"].get<double>());
  fs::remove_all(d);
}

TEST_CASE("dsa: plan weighs the DSA modes and advises on an L2 reservation", "[sim][cli][dsa]") {
  const fs::path d = fs::temp_directory_path() / "foresight-test-cli-dsa-plan";
  fs::remove_all(d);
  const fs::path log = d.string() + ".log";
  REQUIRE(sh("plan --modes dsa dsa-offload --context 8K --batches 1 4 --steps 2 --out " + d.string(), log) == 0);
  const auto plan = nlohmann::json::parse(slurp(d / "plan.json"));
  const auto& rec = plan["recommendations"].at(0);
  // dsa keeps its KV in HBM: it wins at this size, and the reservations are tried on it.
  CHECK(rec["choice"]["scenario"]["mode"] == "dsa");
  CHECK(rec["by_l2"].size() == 4);  // 8, 16, 24 MiB and the H200's 37.5 MiB set-aside
  CHECK(rec["by_l2"].at(0)["metrics"]["l2"]["hit_rate"].is_number());
  CHECK(rec["l2"].get<std::string>().find("Measured on h200") != std::string::npos);
  for (const auto& cell : plan["cells"]) {
    CHECK(cell["grid"].at(0)["scenario"]["cache_blocks"].is_null());  // no block cache to size
    CHECK(cell["by_reuse"].size() == plan["request"]["reuse"].size());
  }
  fs::remove_all(d);
  fs::remove(log);
}

TEST_CASE("dsa: knobs that do not apply exit 2 and say why", "[sim][cli][dsa]") {
  const fs::path d = fs::temp_directory_path() / "foresight-test-cli-dsa-bad";
  fs::remove_all(d);
  fs::create_directories(d);
  const fs::path log = d / "log.txt";
  REQUIRE(sh("synth --mode dsa --hardware h200 --context 8K --steps 2 --out " + (d / "t").string(), log) == 0);
  REQUIRE(sh("synth --mode dsa-offload --hardware h200 --context 8K --steps 2 --out " + (d / "o").string(), log) ==
          0);
  const std::string tr = (d / "t" / "trace.h5").string();
  CHECK(sh("replay " + tr + " --mode sparda --out " + (d / "a").string(), log) == 2);
  CHECK(says(log, "mode"));
  CHECK(sh("replay " + tr + " --policy lru --out " + (d / "p").string(), log) == 2);
  CHECK(says(log, "block cache"));
  CHECK(sh("replay " + (d / "o" / "trace.h5").string() + " --l2-reserve 8 --out " + (d / "b").string(), log) == 2);
  CHECK(says(log, "l2-reserve"));
  const std::string block = (fs::path(__FILE__).parent_path().parent_path().parent_path() / "traces" / "samples" /
                             "h200-sparda-b16-32k.h5").string();
  CHECK(sh("replay " + block + " --l2-reserve 8 --l2-policy token-lru --out " + (d / "c").string(), log) == 2);
  CHECK(says(log, "token-lru"));
  fs::remove_all(d);
}
#endif

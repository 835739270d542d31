// Sweeps: study parsing, errors, determinism across thread counts, resume.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "catch.hpp"
#include "foresight/common/errors.hpp"
#include "foresight/sim/sweep.hpp"
#include "sim_fixtures.hpp"

using namespace foresight;
namespace fs = std::filesystem;

namespace {
std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
fs::path fresh_dir(const std::string& name) {
  fs::path d = fs::temp_directory_path() / ("foresight-test-sweep-" + name);
  fs::remove_all(d);
  return d;
}
const char* kStudy = R"(
name = "t"
[base]
seed = 2
[grid]
pcie-gbps = [8, 32]
policy = ["lru", "opt"]
cache-blocks = [10, 12]
[[scenarios]]
prefetch = "none"
[[scenarios]]
batch = 5
)";
}  // namespace

TEST_CASE("a study expands its grid in a stable order plus explicit scenarios", "[sim][sweep]") {
  const auto st = sim::parse_study(kStudy, "t.toml");
  REQUIRE(st.scenarios.size() == 10u);
  CHECK(config::scenario_label(st.scenarios[0]) == "pcie_gbps=8.0,cache_blocks=10,policy=lru,seed=2");
  CHECK(config::scenario_label(st.scenarios[1]) == "pcie_gbps=8.0,cache_blocks=10,policy=opt,seed=2");
  CHECK(config::scenario_label(st.scenarios[7]) == "pcie_gbps=32.0,cache_blocks=12,policy=opt,seed=2");
  CHECK(config::scenario_label(st.scenarios[8]) == "prefetch=none,seed=2");
  CHECK(config::scenario_label(st.scenarios[9]) == "batch=5,seed=2");
  CHECK(st.notes.empty());
}

TEST_CASE("study keys spelled with underscores still work, with a note naming file and key", "[sim][sweep]") {
  const auto st = sim::parse_study("[base]\ngather_ctas = 8\n[grid]\npcie_gbps = [8, 32]\n", "old.toml");
  REQUIRE(st.scenarios.size() == 2u);
  CHECK(config::scenario_label(st.scenarios[1]) == "pcie_gbps=32.0,gather_ctas=8");
  REQUIRE(st.notes.size() == 2u);
  CHECK_THAT(st.notes[0], Catch::Contains("old.toml") && Catch::Contains("base.gather_ctas") &&
                              Catch::Contains("'gather-ctas'") && Catch::Contains("deprecated"));
  CHECK_THAT(st.notes[1], Catch::Contains("grid.pcie_gbps") && Catch::Contains("'pcie-gbps'"));
  // The same study in the CLI's spelling expands identically.
  const auto now = sim::parse_study("[base]\ngather-ctas = 8\n[grid]\npcie-gbps = [8, 32]\n", "new.toml");
  CHECK(config::to_json(now.scenarios[1]) == config::to_json(st.scenarios[1]));
}

TEST_CASE("unknown or bad study keys name the file and suggest a fix", "[sim][sweep]") {
  CHECK_THROWS_WITH(sim::parse_study("[grid]\npolcy = [\"lru\"]\n", "s.toml"),
                    Catch::Contains("s.toml") && Catch::Contains("did you mean 'policy'"));
  CHECK_THROWS_WITH(sim::parse_study("gird = 3\n", "s.toml"),
                    Catch::Contains("s.toml") && Catch::Contains("did you mean 'grid'"));
  CHECK_THROWS_WITH(sim::parse_study("[grid]\nbatch = []\n", "s.toml"), Catch::Contains("empty list"));
  CHECK_THROWS_WITH(sim::parse_study("[grid]\nbatch = [0]\n", "s.toml"), Catch::Contains("batch"));
  CHECK_THROWS_WITH(sim::parse_study("[grid\n", "s.toml"), Catch::Contains("s.toml:1:"));
  CHECK_THROWS_WITH(sim::parse_study("[grid]\npcie-gpbs = [1]\n", "s.toml"),
                    Catch::Contains("did you mean 'pcie-gbps'"));
  CHECK_THROWS_WITH(sim::load_study("/nonexistent/x.toml"), Catch::Contains("cannot open"));
  // The plan's workload knob is not a replay what-if: refused with the reason.
  CHECK_THROWS_WITH(sim::parse_study("[grid]\nreuse = [0.5]\n", "s.toml"),
                    Catch::Contains("s.toml: grid: reuse") && Catch::Contains("plan knob"));
}

TEST_CASE("sweep output is byte-identical across thread counts and resumes", "[sim][sweep]") {
  sim::Replayer rp(sim::synthesize(testing::tiny_synth(config::Mode::sparda, 3, 1024, 6)));
  const auto st = sim::parse_study(kStudy, "t.toml");
  sim::SweepOptions one, four;
  one.out_dir = fresh_dir("j1");
  one.jobs = 1;
  four.out_dir = fresh_dir("j4");
  four.jobs = 4;
  const auto s1 = sim::run_sweep(rp, st, one);
  const auto s4 = sim::run_sweep(rp, st, four);
  CHECK(s1.ran == 10u);
  CHECK(s1.failed == 0u);
  CHECK(s1.ok == 10u);
  CHECK_FALSE(s1.same_step_time);  // the link and the cache change the step
  CHECK(s1.fastest.step_ms < s1.slowest.step_ms);
  CHECK(s4.ran == 10u);
  const std::string csv = slurp(one.out_dir / "results.csv");
  CHECK(csv == slurp(four.out_dir / "results.csv"));
  CHECK(slurp(one.out_dir / "results.json") == slurp(four.out_dir / "results.json"));
  CHECK(std::count(csv.begin(), csv.end(), '\n') == 11);
  // Readers (tests, notebooks) rely on the columns' names and order.
  CHECK(csv.rfind("index,label,hardware,pcie_gbps,gather_ctas,compute_scale,cache_blocks,policy,prefetch,"
                  "mode,batch,context,seed,l2_reserve,l2_policy,prefill_growth,status,", 0) == 0);
  CHECK(csv.find("decode.step_ms.p99") != std::string::npos);
  // Rerun in the same folder: everything is skipped, output unchanged.
  const auto again = sim::run_sweep(rp, st, four);
  CHECK(again.ran == 0u);
  CHECK(again.skipped == 10u);
  CHECK(slurp(four.out_dir / "results.csv") == csv);
  // A torn last line of the log (killed mid-write) reruns only that scenario.
  const auto log = four.out_dir / "scenarios" / "done.jsonl";
  const std::string text = slurp(log);
  fs::resize_file(log, text.size() - 10);
  const auto torn = sim::run_sweep(rp, st, four);
  CHECK(torn.ran == 1u);
  CHECK(torn.skipped == 9u);
  CHECK(slurp(four.out_dir / "results.csv") == csv);
  CHECK(sim::run_sweep(rp, st, four).skipped == 10u);
  fs::remove_all(one.out_dir);
  fs::remove_all(four.out_dir);
}

TEST_CASE("a scenario that cannot run is reported, others still run", "[sim][sweep]") {
  sim::Replayer rp(sim::synthesize(testing::tiny_synth(config::Mode::sparda)));
  const auto st = sim::parse_study("[grid]\ncache-blocks = [3, 12]\n", "c.toml");  // 3 < top-k + 1
  sim::SweepOptions o;
  o.out_dir = fresh_dir("err");
  const auto s = sim::run_sweep(rp, st, o);
  CHECK(s.failed == 1u);
  CHECK(s.ran == 1u);
  const std::string json = slurp(o.out_dir / "results.json");
  CHECK(json.find("--cache-blocks must be >=") != std::string::npos);
  fs::remove_all(o.out_dir);
}

TEST_CASE("out-of-memory scenarios are counted apart from failures", "[sim][sweep]") {
  sim::Replayer rp(sim::synthesize(testing::tiny_synth(config::Mode::sparda)));
  // 65536 sequences of 4096 tokens of the tiny model need ~100 GiB of GPU
  // memory for its working sets (and ~190 GiB of host memory); 2 fit.
  const auto st = sim::parse_study("[base]\ncontext = 4096\n[grid]\nbatch = [2, 65536]\n", "m.toml");
  sim::SweepOptions o;
  o.out_dir = fresh_dir("oom");
  std::size_t calls = 0, last = 0;
  o.progress = [&](std::size_t done, std::size_t total, const std::string& what) {
    ++calls;
    last = done;
    CHECK(total == 2u);
    CHECK(what.rfind("batch=", 0) == 0);
  };
  const auto s = sim::run_sweep(rp, st, o);
  CHECK(calls == 2u);
  CHECK(last == 2u);
  CHECK(s.ok == 1u);
  CHECK(s.out_of_memory == 1u);
  CHECK(s.failed == 0u);
  CHECK(s.fastest.label == "batch=2,context=4096");
  CHECK(s.slowest.label == "batch=2,context=4096");
  CHECK_FALSE(s.same_step_time);  // one scenario that fits: nothing to compare
  fs::remove_all(o.out_dir);
}

TEST_CASE("a sweep whose what-ifs leave the step time unchanged says so", "[sim][sweep]") {
  sim::Replayer rp(sim::synthesize(testing::tiny_synth(config::Mode::sparda)));
  // The seed only matters when --batch resamples selection streams.
  const auto st = sim::parse_study("[grid]\nseed = [1, 2, 3]\n", "s.toml");
  sim::SweepOptions o;
  o.out_dir = fresh_dir("same");
  const auto s = sim::run_sweep(rp, st, o);
  CHECK(s.ok == 3u);
  CHECK(s.same_step_time);
  fs::remove_all(o.out_dir);
}

TEST_CASE("a rerun reuses rows only from the same trace, and reports the others as stale", "[sim][sweep]") {
  const auto st = sim::parse_study("[grid]\npcie-gbps = [8, 32]\n", "k.toml");
  sim::SweepOptions o;
  o.out_dir = fresh_dir("key");
  sim::Replayer a(sim::synthesize(testing::tiny_synth(config::Mode::sparda, 2, 1024, 4)));
  sim::Replayer b(sim::synthesize(testing::tiny_synth(config::Mode::sparda, 2, 1024, 5)));
  const auto first = sim::run_sweep(a, st, o);
  CHECK(first.ran == 2u);
  CHECK(first.trace_hash.size() == 16u);
  CHECK(sim::run_sweep(a, st, o).skipped == 2u);
  const auto other = sim::run_sweep(b, st, o);  // same what-ifs, another trace
  CHECK(other.trace_hash != first.trace_hash);
  CHECK(other.skipped == 0u);
  CHECK(other.ran == 2u);
  CHECK(other.stale == 2u);
  // The log now holds both; each trace finds its own rows.
  CHECK(sim::run_sweep(a, st, o).skipped == 2u);
  CHECK(sim::run_sweep(b, st, o).skipped == 2u);
  // A row of an earlier version (no resume key) is never reused.
  const auto log = o.out_dir / "scenarios" / "done.jsonl";
  fs::remove_all(o.out_dir);
  fs::create_directories(log.parent_path());
  {
    const nlohmann::json row = {{"label", "old"}, {"what_if", config::to_json(st.scenarios[0])}, {"status", "ok"},
                                {"flat", nlohmann::json::array()}};
    std::ofstream(log) << row.dump() << "\n";
  }
  const auto legacy = sim::run_sweep(a, st, o);
  CHECK(legacy.ran == 2u);
  CHECK(legacy.stale == 1u);
  fs::remove_all(o.out_dir);
}

TEST_CASE("a study's size is checked before expansion, and an axis may not repeat a value", "[sim][sweep]") {
  std::string axis = "[";
  for (int i = 1; i <= 1000; ++i) axis += std::to_string(i) + (i < 1000 ? "," : "]");
  const std::string huge = "[grid]\npcie-gbps = " + axis + "\nbatch = " + axis + "\nseed = " + axis +
                           "\ngather-ctas = " + axis + "\n";  // 10^12 scenarios
  CHECK_THROWS_WITH(sim::parse_study(huge, "h.toml"),
                    Catch::Contains("h.toml: the study has 1000000000000 scenarios") &&
                        Catch::Contains("limit of 1000000"));
  CHECK_THROWS_WITH(sim::parse_study("[grid]\nbatch = [1, 2]\n[[scenarios]]\nbatch = 3\n", "s.toml", 2),
                    Catch::Contains("3 scenarios (2 batch + 1 [[scenarios]])"));
  CHECK(sim::parse_study("[grid]\nbatch = [1, 2]\n[[scenarios]]\nbatch = 3\n", "s.toml", 3).scenarios.size() == 3u);
  CHECK_THROWS_WITH(sim::parse_study("[grid]\npolicy = [\"lru\", \"opt\", \"lru\"]\n", "d.toml"),
                    Catch::Contains("d.toml: grid.policy: the value \"lru\" is given twice (positions 1 and 3)"));
}

TEST_CASE("a second sweep into a folder in use is refused", "[sim][sweep]") {
  // flock locks belong to the open file description: a second open in this
  // process conflicts as another process would.
  sim::Replayer rp(sim::synthesize(testing::tiny_synth(config::Mode::sparda)));
  const auto st = sim::parse_study("[grid]\npcie-gbps = [8, 32]\n", "l.toml");
  sim::SweepOptions o;
  o.out_dir = fresh_dir("lock");
  o.jobs = 1;
  bool refused = false;
  o.progress = [&](std::size_t, std::size_t, const std::string&) {
    if (refused) return;
    sim::SweepOptions again = o;
    again.progress = {};
    try {
      sim::run_sweep(rp, st, again);
    } catch (const common::InputError& e) {
      refused = std::string(e.what()).find("another sweep is writing into this folder") != std::string::npos;
    }
  };
  sim::run_sweep(rp, st, o);
  CHECK(refused);
  sim::SweepOptions plain;
  plain.out_dir = o.out_dir;
  CHECK(sim::run_sweep(rp, st, plain).skipped == 2u);  // released when the first ended
  fs::remove_all(o.out_dir);
}

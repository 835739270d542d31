// The what-if scenario type and its knob table (config/scenario.hpp): both
// spellings, command-line text, JSON round trip, and errors that name the key.
#include <set>
#include <string>

#include "catch.hpp"
#include "foresight/config/scenario.hpp"

using namespace foresight;
using nlohmann::json;

TEST_CASE("scenario knobs: one row per field, output columns in their fixed order", "[config][scenario]") {
  // results.csv and scenario.json readers (tests, notebooks) rely on these names and this order.
  CHECK(config::what_if_fields() ==
        std::vector<std::string>{"hardware", "pcie_gbps", "gather_ctas", "compute_scale", "cache_blocks", "policy",
                                 "prefetch", "mode", "batch", "context", "seed", "l2_reserve",
                                 "l2_policy", "prefill_growth"});
  std::set<std::string> options;
  for (const auto& k : config::scenario_knobs()) {
    INFO(k.field);
    std::string dashed = k.field;
    for (auto& c : dashed) c = c == '_' ? '-' : c;
    CHECK(k.option == dashed);
    CHECK(options.insert(k.option).second);
    CHECK_FALSE(k.help.empty());
    CHECK_FALSE(k.unset.empty());
    CHECK(k.get(config::Scenario{}).is_null());  // a fresh scenario has every knob unset
  }
  CHECK(config::knob_options(config::KnobScope::plan).size() == config::scenario_knobs().size());
  CHECK(config::knob_options(config::KnobScope::replay).size() == config::what_if_fields().size());
}

TEST_CASE("scenario knobs parse the dashed and the underscore spelling alike", "[config][scenario]") {
  config::Scenario dashed, underscored;
  config::set_knob(dashed, "pcie-gbps", 16, "t.toml");
  config::set_knob(underscored, "pcie_gbps", 16, "t.toml");
  config::set_knob(dashed, "cache-blocks", 120, "t.toml");
  config::set_knob(underscored, "cache_blocks", 120, "t.toml");
  config::set_knob(dashed, "--policy", "lru", "replay options");
  config::set_knob(underscored, "policy", "lru", "t.toml");
  CHECK(dashed == underscored);
  REQUIRE(dashed.pcie_gbps);
  CHECK(*dashed.pcie_gbps == 16.0);
  CHECK(dashed.cache_blocks == 120);
  CHECK(dashed.policy == config::Eviction::lru);
  CHECK(config::find_knob("gather_ctas") == config::find_knob("gather-ctas"));
  CHECK(config::find_knob("gather") == nullptr);
}

TEST_CASE("scenario knobs parse command-line text by their kind", "[config][scenario]") {
  config::Scenario s;
  config::set_knob_text(s, "--gather-ctas", "32", "replay options");
  config::set_knob_text(s, "--compute-scale", "1.5", "replay options");
  config::set_knob_text(s, "--mode", "sparse-offload", "replay options");
  config::set_knob_text(s, "--context", "32768", "replay options");
  config::set_knob_text(s, "--seed", "7", "replay options");
  CHECK(s.gather_ctas == 32);
  CHECK(s.compute_scale == 1.5);
  CHECK(s.mode == config::Mode::sparse_offload);
  CHECK(s.context == 32768);
  CHECK(s.seed == 7u);
  CHECK_THROWS_WITH(config::set_knob_text(s, "--gather-ctas", "16x", "replay options"),
                    Catch::Contains("replay options: --gather-ctas") && Catch::Contains("an integer") &&
                        Catch::Contains("16x"));
  CHECK_THROWS_WITH(config::set_knob_text(s, "--pcie-gbps", "fast", "replay options"),
                    Catch::Contains("--pcie-gbps") && Catch::Contains("a number"));
}

TEST_CASE("a scenario round-trips through JSON; unset knobs are left out", "[config][scenario]") {
  config::Scenario s;
  CHECK(config::to_json(s) == json::object());
  CHECK(config::scenario_label(s) == "baseline");
  s.hardware = "h200";
  s.pcie_gbps = 8;
  s.gather_ctas = 8;
  s.compute_scale = 2;
  s.cache_blocks = 200;
  s.policy = config::Eviction::opt;
  s.prefetch = config::Prefetch::none;
  s.mode = config::Mode::sparda;
  s.batch = 4;
  s.context = 65536;
  s.seed = 3;
  s.l2_reserve = 16;
  s.l2_policy = config::L2Policy::opt;
  s.prefill_growth = config::PrefillGrowth::patterns;
  s.reuse = 0.5;
  const json j = config::to_json(s);
  CHECK(j.size() == config::scenario_knobs().size());
  CHECK(j["policy"] == "opt");
  CHECK(j["mode"] == "sparda");
  CHECK(config::scenario_from_json(j, "scenario.json") == s);
  // Keys in table order (json objects sort, so check the label, which follows the table).
  CHECK(config::scenario_label(s).rfind("hardware=h200,pcie_gbps=8.0,gather_ctas=8,", 0) == 0);
  // Explicitly set to the value "unset" resolves to is still set: it shows.
  config::Scenario one;
  one.seed = 1;
  CHECK(config::to_json(one) == json{{"seed", 1}});
  CHECK(config::scenario_from_json(json::object(), "x") == config::Scenario{});
}

TEST_CASE("unknown scenario keys get a did-you-mean and the known keys", "[config][scenario]") {
  config::Scenario s;
  CHECK_THROWS_WITH(config::set_knob(s, "pcie_gpbs", 3.0, "study.toml"),
                    Catch::Contains("study.toml: pcie_gpbs: unknown key") &&
                        Catch::Contains("did you mean 'pcie-gbps'") && Catch::Contains("known keys: hardware"));
  CHECK_THROWS_WITH(config::set_knob(s, "polcy", "lru", "study.toml"), Catch::Contains("did you mean 'policy'"));
  CHECK_THROWS_WITH(config::scenario_from_json(json{{"batchh", 2}}, "plan.json"),
                    Catch::Contains("plan.json: batchh") && Catch::Contains("did you mean 'batch'"));
  CHECK_THROWS_AS(config::knob("no-such-knob"), std::logic_error);
}

TEST_CASE("bad scenario values name the key as spelled and what is allowed", "[config][scenario]") {
  config::Scenario s;
  CHECK_THROWS_WITH(config::set_knob(s, "pcie_gbps", 0.0, "x"), Catch::Contains("x: pcie_gbps") &&
                                                                     Catch::Contains("(0, 10000]"));
  CHECK_THROWS_WITH(config::set_knob(s, "gather-ctas", 0, "x"), Catch::Contains("x: gather-ctas") &&
                                                                    Catch::Contains("[1, 1024]"));
  CHECK_THROWS_WITH(config::set_knob(s, "gather-ctas", 1.5, "x"), Catch::Contains("must be an integer"));
  CHECK_THROWS_WITH(config::set_knob(s, "policy", "mru", "x"), Catch::Contains("x: policy") && Catch::Contains("mru"));
  CHECK_THROWS_WITH(config::set_knob(s, "mode", 3, "x"), Catch::Contains("x: mode: must be a string"));
  CHECK_THROWS_WITH(config::set_knob(s, "batch", 0, "x"), Catch::Contains("x: batch") && Catch::Contains("[1, 65536]"));
  CHECK_THROWS_WITH(config::set_knob(s, "hardware", "", "x"), Catch::Contains("x: hardware"));
  CHECK_THROWS_WITH(config::set_knob(s, "reuse", 1.5, "x", config::KnobScope::plan),
                    Catch::Contains("x: reuse") && Catch::Contains("[0, 1]"));
  CHECK_THROWS_WITH(config::set_knob(s, "l2-reserve", -1, "x"), Catch::Contains("x: l2-reserve") &&
                                                                   Catch::Contains("[0, "));
  CHECK_THROWS_WITH(config::set_knob(s, "l2-policy", "fifo", "x"),
                    Catch::Contains("x: l2-policy") && Catch::Contains("fifo") && Catch::Contains("lru"));
  CHECK(s == config::Scenario{});  // nothing half-set by a refused value
}

TEST_CASE("a replay refuses the plan-only knob and says why", "[config][scenario]") {
  config::Scenario s;
  CHECK_THROWS_WITH(config::set_knob(s, "reuse", 0.5, "study.toml"),
                    Catch::Contains("study.toml: reuse") && Catch::Contains("plan knob"));
  config::set_knob(s, "reuse", 0.5, "plan", config::KnobScope::plan);
  CHECK(s.reuse == 0.5);
  // Not offered to a replay's did-you-mean either.
  for (const auto& o : config::knob_options(config::KnobScope::replay)) CHECK(o != "reuse");
}

TEST_CASE("a knob's replay help carries its text, what a replay does and its default", "[config][scenario]") {
  const auto& batch = config::knob("batch");
  const std::string help = config::replay_help(batch);
  CHECK(help.rfind(batch.help, 0) == 0);
  CHECK(help.find(batch.replay) != std::string::npos);
  CHECK(help.find("(default: the trace's)") != std::string::npos);
  CHECK(config::replay_help(config::knob("pcie-gbps")).find("(default: the hardware's h2d_gbps)") !=
        std::string::npos);
}

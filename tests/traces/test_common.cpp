// The helpers every module shares (traces/include/foresight/common/ and
// config/toml.hpp): percentiles, did-you-mean, atomic files, TOML to JSON.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "temp_files.hpp"
#include "foresight/common/errors.hpp"
#include "foresight/common/files.hpp"
#include "foresight/common/stats.hpp"
#include "foresight/common/text.hpp"
#include "foresight/config/calibration.hpp"
#include "foresight/config/load.hpp"
#include "foresight/config/toml.hpp"
#include "foresight/trace/reader.hpp"

namespace fs = std::filesystem;
using namespace foresight;

using foresight::testing::entries;
using foresight::testing::slurp;

namespace {
fs::path fresh_dir(const std::string& name) { return foresight::testing::fresh_dir("common-test-" + name); }
}  // namespace

TEST_CASE("percentile is the nearest rank of a sorted copy", "[common]") {
  // 10 values: p50 is the 5th smallest, p99 the 10th, p10 the 1st.
  const std::vector<double> v = {9, 1, 8, 2, 7, 3, 6, 4, 5, 10};
  CHECK(common::percentile(v, 50) == 5);
  CHECK(common::percentile(v, 99) == 10);
  CHECK(common::percentile(v, 10) == 1);
  CHECK(common::percentile(v, 11) == 2);  // ceil(1.1) = 2nd
  CHECK(common::percentile({42}, 1) == 42);
  CHECK(std::isnan(common::percentile({}, 50)));
  CHECK(common::nearest_rank(4, 0) == 1u);   // clamped up
  CHECK(common::nearest_rank(4, 100) == 4u);
}

TEST_CASE("did you mean ignores case, underscores and dashes", "[common]") {
  CHECK(common::edit_distance("kitten", "sitting") == 3u);
  CHECK(common::edit_distance("", "abc") == 3u);
  const std::vector<std::string> keys = {"pcie-gbps", "gather-ctas", "policy"};
  CHECK(common::did_you_mean("pcie_gbps", keys) == "pcie-gbps");
  CHECK(common::did_you_mean("pcie-gpbs", keys) == "pcie-gbps");
  CHECK(common::did_you_mean("polcy", keys) == "policy");
  CHECK(common::did_you_mean("ctas", keys) == "gather-ctas");  // contained
  CHECK(common::did_you_mean("zzzzzzz", keys).empty());
}

TEST_CASE("an atomic file replaces the old one and leaves no temporary", "[common][files]") {
  const auto dir = fresh_dir("one");
  fs::create_directories(dir);
  { std::ofstream(dir / "a.json") << "old"; }
  common::write_json_atomic(dir / "a.json", nlohmann::json{{"x", 1}});
  CHECK(nlohmann::json::parse(slurp(dir / "a.json"))["x"] == 1);
  common::write_file_atomic(dir / "b.txt", [](std::ostream& out) { out << "streamed"; });
  CHECK(slurp(dir / "b.txt") == "streamed");
  CHECK(entries(dir) == 2u);
  // A writer that throws leaves neither the file nor a temporary.
  CHECK_THROWS_AS(common::write_file_atomic(dir / "c.txt", [](std::ostream&) { throw std::runtime_error("x"); }),
                  std::runtime_error);
  CHECK(entries(dir) == 2u);
  // No folder to write into: the path given is unusable (bad input, exit 2), naming the file.
  CHECK_THROWS_WITH(common::write_file_atomic(dir / "missing" / "d.txt", "x"), Catch::Contains("d.txt.partial"));
  CHECK_THROWS_AS(common::write_file_atomic(dir / "missing" / "d.txt", "x"), common::OutputPathError);
  fs::remove_all(dir);
}

TEST_CASE("a failing set of files leaves the old ones untouched and no temporaries", "[common][files]") {
  const auto dir = fresh_dir("fail");
  fs::create_directories(dir / "plan.json");  // a folder where a file must go
  { std::ofstream(dir / "report.html") << "old"; }
  REQUIRE_THROWS_AS(common::write_files_atomic(dir, {{"report.html", "new"}, {"plan.json", "{}"}}),
                    common::WriteError);
  REQUIRE(slurp(dir / "report.html") == "old");
  REQUIRE(entries(dir) == 2);  // report.html and the plan.json folder only
  common::write_files_atomic(dir / "nested", {{"a", "1"}, {"b", "2"}});
  CHECK(slurp(dir / "nested" / "b") == "2");
  CHECK(entries(dir / "nested") == 2u);
  fs::remove_all(dir);
}

TEST_CASE("an output folder that is a file is a clear error", "[common][files]") {
  const auto dir = fresh_dir("file");
  { std::ofstream(dir.string()) << "x"; }
  try {
    common::write_files_atomic(dir, {{"a", "b"}});
    FAIL("expected an error");
  } catch (const common::OutputPathError& e) {  // the user's path: exit 2 (issue #16)
    REQUIRE(std::string(e.what()).find(dir.string()) != std::string::npos);
  }
  fs::remove(dir);
}

TEST_CASE("TOML converts to JSON; errors name the file, line and key", "[common][toml]") {
  const auto j = config::parse_toml("name = \"s\"\n[grid]\nbatch = [1, 2]\nx = 0.5\nok = true\n", "s.toml");
  CHECK(j["name"] == "s");
  CHECK(j["grid"]["batch"] == nlohmann::json::array({1, 2}));
  CHECK(j["grid"]["x"] == 0.5);
  CHECK(j["grid"]["ok"] == true);
  CHECK_THROWS_WITH(config::parse_toml("[grid\n", "s.toml"), Catch::Contains("s.toml:1:"));
  CHECK_THROWS_WITH(config::parse_toml("[a]\nwhen = 1979-05-27\n", "s.toml"),
                    Catch::Contains("s.toml") && Catch::Contains("'a.when'"));
  CHECK_THROWS_AS(config::read_toml_file("/nonexistent/x.toml"), config::ConfigError);
}

// Found by tests/fuzz (fuzz_study, fuzz_config_toml): toml++ 3.3 reached
// __builtin_unreachable() testing many non-ASCII characters for whitespace,
// outside strings but also inside a bare value it was scanning.
TEST_CASE("TOML: no character toml++ 3.3 cannot classify reaches it raw", "[common][toml][fuzz]") {
  CHECK_THROWS_WITH(config::parse_toml("\xEF\xB1\xBF", "u.toml"),
                    Catch::Contains("u.toml:1:1: TOML syntax error: character U+FC7F outside a string or comment"));
  CHECK_THROWS_WITH(config::parse_toml("a = 1\n\xC3\xA9 = 1\n", "u.toml"),
                    Catch::Contains("u.toml:2:1: TOML syntax error: character U+00E9"));
  CHECK_THROWS_WITH(config::parse_toml("s = \"\"\"\\\xC3\xA9\"\"\"\n", "u.toml"),
                    Catch::Contains("u.toml:1:9") && Catch::Contains("after a backslash"));
  CHECK_THROWS_WITH(config::parse_toml("s = 'caf\xC3\xA9'\n", "u.toml"),
                    Catch::Contains("u.toml:1:9") && Catch::Contains("'literal' string"));
  // A bare value toml++ scans past a quote (the fuzzer's second input).
  CHECK_THROWS_AS(config::parse_toml("p = [64[=\"b\xEF\xBB\x9F\"]\n", "u.toml"), config::ConfigError);
  // In basic strings and comments such characters are fine (passed on as
  // \uXXXX escapes), as are other characters in literal strings and a BOM.
  const auto j = config::parse_toml(
      "\xEF\xBB\xBFname = \"caf\xC3\xA9\" # d\xC3\xA9j\xC3\xA0\n"
      "lit = '\xE4\xB8\xAD \\'\n"
      "ml = \"\"\"\xC3\xA9\n\xE3\x80\x80\"\"\"\n"
      "cont = \"\"\"a \\\n  \xC3\xA9\"\"\"\n"
      "mll = '''\xE4\xB8\xAD'''\n"
      "esc = \"\\\"\xC3\xA9\"\n",
      "u.toml");
  CHECK(j["name"] == "caf\xC3\xA9");
  CHECK(j["lit"] == "\xE4\xB8\xAD \\");
  CHECK(j["ml"] == "\xC3\xA9\n\xE3\x80\x80");
  CHECK(j["cont"] == "a \xC3\xA9");
  CHECK(j["mll"] == "\xE4\xB8\xAD");
  CHECK(j["esc"] == "\"\xC3\xA9");
  // The inputs the fuzzers found: an input error, nothing worse.
  const fs::path found = fs::path(FORESIGHT_TRACE_SAMPLES) / ".." / ".." / "tests" / "fuzz" / "regressions";
  for (const char* harness : {"fuzz_study", "fuzz_config_toml"}) {
    for (const auto& e : fs::directory_iterator(found / harness)) {
      INFO(e.path());
      std::ifstream f(e.path(), std::ios::binary);
      std::stringstream ss;
      ss << f.rdbuf();
      CHECK_THROWS_AS(config::parse_toml(ss.str(), e.path().string()), config::ConfigError);
    }
  }
}

// Found by tests/fuzz (fuzz_config_json): a number beyond double's range threw
// nlohmann's out_of_range (exit 1) instead of a ConfigError naming the file.
TEST_CASE("JSON configs: a number beyond double is a config error", "[common][fuzz]") {
  const fs::path p = fs::temp_directory_path() / ("foresight-test-overflow-" + std::to_string(::getpid()) + ".json");
  { std::ofstream(p) << "{\"name\": \"x\", \"n_layers\": 21012.7e65071799357}\n"; }
  CHECK_THROWS_WITH(config::load_model(p.string()), Catch::Contains(p.string()) && Catch::Contains("not valid JSON"));
  CHECK_THROWS_AS(config::load_hardware(p.string()), config::ConfigError);
  CHECK_THROWS_AS(config::load_calibration(p), config::ConfigError);
  fs::remove(p);
}

TEST_CASE("bad-input errors share one base type", "[common]") {
  // cli/errors.hpp maps common::InputError to exit code 2.
  CHECK_THROWS_AS(config::load_model("/nonexistent/model.toml"), common::InputError);
  CHECK_THROWS_AS(trace::read_trace("/nonexistent/t.h5"), common::InputError);
}

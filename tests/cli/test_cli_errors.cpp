// The executable's one error handler, command by command: bad input exits 2
// with "foresight <command>: error:" and the file named; every command takes
// --quiet.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "foresight/config/scenario.hpp"

#ifdef FORESIGHT_BIN
namespace fs = std::filesystem;

namespace {
struct Result {
  int rc;
  std::string out;  // stdout and stderr
};
Result sh(const std::string& args) {
  const fs::path log = fs::temp_directory_path() / ("foresight-cli-test-" + std::to_string(::getpid()) + ".log");
  const std::string cmd = std::string(FORESIGHT_BIN) + " " + args + " > " + log.string() + " 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream f(log);
  std::stringstream ss;
  ss << f.rdbuf();
  fs::remove(log);
  return {WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, ss.str()};
}
fs::path scratch() {
  const fs::path d = fs::temp_directory_path() / ("foresight-cli-test-" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}
}  // namespace

TEST_CASE("bad input exits 2 naming the file, on every kind of command", "[cli]") {
  const fs::path d = scratch();
  { std::ofstream(d / "bad.toml") << "name = \"bad\"\nn_layers = \"four\"\n"; }
  { std::ofstream(d / "not-a-trace.h5") << "hello"; }
  const std::string bad_model = (d / "bad.toml").string();
  const std::string bad_trace = (d / "not-a-trace.h5").string();
  const struct {
    std::string args, command, named;
  } cases[] = {
      {"run --model " + bad_model + " --out " + (d / "r").string(), "run", bad_model},
      {"synth --model " + bad_model + " --out " + (d / "s").string(), "synth", bad_model},
      {"calibrate --model " + bad_model + " --out " + (d / "f.safetensors").string(), "calibrate", bad_model},
      {"plan --model " + bad_model + " --evaluator analytic --out " + (d / "p").string(), "plan", bad_model},
      {"inspect " + bad_trace, "inspect", bad_trace},
      {"export " + bad_trace + " --perfetto " + (d / "x.json").string(), "export", bad_trace},
      {"replay " + bad_trace + " --out " + (d / "rp").string(), "replay", bad_trace},
      {"profile " + bad_trace + " --out " + (d / "c.json").string(), "profile", bad_trace},
      {"sweep " + std::string(FORESIGHT_SAMPLES) + "/sparda-tiny.h5 --study " + bad_model + " --out " +
           (d / "sw").string(),
       "sweep", bad_model},
  };
  for (const auto& c : cases) {
    INFO(c.args);
    const Result r = sh(c.args);
    INFO(r.out);
    CHECK(r.rc == 2);
    CHECK(r.out.find("foresight " + c.command + ": error: ") != std::string::npos);
    CHECK(r.out.find(c.named) != std::string::npos);
  }
  CHECK_FALSE(fs::exists(d / "x.json"));  // nothing half-written under a final name
  fs::remove_all(d);
}

TEST_CASE("an output path that cannot be used exits 2; a failed write exits 1", "[cli]") {
  const fs::path d = scratch();
  // The output's folder is a file: the user's path is unusable (issue #16: exit 2).
  { std::ofstream(d / "file") << "x"; }
  const std::string sample = std::string(FORESIGHT_SAMPLES) + "/sparda-tiny.h5";
  Result r = sh("export " + sample + " --perfetto " + (d / "file" / "x.json").string());
  INFO(r.out);
  CHECK(r.rc == 2);
  CHECK(r.out.find((d / "file" / "x.json").string()) != std::string::npos);
  CHECK(r.out.find("Not a directory") != std::string::npos);
  r = sh("plan --evaluator analytic --quiet --out " + (d / "file" / "p").string());
  CHECK(r.rc == 2);
  CHECK(r.out.find("cannot create the output folder") != std::string::npos);
  // A full disk is a failed write: exit 1 (/dev/full refuses every write).
  fs::create_symlink("/dev/full", d / "x.json.partial");
  r = sh("export " + sample + " --perfetto " + (d / "x.json").string());
  INFO(r.out);
  CHECK(r.rc == 1);
  CHECK(r.out.find("x.json") != std::string::npos);
  CHECK_FALSE(fs::exists(d / "x.json"));
  fs::remove_all(d);
}

TEST_CASE("what-if options and their help come from the knob table", "[cli]") {
  using foresight::config::knob;
  const std::string replay = sh("replay --help").out, sweep = sh("sweep --help").out;
  const std::string plan = sh("plan --help").out;
  for (const auto& k : foresight::config::scenario_knobs()) {
    INFO(k.option);
    const std::string start = k.help.substr(0, 24);  // before any line wrap
    CHECK((replay.find("--" + k.option) != std::string::npos) == k.replays);
    if (!k.replays) continue;
    CHECK(replay.find(start) != std::string::npos);
    CHECK(sweep.find(k.option) != std::string::npos);  // the study keys, listed in its help
    CHECK(sweep.find(start) != std::string::npos);
  }
  for (const char* k : {"hardware", "context", "mode", "batch"})
    CHECK(plan.find(knob(k).help.substr(0, 24)) != std::string::npos);
}

TEST_CASE("every command takes --quiet", "[cli]") {
  for (const char* c : {"run", "calibrate", "inspect", "export", "plan", "synth", "replay", "sweep", "profile"}) {
    INFO(c);
    const Result r = sh(std::string(c) + " --quiet --help");
    CHECK(r.rc == 0);
    CHECK(r.out.find("--quiet") != std::string::npos);
  }
}
#endif

TEST_CASE("run --kernel: recorded in config.json and the trace header; a bad one exits 2 by name", "[cli]") {
  const fs::path d = scratch();
  const std::string base = "run --model tiny --backend cpu --context 256 --steps 1 --warmup 0 --prefill synthetic ";
  Result r = sh(base + "--kernel decode_attention=pipe2 --kernel gemm_tune=0 --out " + (d / "ok").string());
  INFO(r.out);
  REQUIRE(r.rc == 0);
  std::ifstream cfg(d / "ok" / "config.json");
  const auto kernels = nlohmann::json::parse(cfg)["run"]["kernels"];
  CHECK(kernels["decode_attention"] == "pipe2");
  CHECK(kernels["gemm_tune"] == false);
  CHECK(kernels["linear_fused"] == true);
  r = sh("inspect " + (d / "ok" / "trace.h5").string() + " --json");
  CHECK(r.out.find("\"decode_attention\": \"pipe2\"") != std::string::npos);
  r = sh(base + "--kernel decode_kernel=pipe2 --out " + (d / "bad").string());
  CHECK(r.rc == 2);
  CHECK(r.out.find("--kernel") != std::string::npos);
  CHECK(r.out.find("decode_kernel") != std::string::npos);
  CHECK_FALSE(fs::exists(d / "bad" / "trace.h5"));
  fs::remove_all(d);
}

TEST_CASE("synth --kernel kv_gather=bulk models bulk-copy gathers at that path's default CTAs", "[cli]") {
  const fs::path d = scratch();
  const std::string base = "synth --model tiny --mode sparda --batch 2 --context 2048 --steps 2 ";
  Result r = sh(base + "--kernel kv_gather=bulk --out " + (d / "bulk").string());
  INFO(r.out);
  REQUIRE(r.rc == 0);
  r = sh("inspect " + (d / "bulk" / "trace.h5").string() + " --json");
  const auto s = nlohmann::json::parse(r.out);
  CHECK(s["config"]["kernels"]["kv_gather"] == "bulk");
  CHECK(s["h2d"]["engines"].contains("bulk_copy_gather"));
  CHECK_FALSE(s["h2d"]["engines"].contains("zero_copy_gather"));
  r = sh(base + "--kernel kv_gather=sm_loads --out " + (d / "sm").string());
  REQUIRE(r.rc == 0);
  r = sh("inspect " + (d / "sm" / "trace.h5").string() + " --json");
  CHECK(nlohmann::json::parse(r.out)["h2d"]["engines"].contains("zero_copy_gather"));
  r = sh(base + "--kernel kv_gather=tma --out " + (d / "bad").string());
  CHECK(r.rc == 2);
  CHECK(r.out.find("kv_gather") != std::string::npos);
  CHECK(r.out.find("sm_loads|bulk") != std::string::npos);
  CHECK_FALSE(fs::exists(d / "bad" / "trace.h5"));
  fs::remove_all(d);
}

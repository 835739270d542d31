// run_to_folder end to end on the tiny model: outputs, truncated traces on an
// injected error and on a stop request, bad input.
#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "foresight/config/load.hpp"
#include "foresight/runtime/memory_plan.hpp"
#include "foresight/runtime/run.hpp"
#include "foresight/trace/reader.hpp"
#include "tiny_model.hpp"

using namespace foresight;
using namespace foresight::runtime;
using Catch::Matchers::Contains;

namespace {
RunRequest tiny_request(const std::string& name, config::Mode mode = config::Mode::sparse) {
  return testing::tiny_cpu_request(name, mode, {120, 57}, 3, 50);
}
nlohmann::json read_json(const std::filesystem::path& p) {
  std::ifstream in(p);
  return nlohmann::json::parse(in);
}
}  // namespace

TEST_CASE("a run writes a complete run folder") {
  auto req = tiny_request("run_ok");
  req.dump_logits = true;
  auto res = run_to_folder(req);
  CHECK_FALSE(res.truncated);
  for (auto f : {"trace.h5", "metrics.json", "config.json", "timeline.json", "tokens.json", "logits.npy"}) {
    CHECK(std::filesystem::exists(req.out_dir / f));
  }
  for (const auto& e : std::filesystem::directory_iterator(req.out_dir)) {
    CHECK(e.path().extension() != ".partial");
  }
  const auto t = trace::read_trace(req.out_dir / "trace.h5");
  CHECK(t.header.status == trace::RunStatus::complete);
  CHECK(t.header.clock == "steady_clock");
  CHECK_FALSE(t.selection_keys.empty());
  CHECK_FALSE(t.memory.empty());
  auto m = read_json(req.out_dir / "metrics.json");
  CHECK(m["decode"]["steps"] == 3);
  CHECK(m["decode"]["step_ms"]["mean"].get<double>() > 0);
  CHECK(m["tokens"].size() == 2);
  CHECK(m["tokens"][0].size() == 4);  // warm-up + timed steps
  CHECK(m["cache"]["hit_rate"].is_number());
  // Largest batch per mode at the longest context, computed up front.
  REQUIRE(m["feasibility"].size() == 6);
  CHECK(m["feasibility"][1]["mode"] == "sparse");
  CHECK(m["feasibility"][1]["largest_batch"].get<std::int64_t>() >= 2);
  CHECK(m["h2d"]["bytes"] == 0);  // sparse keeps the KV on the GPU
  auto c = read_json(req.out_dir / "config.json");
  CHECK(c["run"]["mode"] == "sparse");
  CHECK(c["model"]["name"] == "tiny");
  CHECK(std::filesystem::file_size(req.out_dir / "logits.npy") > 2 * 512 * 4);
}

TEST_CASE("an error during decode leaves a trace marked truncated") {
  auto req = tiny_request("run_fail");
  req.fail_at_step = 2;
  REQUIRE_THROWS_WITH(run_to_folder(req), Contains("injected failure at decode step 2"));
  const auto t = trace::read_trace(req.out_dir / "trace.h5");
  CHECK(t.header.status == trace::RunStatus::truncated);
  CHECK_THAT(t.header.status_reason, Contains("injected failure"));
  std::size_t decode_steps = 0;
  for (const auto& s : t.steps) decode_steps += s.phase == trace::Phase::decode;
  CHECK(decode_steps == 2);
  CHECK_FALSE(std::filesystem::exists(req.out_dir / "metrics.json"));  // nothing that looks complete
}

TEST_CASE("a stop request ends the run with a truncated trace") {
  auto req = tiny_request("run_stop");
  std::atomic<bool> stop{true};
  req.stop = &stop;
  auto res = run_to_folder(req);
  CHECK(res.truncated);
  CHECK(trace::read_trace(req.out_dir / "trace.h5").header.status == trace::RunStatus::truncated);
  CHECK(read_json(req.out_dir / "metrics.json")["status"] == "truncated");
}

TEST_CASE("bad requests fail before anything is written") {
  auto req = tiny_request("run_bad");
  req.run.context_tokens = {120};
  REQUIRE_THROWS_WITH(run_to_folder(req), Contains("context_tokens"));
  req = tiny_request("run_oom", config::Mode::dense);
  req.hardware.gpu_mem_bytes = 1 << 20;
  REQUIRE_THROWS_AS(run_to_folder(req), MemoryError);
  REQUIRE_THROWS_WITH(run_to_folder(req), Contains("largest batches at context 120"));
  CHECK_FALSE(std::filesystem::exists(req.out_dir / "trace.h5"));
  req = tiny_request("run_cache", config::Mode::sparda);
  req.run.cache_blocks = req.run.topk_blocks;  // no room for the tail slot
  REQUIRE_THROWS_WITH(run_to_folder(req), Contains("cache_blocks"));
  CHECK_FALSE(std::filesystem::exists(req.out_dir / "trace.h5"));
  req = tiny_request("run_l2", config::Mode::sparda);
  req.run.l2_reserve_bytes = 8 << 20;  // the CPU has no L2 persistence control
  REQUIRE_THROWS_WITH(run_to_folder(req), Contains("--l2-reserve") && Contains("cuda"));
  CHECK_FALSE(std::filesystem::exists(req.out_dir / "trace.h5"));
}

TEST_CASE("real prompts: teacher forcing scores the text, a short text is refused") {
  auto req = tiny_request("run_teacher", config::Mode::sparse);
  std::vector<std::int32_t> text(200);
  for (std::size_t i = 0; i < text.size(); ++i) text[i] = static_cast<std::int32_t>((i * 37) % 97);
  req.texts = {text};
  req.texts_source = "text.json";
  req.teacher_force = true;
  run_to_folder(req);
  const auto m = read_json(req.out_dir / "metrics.json");
  const auto tokens = read_json(req.out_dir / "tokens.json");
  const std::int64_t steps = req.run.warmup_steps + req.run.decode_steps;
  CHECK(m["score"]["tokens"] == 2 * steps);  // every step of both sequences
  CHECK(m["score"]["perplexity"].get<double>() > 1.0);
  CHECK(std::exp(m["score"]["nll_mean"].get<double>()) == Approx(m["score"]["perplexity"].get<double>()));
  CHECK(tokens["teacher_forced"] == true);
  // Each prompt is the text's first context[b] ids.
  CHECK(tokens["prompts"][1] == std::vector<std::int32_t>(text.begin(), text.begin() + req.run.context_tokens[1]));
  req = tiny_request("run_short", config::Mode::sparse);
  req.texts = {std::vector<std::int32_t>(text.begin(), text.begin() + 121)};
  req.texts_source = "short.json";
  req.teacher_force = true;
  REQUIRE_THROWS_WITH(run_to_folder(req), Contains("short.json") && Contains("teacher-forced"));
}

TEST_CASE("workload selections drive the decode loop") {
  auto req = tiny_request("run_workload");
  req.run.selection_source = "workload";
  req.run.context_tokens = {400, 300};
  req.run.workload.reuse = 0.9;
  run_to_folder(req);
  const auto t = trace::read_trace(req.out_dir / "trace.h5");
  REQUIRE_FALSE(t.selection_keys.empty());
  for (const auto& k : t.selection_keys) CHECK(k.count == 8);
}

// validate_run: a run config checked against its model.
#include <string>

#include "catch.hpp"
#include "foresight/config/load.hpp"

using namespace foresight::config;

namespace {
std::string error_of(auto&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

RunConfig good_run() {
  RunConfig r;
  r.batch = 2;
  r.context_tokens = {32768, 131072};
  r.topk_blocks = 96;
  return r;
}
}  // namespace

TEST_CASE("validate_run accepts a sensible run and rejects each broken field") {
  const ModelConfig m = load_model("minicpm4.1-8b");
  CHECK_NOTHROW(validate_run(good_run(), m, "run"));
  RunConfig cache_ok = good_run();
  cache_ok.cache_blocks = 97;
  CHECK_NOTHROW(validate_run(cache_ok, m, "run"));

  struct Case {
    const char* expected;
    void (*edit)(RunConfig&);
  };
  const Case cases[] = {
      {"run: 'context_tokens' must have one entry per sequence (batch = 3), got 2",
       [](RunConfig& r) { r.batch = 3; }},
      {"run: 'context_tokens[0]' must be positive, got 0",
       [](RunConfig& r) { r.context_tokens[0] = 0; }},
      {"run: 'context_tokens[1]' is 131073, beyond the model's max_context 131072",
       [](RunConfig& r) { r.context_tokens[1] = 131073; }},
      {"run: 'topk_blocks' must exceed the forced blocks (sink 1 + window 32 = 33), got 33",
       [](RunConfig& r) { r.topk_blocks = 33; }},
      {"run: 'topk_blocks' must be at most max_context / block_tokens = 2048, got 2049",
       [](RunConfig& r) { r.topk_blocks = 2049; }},
      {"run: 'cache_blocks' must be 0 (= topk_blocks + 1) or >= topk_blocks + 1 = 97, got 96",
       [](RunConfig& r) { r.cache_blocks = 96; }},
      {"run: 'gather_ctas' must be in [1, 1024], got 0", [](RunConfig& r) { r.gather_ctas = 0; }},
      {"run: 'gather_ctas' must be in [1, 1024], got 1025",
       [](RunConfig& r) { r.gather_ctas = 1025; }},
      {"run: 'decode_steps' must be >= 1, got 0", [](RunConfig& r) { r.decode_steps = 0; }},
      {"run: 'workload.cross_layer' must be in [0, 1], got -0.1",
       [](RunConfig& r) { r.workload.cross_layer = -0.1; }},
      {"run: 'backend' has unknown value 'gpu', did you mean 'cpu'? (one of: cuda, cpu, synth)",
       [](RunConfig& r) { r.backend = "gpu"; }},
      {"run: 'prefill' has unknown value 'synth', did you mean 'synthetic'? (one of: real, "
       "synthetic, none)",
       [](RunConfig& r) { r.prefill = "synth"; }},
      {"run: 'selection_source' has unknown value 'models', did you mean 'model'? (one of: "
       "model, file, workload)",
       [](RunConfig& r) { r.selection_source = "models"; }},
  };
  for (const auto& c : cases) {
    RunConfig r = good_run();
    c.edit(r);
    INFO(c.expected);
    CHECK(error_of([&] { validate_run(r, m, "run"); }) == c.expected);
  }
}

TEST_CASE("validate_run uses the model's own limits (tiny)") {
  const ModelConfig t = load_model("tiny");
  RunConfig r;
  r.batch = 1;
  r.context_tokens = {4096};
  r.topk_blocks = 8;
  CHECK_NOTHROW(validate_run(r, t, "run"));
  r.topk_blocks = 3;  // tiny forces sink 1 + window 2
  CHECK(error_of([&] { validate_run(r, t, "run"); }).find("must exceed the forced blocks") !=
        std::string::npos);
}

// The DSA modes through the runtime's engine on the CPU backend: with a top-k
// that covers the whole context they decode exactly what dense decodes; with
// a small top-k the trace holds one token row per (step, layer, sequence)
// whose ids are min(k, tokens) ascending tokens with the sink and local
// tokens among them, and every selected token is gathered.
#include <algorithm>

#include "catch.hpp"
#include "foresight/runtime/run.hpp"
#include "foresight/trace/reader.hpp"
#include "tiny_model.hpp"

using namespace foresight;
using namespace foresight::runtime;
using Catch::Matchers::Contains;

namespace {
RunRequest dsa_request(const std::string& name, config::Mode mode) {
  return testing::tiny_cpu_request(name, mode, {120, 57}, 3, 50);
}
}  // namespace

TEST_CASE("dsa with a top-k covering the context decodes the tokens dense decodes", "[runtime][dsa]") {
  auto dense = dsa_request("dsa_vs_dense_dense", config::Mode::dense);
  auto dsa = dsa_request("dsa_vs_dense_dsa", config::Mode::dsa);
  auto offload = dsa_request("dsa_vs_dense_offload", config::Mode::dsa_offload);
  REQUIRE(dsa.model.dsa.topk_tokens >= 124);  // every token of both sequences is selected
  const auto want = run_to_folder(dense).tokens;
  CHECK(run_to_folder(dsa).tokens == want);
  CHECK(run_to_folder(offload).tokens == want);
}

TEST_CASE("dsa with a small top-k: token rows, sink and local tokens, gathers", "[runtime][dsa]") {
  for (const config::Mode mode : {config::Mode::dsa, config::Mode::dsa_offload}) {
    INFO(config::to_string(mode));
    auto req = dsa_request(std::string("dsa_small_k_") + config::to_string(mode), mode);
    req.model.dsa.topk_tokens = 32;
    req.model.dsa.sink_tokens = 2;
    req.model.dsa.local_tokens = 4;
    run_to_folder(req);
    const auto t = trace::read_trace(req.out_dir / "trace.h5");
    const auto L = req.model.n_layers;
    CHECK(t.selection_keys.empty());
    REQUIRE(t.token_keys.size() == static_cast<std::size_t>(4 * L * 2));  // 1 warm-up + 3 steps
    std::size_t at = 0;
    for (const auto& k : t.token_keys) {
      const std::int64_t tokens = req.run.context_tokens[static_cast<std::size_t>(k.seq)] + k.step;
      REQUIRE(k.count == std::min<std::int64_t>(32, tokens));
      const auto* ids = t.token_ids.data() + at;
      at += k.count;
      CHECK(ids[0] == 0);
      CHECK(ids[1] == 1);
      for (int j = 0; j < 4; ++j) CHECK(ids[k.count - 4 + j] == tokens - 4 + j);
    }
    std::uint64_t gathered = 0, loaded = 0;
    for (const auto& op : t.ops)
      if (op.phase == trace::Phase::decode && (t.stages[op.stage] == "d2d_gather" || t.stages[op.stage] == "h2d_gather")) {
        CHECK(t.stages[op.stage] == (mode == config::Mode::dsa ? "d2d_gather" : "h2d_gather"));
        gathered += op.bytes;
      }
    for (const auto& c : t.cache) {
      CHECK(c.hits == 0);
      CHECK(c.misses == c.selected);
      loaded += c.loaded_bytes;
    }
    CHECK(gathered == static_cast<std::uint64_t>(4 * L * 2 * 32 * req.model.kv_bytes_per_token_layer()));
    CHECK(loaded == gathered);
  }
}

TEST_CASE("dsa refuses block selections from outside the model", "[runtime][dsa]") {
  auto req = dsa_request("dsa_external", config::Mode::dsa);
  req.run.selection_source = "workload";
  CHECK_THROWS_WITH(run_to_folder(req), Contains("--selections workload") && Contains("selects tokens"));
}

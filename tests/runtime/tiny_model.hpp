// A tiny Llama-shaped model and temp-dir helper for the runtime tests.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "foresight/config/load.hpp"
#include "foresight/config/model.hpp"
#include "foresight/runtime/run.hpp"

namespace foresight::testing {

// 3 layers, GQA 4:2, head_dim 16; 64-token blocks so a few hundred tokens
// give several blocks.
inline config::ModelConfig tiny_model() {
  config::ModelConfig m;
  m.name = "tiny-test";
  m.n_layers = 3;
  m.hidden = 64;
  m.n_heads = 4;
  m.n_kv_heads = 2;
  m.head_dim = 16;
  m.intermediate = 128;
  m.vocab = 256;
  m.max_context = 4096;
  m.rope_theta = 10000.0;
  m.rms_eps = 1e-5;
  m.sparse.topk_blocks = 4;
  m.sparse.sink_blocks = 1;
  m.sparse.window_blocks = 1;
  return m;
}

inline std::filesystem::path fresh_dir(const std::string& name) {
  auto d = std::filesystem::path(FORESIGHT_TEST_TMP) / name;
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

// A CPU run of the shipped "tiny" model (configs/models) into a fresh
// FORESIGHT_TEST_TMP/<dir>: one sequence per context, 1 warm-up step,
// the model's top-k, traced.
inline runtime::RunRequest tiny_cpu_request(const std::string& dir, config::Mode mode,
                                            std::vector<std::int64_t> contexts, std::int64_t decode_steps,
                                            std::int64_t prefill_chunk) {
  runtime::RunRequest r;
  r.model = config::load_model("tiny");
  r.hardware = config::load_hardware("h100-sxm");
  r.run.mode = mode;
  r.run.backend = "cpu";
  r.run.batch = static_cast<std::int64_t>(contexts.size());
  r.run.context_tokens = std::move(contexts);
  r.run.decode_steps = decode_steps;
  r.run.warmup_steps = 1;
  r.run.topk_blocks = r.model.sparse.topk_blocks;
  r.run.prefill_chunk_tokens = prefill_chunk;
  r.out_dir = fresh_dir(dir);
  return r;
}

}  // namespace foresight::testing

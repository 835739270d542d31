// A tiny Llama-shaped model and temp-dir helper for the runtime tests.
#pragma once

#include <filesystem>
#include <string>

#include "foresight/config/model.hpp"

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

}  // namespace foresight::testing

// Parity with Hugging Face transformers (issue #14): every case folder under
// tests/runtime/parity/ holds a small random Llama checkpoint saved by
// transformers 4 or 5 (config.json in that version's keys) and
// reference.json made by scripts/parity/make-parity-refs.py: two prompts and
// transformers' float32 logits at each prompt's last position, plus the
// relative L2 error of transformers' own bf16 forward. foresight's dense CPU
// forward, loading the folder as `foresight run --checkpoint` does, must be no
// further from the float32 logits than that bf16 forward.
#include <algorithm>
#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "foresight/config/load.hpp"
#include "foresight/runtime/engine.hpp"
#include "foresight/runtime/weights.hpp"

using namespace foresight;
using namespace foresight::runtime;

namespace {

const std::filesystem::path kParity = FORESIGHT_PARITY_DIR;

struct Reference {
  std::vector<std::vector<std::int32_t>> tokens;
  std::vector<std::vector<double>> logits;  // [prompt, vocab]
  std::vector<double> bf16_rel_l2;          // [prompt]
};

Reference read_reference(const std::filesystem::path& dir) {
  std::ifstream in(dir / "reference.json");
  REQUIRE(in);
  const auto j = nlohmann::json::parse(in);
  Reference r;
  j.at("tokens").get_to(r.tokens);
  j.at("logits").get_to(r.logits);
  j.at("bf16_rel_l2").get_to(r.bf16_rel_l2);
  return r;
}

// foresight's logits at each prompt's last position: [prompt][vocab].
std::vector<std::vector<double>> foresight_logits(const config::ModelConfig& m, const Weights& w,
                                                  const std::vector<std::vector<std::int32_t>>& prompts) {
  auto be = make_cpu_backend();
  Recorder rec(*be, nullptr, false);
  EngineOptions o;
  o.mode = config::Mode::dense;
  for (const auto& p : prompts) o.context_tokens.push_back(static_cast<std::int64_t>(p.size()));
  o.max_steps = 1;
  o.topk_blocks = 1;
  o.prefill_chunk_tokens = 512;  // the 1100-token prompt takes three chunks
  DecodeEngine e(m, w, *be, rec, o);
  e.prefill(prompts);
  e.step();  // feeds each prompt's last token
  const auto flat = e.last_logits();
  std::vector<std::vector<double>> out(prompts.size());
  for (std::size_t b = 0; b < prompts.size(); ++b)
    out[b].assign(flat.begin() + static_cast<std::ptrdiff_t>(b * m.vocab),
                  flat.begin() + static_cast<std::ptrdiff_t>((b + 1) * m.vocab));
  return out;
}

double rel_l2(const std::vector<double>& x, const std::vector<double>& ref) {
  double d = 0, n = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    d += (x[i] - ref[i]) * (x[i] - ref[i]);
    n += ref[i] * ref[i];
  }
  return std::sqrt(d / n);
}

std::vector<std::filesystem::path> case_dirs() {
  std::vector<std::filesystem::path> dirs;
  for (const auto& e : std::filesystem::directory_iterator(kParity))
    if (e.is_directory() && std::filesystem::exists(e.path() / "reference.json")) dirs.push_back(e.path());
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

}  // namespace

TEST_CASE("dense CPU logits match transformers' float32 forward within its bf16 error") {
  const auto dirs = case_dirs();
  REQUIRE(dirs.size() >= 6);  // 4 transformers-5 cases, 2 transformers-4 ones
  for (const auto& dir : dirs) {
    const std::string name = dir.filename().string();
    INFO(name);
    const auto m = config::load_model((dir / "config.json").string());
    const auto ref = read_reference(dir);
    const auto w = load_checkpoint(dir, m, 1);
    const auto got = foresight_logits(m, w, ref.tokens);
    for (std::size_t b = 0; b < ref.tokens.size(); ++b) {
      const double err = rel_l2(got[b], ref.logits[b]);
      UNSCOPED_INFO(name << " prompt " << ref.tokens[b].size() << " tokens: foresight rel L2 " << err
                         << ", transformers bf16 " << ref.bf16_rel_l2[b]);
      CHECK(err <= ref.bf16_rel_l2[b]);
    }
  }
}

TEST_CASE("parity fails with the RoPE of transformers-4-only keys read wrong") {
  // The check can fail: the Llama-3 case read with plain RoPE at theta 10000
  // (what foresight did before it read rope_parameters) is far off.
  const auto dir = kParity / "tf5-llama3-tied-g3-hd64";
  auto m = config::load_model((dir / "config.json").string());
  REQUIRE(m.rope_scaling.type == "llama3");
  REQUIRE(m.rope_theta == 500000.0);
  REQUIRE(m.tie_embeddings);
  const auto ref = read_reference(dir);
  const auto w = load_checkpoint(dir, m, 1);
  auto plain = m;
  plain.rope_scaling = {};
  auto wrong_theta = plain;
  wrong_theta.rope_theta = 10000.0;
  for (const auto* wrong : {&plain, &wrong_theta}) {
    const auto got = foresight_logits(*wrong, w, ref.tokens);
    CHECK(rel_l2(got[0], ref.logits[0]) > 3 * ref.bf16_rel_l2[0]);
  }
}

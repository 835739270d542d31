// `foresight calibrate`: fit the Forecast projections by ridge regression from
// a prefill's activations and write them as a safetensors file.
#include <memory>

#include <fmt/core.h>

#include "command.hpp"
#include "sizes.hpp"
#include "foresight/config/load.hpp"
#include "foresight/runtime/calibrate.hpp"
#include "foresight/runtime/prompts.hpp"

namespace foresight::cli {
namespace {

struct CalibrateCliOptions {
  std::string model, checkpoint, out, context = "1024", prompt_file, check_file;
  std::int64_t topk = 0, steps = 4;
  double lambda = 1e-2;
  std::uint64_t seed = 1;
};

// The first `n` tokens of `text` for each n of `contexts`; throws naming `file` when it is shorter.
std::vector<std::vector<std::int32_t>> prefixes(const std::vector<std::int32_t>& text,
                                                const std::vector<std::int64_t>& contexts, const std::string& file) {
  std::vector<std::vector<std::int32_t>> out;
  for (auto n : contexts) {
    if (static_cast<std::int64_t>(text.size()) < n)
      throw config::ConfigError(fmt::format("{}: {} tokens, --context asks for {}", file, text.size(), n));
    out.emplace_back(text.begin(), text.begin() + n);
  }
  return out;
}

// Fit and check prompts from --prompt-file / --check-file (empty: random).
void set_real_prompts(const CalibrateCliOptions& o, runtime::CalibrateOptions& co) {
  if (o.prompt_file.empty()) {
    if (!o.check_file.empty()) throw config::ConfigError("--check-file: needs --prompt-file");
    return;
  }
  const auto tok = runtime::checkpoint_tokenizer(o.checkpoint);
  if (!tok)
    throw config::ConfigError("--prompt-file: needs a checkpoint that carries its tokenizer (a .gguf file)");
  co.fit_prompts = prefixes(runtime::read_prompt_text(o.prompt_file, *tok), co.context_tokens, o.prompt_file);
  const std::string check = o.check_file.empty() ? o.prompt_file : o.check_file;
  co.check_prompts = prefixes(runtime::read_prompt_text(check, *tok), co.context_tokens, check);
  if (o.check_file.empty()) fmt::print("recall measured on the fitting text itself (give --check-file for held-out text)\n");
}

int run_calibrate(const CalibrateCliOptions& o) {
  if (o.model.empty() && o.checkpoint.empty())
    throw config::ConfigError("--model: required unless --checkpoint gives the model (a .gguf file, or a "
                              "folder with config.json)");
  const auto m = o.model.empty() ? runtime::checkpoint_model(o.checkpoint) : config::load_model(o.model);
  runtime::Weights w = o.checkpoint.empty() ? runtime::make_synthetic_weights(m, o.seed)
                                            : runtime::load_checkpoint(o.checkpoint, m, o.seed);
  runtime::CalibrateOptions co;
  co.context_tokens = parse_token_list(o.context, "--context");
  for (auto v : co.context_tokens)
    if (v < 2) throw config::ConfigError(fmt::format("--context: {} is not a token count >= 2", v));
  co.topk_blocks = o.topk;
  co.recall_steps = o.steps;
  co.ridge_lambda = o.lambda;
  co.seed = o.seed;
  set_real_prompts(o, co);
  auto be = runtime::make_backend("cpu", {});
  const auto r = runtime::calibrate_forecast(m, w, *be, co);
  runtime::save_forecast(o.out, m, w);
  fmt::print("layer  fit rel. error  recall before  recall after   (non-forced blocks; layer 0: selector)\n");
  for (std::size_t l = 0; l < r.recall_after.size(); ++l) {
    // fit_rel_error: Forecast of layer l predicts layer l+1 (l < L-1); the selector is last.
    const double err = l == 0 ? r.fit_rel_error.back() : r.fit_rel_error[l - 1];
    fmt::print("{:>5}  {:>14.3f}  {:>13.3f}  {:>12.3f}\n", l, err, r.recall_before[l], r.recall_after[l]);
  }
  fmt::print("wrote {}\n", o.out);
  return kExitOk;
}

const CommandRegistrar reg{{"calibrate", 12, [](CLI::App& app) {
  auto o = std::make_shared<CalibrateCliOptions>();
  CLI::App* sub = app.add_subcommand(
      "calibrate",
      "Fit each layer's Forecast by ridge regression (layer l's normalised hidden state ->\n"
      "layer l+1's group-mean query) from a real prefill on the CPU backend, write the\n"
      "Forecast file, and report per-layer recall of the Forecast's block selection against\n"
      "the query's own (non-forced blocks) before and after the fit. Real text with\n"
      "--prompt-file (a GGUF checkpoint's tokenizer), else random token ids.");
  sub->add_option("--model", o->model,
                  "Model config: name, .toml or HF config.json (default with --checkpoint: the checkpoint's own)");
  sub->add_option("--checkpoint", o->checkpoint,
                  "HF checkpoint directory or Llama GGUF file, as for run (default: synthetic weights)");
  sub->add_option("--context", o->context,
                  "Prefill prompt lengths, comma separated; K = 1024 tokens; with --prompt-file the first that "
                  "many tokens of the text (default 1024)");
  sub->add_option("--prompt-file", o->prompt_file,
                  "UTF-8 text to fit on, tokenized by the checkpoint's tokenizer (a .gguf checkpoint; default: "
                  "random token ids)");
  sub->add_option("--check-file", o->check_file,
                  "UTF-8 text to measure recall on (default: the --prompt-file text itself)");
  sub->add_option("--topk", o->topk, "Blocks per KV head for the recall check (default: the model's)");
  sub->add_option("--steps", o->steps, "Decode steps of the recall check (default 4)");
  sub->add_option("--lambda", o->lambda, "Ridge strength, relative to the mean of diag(X^T X) (default 0.01)");
  sub->add_option("--seed", o->seed, "Seed of synthetic weights and prompts (default 1)");
  sub->add_option("--out", o->out, "Forecast safetensors file to write")->required();
  return [o] { return run_calibrate(*o); };
}}};

}  // namespace
}  // namespace foresight::cli

// `foresight calibrate`: fit the Forecast projections by ridge regression from
// a prefill's activations and write them as a safetensors file.
#include <memory>

#include <fmt/core.h>

#include "command.hpp"
#include "sizes.hpp"
#include "foresight/config/load.hpp"
#include "foresight/runtime/calibrate.hpp"

namespace foresight::cli {
namespace {

struct CalibrateCliOptions {
  std::string model, checkpoint, out, context = "1024";
  std::int64_t topk = 0, steps = 4;
  double lambda = 1e-2;
  std::uint64_t seed = 1;
};

int run_calibrate(const CalibrateCliOptions& o) {
  const auto m = config::load_model(o.model);
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
  auto be = runtime::make_backend("cpu");
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
      "the query's own (non-forced blocks) before and after the fit.");
  sub->add_option("--model", o->model, "Model config: name, .toml or HF config.json")->required();
  sub->add_option("--checkpoint", o->checkpoint, "HF checkpoint directory (default: synthetic weights)");
  sub->add_option("--context", o->context, "Prefill prompt lengths, comma separated; K = 1024 tokens (default 1024)");
  sub->add_option("--topk", o->topk, "Blocks per KV head for the recall check (default: the model's)");
  sub->add_option("--steps", o->steps, "Decode steps of the recall check (default 4)");
  sub->add_option("--lambda", o->lambda, "Ridge strength, relative to the mean of diag(X^T X) (default 0.01)");
  sub->add_option("--seed", o->seed, "Seed of synthetic weights and prompts (default 1)");
  sub->add_option("--out", o->out, "Forecast safetensors file to write")->required();
  return [o] { return run_calibrate(*o); };
}}};

}  // namespace
}  // namespace foresight::cli

// `foresight synth`: a schema-valid trace of a run without a GPU (roofline op
// times, workload-model selections, policy cache replay, simulated times).
#include <chrono>
#include <ctime>
#include <filesystem>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "command.hpp"
#include "foresight/common/files.hpp"
#include "sizes.hpp"
#include "kernel_args.hpp"
#include "workload_options.hpp"
#include "foresight/config/load.hpp"
#include "foresight/sim/output.hpp"
#include "foresight/sim/synth.hpp"
#include "foresight/trace/reader.hpp"
#include "foresight/trace/steps.hpp"
#include "foresight/trace/writer.hpp"

namespace foresight::cli {
namespace {

struct SynthArgs {
  std::string model = "minicpm4.1-8b", hardware = "h100-sxm", mode = "sparda", out;
  std::string policy = "sparda";
  std::int64_t batch = 1, context = 32768, steps = 8, warmup = 1, topk = 0, cache_blocks = 0, gather_ctas = 0;
  WorkloadOptions workload;
  KernelArgs kernels;
  std::uint64_t seed = 1;
  bool prefill = false;
};

// The synthesizer's options; throws config::ConfigError naming the option.
sim::SynthOptions synth_options(const SynthArgs& a) {
  sim::SynthOptions o;
  o.model = config::load_model(a.model);
  o.hardware = config::load_hardware(a.hardware);
  auto& r = o.run;
  r.mode = config::parse_mode(a.mode, "--mode");
  r.eviction = config::parse_eviction(a.policy, "--policy");
  r.batch = a.batch;
  r.context_tokens.assign(static_cast<std::size_t>(std::max<std::int64_t>(a.batch, 0)), a.context);
  r.decode_steps = a.steps;
  r.warmup_steps = a.warmup;
  r.prefill = a.prefill ? "synthetic" : "none";
  r.topk_blocks = a.topk > 0 ? a.topk : o.model.sparse.topk_blocks;
  r.cache_blocks = a.cache_blocks;
  r.kernels = a.kernels.resolve();
  if (a.gather_ctas < 0) throw config::ConfigError("--gather-ctas: must be >= 0 (0: automatic)");
  r.gather_ctas = a.gather_ctas > 0 ? a.gather_ctas : config::default_gather_ctas(a.batch, r.kernels);
  r.workload = a.workload.resolve(r.mode);
  r.seed = a.seed;
  r.backend = "synth";
  r.selection_source = "workload";
  config::validate_run(r, o.model, "synth options");
  return o;
}

int run_synth(const SynthArgs& a) {
  sim::SynthOptions o = synth_options(a);
  o.tool_version = FORESIGHT_VERSION;
  o.created_utc = trace::utc_now();
  const trace::Trace t = sim::synthesize(o);
  trace::validate(t, "synthesized trace");
  const std::filesystem::path dir = a.out;
  std::filesystem::create_directories(dir);
  trace::write_trace(dir / "trace.h5", t);
  nlohmann::json cfg = {{"model", config::to_json(o.model)},
                        {"hardware", config::to_json(o.hardware)},
                        {"run", config::to_json(t.header.run)},
                        {"assumptions", sim::synth_assumptions(o)}};
  common::write_json_atomic(dir / "config.json", cfg);
  std::int64_t decode_ns = 0;
  for (const auto& s : trace::steady_decode_steps(t)) decode_ns += s.end_ns - s.start_ns;
  fmt::print("wrote {}: {} ops, {} timed steps, mean decode step {:.3f} ms\n", (dir / "trace.h5").string(),
             t.ops.size(), a.steps, static_cast<double>(decode_ns) / 1e6 / static_cast<double>(a.steps));
  return kExitOk;
}

const CommandRegistrar reg{{"synth", 40, [](CLI::App& app) {
  auto a = std::make_shared<SynthArgs>();
  CLI::App* sub = app.add_subcommand(
      "synth", "Write a synthetic, schema-valid trace without a GPU: roofline op times,\n"
               "workload-model selections, cache replay, discrete-event timing.");
  sub->add_option("--model", a->model, "Model config: name in configs/models or a path (default minicpm4.1-8b)");
  sub->add_option("--hardware", a->hardware, "Hardware config: name in configs/hardware or a path (default h100-sxm)");
  sub->add_option("--mode", a->mode,
                  "dense, sparse, sparse-offload, sparda-no-prefetch, sparda, sparda-no-offload, or the DSA token "
                  "modes dsa and dsa-offload (an indexer picks the model's dsa.topk_tokens per sequence and layer; "
                  "/token_selections) (default sparda)");
  sub->add_option("--batch", a->batch, "Sequences decoded together (default 1)");
  sub->add_option("--context", a->context, "Context tokens per sequence at the first decode step (default 32768)")->transform(tokens_transform());
  sub->add_option("--steps", a->steps, "Decode steps to synthesize (default 8)");
  sub->add_option("--warmup", a->warmup, "Warm-up decode steps before the timed ones; in the trace, left out of metrics (default 1)");
  sub->add_option("--topk", a->topk, "Blocks selected per KV head (default: the model's topk_blocks)");
  sub->add_option("--cache-blocks", a->cache_blocks, "GPU slots per (layer, KV head) incl. the tail slot; 0 = top-k + 1 (default 0)");
  sub->add_option("--policy", a->policy, "Eviction policy: sparda, lru, lfu, fifo, arc or opt (default sparda)");
  sub->add_option("--gather-ctas", a->gather_ctas,
                  "CTAs of the H2D gather kernel (default 0 = the gather path's, as foresight run: 12 with "
                  "kv_gather=bulk; with sm_loads 16 up to batch 16, 32 above)");
  a->kernels.add_to(sub, "Kernel option of the modelled cuda run (kv_gather picks the gather path it times),");
  a->workload.add_to(sub);
  sub->add_option("--seed", a->seed, "Workload random seed (default 1)");
  sub->add_flag("--prefill", a->prefill, "Also synthesize one prefill chunk before decoding (default off)");
  sub->add_option("--out", a->out, "Output folder: trace.h5 and config.json (required)")->required();
  return [a] { return run_synth(*a); };
}}};

}  // namespace
}  // namespace foresight::cli

// `foresight run`: decode for real on a backend and write a run folder
// (trace.h5, metrics.json, config.json, timeline.json, tokens.json).
#include <algorithm>
#include <array>
#include <atomic>
#include <csignal>
#include <signal.h>  // sigaction
#include <memory>
#include <sstream>

#include <fmt/core.h>

#include "command.hpp"
#include "progress.hpp"
#include "sizes.hpp"
#include "kernel_args.hpp"
#include "workload_options.hpp"
#include "foresight/config/load.hpp"
#include "foresight/runtime/backend.hpp"
#include "foresight/runtime/engine.hpp"
#include "foresight/runtime/gguf.hpp"
#include "foresight/runtime/memory_plan.hpp"
#include "foresight/runtime/prompts.hpp"
#include "foresight/runtime/run.hpp"
#include "foresight/runtime/safetensors.hpp"
#include "foresight/trace/reader.hpp"

namespace foresight::cli {
namespace {

// Set by the signal handler, polled by the run (prefill chunks, decode
// steps): a lock-free atomic store is async-signal-safe.
std::atomic<bool> g_stop{false};
volatile std::sig_atomic_t g_signal = 0;  // the signal that asked to stop
static_assert(std::atomic<bool>::is_always_lock_free);
extern "C" void on_stop_signal(int sig) {
  g_signal = sig;
  g_stop.store(true);
}

// SIGINT (Ctrl-C), SIGTERM (kill, a batch scheduler) and SIGHUP (a closed
// terminal) all stop the run at the next prefill chunk or decode step and
// leave a readable trace marked truncated; the previous handlers come back
// when the run ends.
class StopSignals {
 public:
  StopSignals() {
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (std::size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], &sa, &old_[i]);
  }
  ~StopSignals() {
    for (std::size_t i = 0; i < kSignals.size(); ++i) sigaction(kSignals[i], &old_[i], nullptr);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  static constexpr std::array<int, 3> kSignals{SIGINT, SIGTERM, SIGHUP};
  std::array<struct sigaction, 3> old_{};
};

const char* signal_name(int sig) {
  switch (sig) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
    default: return "a signal";
  }
}

struct RunOptions {
  std::string model, hardware, mode = "dense", backend = "cpu", context;  // context "": 4096 or the whole prompt
  std::string prefill = "real", selections = "model", checkpoint, forecast, out, prompt_file, prompt_ids;
  double l2_reserve_mib = 0;
  std::int64_t batch = 1, steps = 4, warmup = 1, topk = 0, cache_blocks = 0, prefill_chunk = 0, gather_ctas = 0;
  std::string prefill_attention;  // empty: dense (or dynamic-sparse with --prefill dynamic-sparse)
  double prefill_recall = 0.95;
  WorkloadOptions workload;
  KernelArgs kernels;
  std::uint64_t seed = 1;
  bool dump_logits = false;
  bool recall = false;
  bool no_trace = false;
  bool no_graph = false;
  bool teacher_force = false;
};

std::vector<std::int64_t> parse_contexts(const std::string& s, std::int64_t batch) {
  std::vector<std::int64_t> v = parse_token_list(s, "--context");
  if (v.size() == 1) v.assign(static_cast<std::size_t>(std::max<std::int64_t>(batch, 1)), v[0]);
  if (static_cast<std::int64_t>(v.size()) != batch) {
    throw config::ConfigError(fmt::format("--context: {} lengths given for --batch {}", v.size(), batch));
  }
  return v;
}

// --model, or else the checkpoint's own config: a GGUF file's metadata or
// the checkpoint folder's config.json.
config::ModelConfig model_of(const RunOptions& o) {
  if (!o.model.empty()) return config::load_model(o.model);
  if (o.checkpoint.empty())
    throw config::ConfigError("--model: required unless --checkpoint gives the model (a .gguf file, or a "
                              "folder with config.json)");
  return runtime::checkpoint_model(o.checkpoint);
}

// --prompt-file (through the checkpoint's tokenizer) or --prompt-ids into
// req.texts, and the contexts: --context, or else each whole prompt less the
// teacher-forced steps. Without a prompt: --context or 4096 tokens.
void set_prompts(const RunOptions& o, runtime::RunRequest& req) {
  if (!o.prompt_file.empty() && !o.prompt_ids.empty())
    throw config::ConfigError("--prompt-file and --prompt-ids: give one of them");
  if (!o.checkpoint.empty()) req.tokenizer = runtime::checkpoint_tokenizer(o.checkpoint);
  if (!o.prompt_file.empty()) {
    if (!req.tokenizer)
      throw config::ConfigError("--prompt-file: needs a checkpoint that carries its tokenizer (a .gguf file); "
                                "give token ids with --prompt-ids instead");
    req.texts = {runtime::read_prompt_text(o.prompt_file, *req.tokenizer)};
    req.texts_source = o.prompt_file;
  } else if (!o.prompt_ids.empty()) {
    req.texts = runtime::read_prompt_ids(o.prompt_ids, req.model.vocab);
    req.texts_source = o.prompt_ids;
  }
  req.teacher_force = o.teacher_force;
  if (req.texts.size() > 1 && static_cast<std::int64_t>(req.texts.size()) != o.batch)
    throw config::ConfigError(fmt::format("{}: {} prompts for --batch {} (give one, or one per sequence)",
                                          req.texts_source, req.texts.size(), o.batch));
  if (!o.context.empty() || req.texts.empty()) {
    req.run.context_tokens = parse_contexts(o.context.empty() ? "4096" : o.context, o.batch);
    return;
  }
  const std::int64_t forced = o.teacher_force ? o.warmup + o.steps : 0;
  for (std::int64_t b = 0; b < o.batch; ++b) {
    const auto& t = req.texts[req.texts.size() == 1 ? 0 : static_cast<std::size_t>(b)];
    const std::int64_t whole = std::max<std::int64_t>(static_cast<std::int64_t>(t.size()) - forced, 1);
    if (whole + forced > req.model.max_context)
      throw config::ConfigError(fmt::format("{}: the prompt has {} tokens, beyond the model's max_context {}; give "
                                            "--context N to use its first N tokens",
                                            req.texts_source, t.size(), req.model.max_context));
    req.run.context_tokens.push_back(whole);
  }
}

// --prefill, --prefill-attention, --prefill-recall and --prefill-chunk.
// "--prefill dynamic-sparse" is real prefill with dynamic sparse attention;
// a sparse prefill runs each prompt as one chunk unless --prefill-chunk says
// otherwise (the contract then rejects a chunk shorter than the prompt).
void set_prefill(const RunOptions& o, config::RunConfig& r) {
  std::string attention = o.prefill_attention;
  r.prefill = o.prefill;
  if (o.prefill == "dynamic-sparse") {
    if (!attention.empty() && attention != "dynamic-sparse")
      throw config::ConfigError(fmt::format("--prefill dynamic-sparse and --prefill-attention {} disagree", attention));
    r.prefill = "real";
    attention = "dynamic-sparse";
  }
  r.prefill_attention = config::parse_prefill_attention(attention.empty() ? "dense" : attention,
                                                        "--prefill-attention");
  r.prefill_recall = o.prefill_recall;
  std::int64_t prompt = 0;
  for (auto c : r.context_tokens) prompt = std::max(prompt, c - 1);
  const bool sparse = config::prefill_is_sparse(r.prefill_attention);
  r.prefill_chunk_tokens = o.prefill_chunk != 0 ? o.prefill_chunk : sparse ? std::max<std::int64_t>(prompt, 1) : 512;
}

// The request from the options; throws config::ConfigError naming the option.
runtime::RunRequest run_request(const RunOptions& o) {
  runtime::RunRequest req;
  req.model = model_of(o);
  // No --hardware (or "cpu"): the CPU backend plans for and records this host;
  // the CUDA backend plans for h100-sxm.
  const std::string hw = o.hardware.empty() ? (o.backend == "cpu" ? "cpu" : "h100-sxm") : o.hardware;
  req.hardware = hw == "cpu" ? runtime::host_cpu_hardware() : config::load_hardware(hw);
  auto& r = req.run;
  r.mode = config::parse_mode(o.mode, "--mode");
  r.backend = o.backend;
  r.batch = o.batch;
  set_prompts(o, req);
  r.decode_steps = o.steps;
  r.warmup_steps = o.warmup;
  r.prefill = o.prefill;
  r.topk_blocks = o.topk > 0 ? o.topk : req.model.sparse.topk_blocks;
  r.cache_blocks = o.cache_blocks;
  if (!(o.l2_reserve_mib >= 0) || o.l2_reserve_mib > 1 << 20)
    throw config::ConfigError(fmt::format("--l2-reserve: {} MiB is not a size in [0, 1048576]", o.l2_reserve_mib));
  r.l2_reserve_bytes = static_cast<std::int64_t>(o.l2_reserve_mib * (1 << 20));
  r.seed = o.seed;
  r.workload = o.workload.resolve(r.mode);
  if (o.selections == "model" || o.selections == "workload") {
    r.selection_source = o.selections;
  } else {
    r.selection_source = "file";
    req.selections_file = o.selections;
  }
  req.checkpoint = o.checkpoint;
  req.forecast = o.forecast;
  req.out_dir = o.out;
  req.dump_logits = o.dump_logits;
  req.measure_recall = o.recall;
  req.trace = !o.no_trace;
  req.cuda_graph = !o.no_graph;
  set_prefill(o, r);
  r.kernels = o.kernels.resolve();
  if (o.gather_ctas < 0) throw config::ConfigError("--gather-ctas: must be >= 0 (0: automatic)");
  r.gather_ctas = o.gather_ctas > 0 ? o.gather_ctas
                                    : runtime::default_gather_ctas(o.batch, r.kernels);
  return req;
}

int run_run(const RunOptions& o) {
  runtime::RunRequest req = run_request(o);
  req.stop = &g_stop;
  req.progress = progress_bar("run");  // prefill tokens, then decode steps
  runtime::RunResult res;
  {
    const StopSignals handlers;
    res = runtime::run_to_folder(req);
  }
  if (res.truncated) {
    const int sig = g_signal;
    fmt::print(stderr, "foresight run: stopped early by {} ({}); {} in {}\n", signal_name(sig), res.reason,
               req.trace ? "trace marked truncated" : "metrics.json status truncated", o.out);
    return 128 + (sig ? sig : SIGINT);  // the shell's convention: 130 for SIGINT, 143 SIGTERM, 129 SIGHUP
  }
  fmt::print("{}: prefill {:.1f} ms, decode {:.3f} ms/step (mean of {} steps), run folder {}\n",
             config::to_string(req.run.mode), res.prefill_ms, res.decode_step_ms_mean, req.run.decode_steps,
             o.out);
  if (!res.text.empty() && !req.teacher_force) fmt::print("generated (sequence 0): {}\n", res.text[0]);
  return kExitOk;
}

const CommandRegistrar reg{{"run", 10, [](CLI::App& app) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* sub = app.add_subcommand(
      "run",
      "Decode for real: prefill, then greedy decode steps of a Llama-family GQA model, timing\n"
      "every stage. Writes OUT/trace.h5, metrics.json, config.json, timeline.json (Perfetto)\n"
      "and tokens.json. Ctrl-C (SIGINT), SIGTERM or SIGHUP stops at the next prefill chunk or\n"
      "decode step and leaves a readable trace marked truncated (exit 128 + the signal's number).\n"
      "Files of an earlier run in OUT are removed first.");
  sub->add_option("--model", o->model,
                  "Model: a name in configs/models (tiny, minicpm4.1-8b, llama3.1-8b), a .toml or a HF config.json "
                  "(default with --checkpoint: the checkpoint's config.json or GGUF metadata)");
  sub->add_option("--hardware", o->hardware,
                  "Hardware config (name in configs/hardware or .toml) the memory plan is made for; 'cpu' is this "
                  "host (default: cpu on the cpu backend, h100-sxm on cuda). A cpu-backend run records the host "
                  "CPU as its hardware in the trace whatever this is");
  sub->add_option("--mode", o->mode,
                  "Decode mode (default dense): dense; sparse (query selects, KV on the GPU); sparse-offload "
                  "(KV in pinned host memory, query selects, misses fetched inline); sparda-no-prefetch "
                  "(Forecast of layer l-1 selects, fetched inline); sparda (Forecast selects, fetched on a side "
                  "stream while the previous layer computes); sparda-no-offload (Forecast selects, KV on the GPU); "
                  "dsa (an indexer selects the model's dsa.topk_tokens tokens per sequence and layer, gathered "
                  "from the GPU store); dsa-offload (the same, KV in pinned host memory, tokens gathered over "
                  "PCIe every step)");
  sub->add_option("--backend", o->backend,
                  "cpu (reference kernels) or cuda (needs a build with CUDA and a GPU; head_dim 64/128, "
                  "64-token blocks) (default cpu)");
  sub->add_option("--batch", o->batch, "Sequences decoded together (default 1)");
  sub->add_option("--context", o->context,
                  "Prompt tokens per sequence: one value for all, or a comma list of --batch values; with "
                  "--prompt-file/--prompt-ids the first that many tokens of the prompt (default: the whole "
                  "prompt, less --teacher-force's steps; 4096 random ids without one)");
  sub->add_option("--prompt-file", o->prompt_file,
                  "UTF-8 text file: the prompt of every sequence, tokenized with the checkpoint's own "
                  "tokenizer (a .gguf checkpoint); tokens.json then also holds the generated text");
  sub->add_option("--prompt-ids", o->prompt_ids,
                  "JSON file of token ids: one list (every sequence's prompt) or a list of --batch lists");
  sub->add_flag("--teacher-force", o->teacher_force,
                "Decode steps feed the prompt text's next tokens instead of the model's own, and metrics.json "
                "'score' gives the perplexity and top-1 accuracy of those positions (needs a prompt with "
                "--context + --warmup + --steps tokens; default off)");
  sub->add_option("--steps", o->steps, "Timed decode steps (default 4)");
  sub->add_option("--warmup", o->warmup, "Untimed decode steps before the timed ones (default 1)");
  sub->add_option("--prefill", o->prefill,
                  "real (chunked prefill through the model), synthetic (KV of realistic scale, no compute) or "
                  "dynamic-sparse (real, with --prefill-attention dynamic-sparse); default real");
  sub->add_option("--prefill-attention", o->prefill_attention,
                  "Real prefill's attention: dense (cuDNN, default), dynamic-sparse (per layer and head the "
                  "cheapest of three patterns that keeps --prefill-recall of the last 64 queries' attention), or "
                  "one pattern for every head: triangular (sinks + local band), interval-slash (columns + "
                  "diagonals), block-cluster (dense 64x64 tiles). Sparse runs each prompt as one chunk; the "
                  "trace records each head's pattern, tiles and estimated recall");
  sub->add_option("--prefill-recall", o->prefill_recall,
                  "Sparse prefill: share of the estimated attention mass each head keeps, in (0, 1] (default 0.95)");
  sub->add_option("--prefill-chunk", o->prefill_chunk,
                  "Tokens per prefill chunk (default 512; sparse prefill attention: the whole prompt)");
  sub->add_option("--selections", o->selections,
                  "Block selections: model (computed, default), workload (workload model) or a trace FILE (.h5)");
  o->workload.add_to(sub);
  sub->add_option("--topk", o->topk, "Blocks selected per KV head (default: the model's sparse.topk_blocks)");
  sub->add_option("--cache-blocks", o->cache_blocks,
                  "GPU slots per (layer, sequence, KV head) including the tail slot; 0 = top-k + 1, SparDA's exact "
                  "working set; more keeps extra blocks with LRU eviction (sparse modes; default 0)");
  sub->add_option("--gather-ctas", o->gather_ctas,
                  "CTAs of the gather kernel that fetches KV blocks from pinned host memory; fewer CTAs "
                  "emulate a slower link (default 0 = the gather path's: 12 with kv_gather=bulk; with sm_loads 16 up to batch 16, 32 above)");
  sub->add_option("--l2-reserve", o->l2_reserve_mib,
                  "GPU L2 persisting set-aside in MiB (0 = none, default): the slot buffers of the first layers "
                  "that fit are marked persisting while their attention runs (dsa: the KV stores of the first "
                  "layers whose token reads fit, while their gather runs), inside the CUDA graphs too; "
                  "clamped to what the GPU grants and recorded in the trace (run.l2_reserve_bytes) and "
                  "metrics.json 'l2' (block-sparse modes and dsa, cuda backend; docs/runtime.md)");
  sub->add_flag("--no-trace", o->no_trace,
                "Time whole steps only: no per-op events, no trace.h5 or timeline.json (to measure tracing "
                "overhead; default off)");
  o->kernels.add_to(sub, "Kernel variant or launch switch of a cuda run,");
  sub->add_flag("--no-graph", o->no_graph,
                "On the cuda backend: launch every kernel (and, with tracing, every op event) from the host "
                "instead of replaying the decode step as a CUDA graph (to measure host overhead; default off)");
  sub->add_option("--checkpoint", o->checkpoint,
                  "HF Llama-format checkpoint directory (*.safetensors, transformers 4 or 5), or a llama.cpp "
                  "Llama GGUF file (F32/F16/BF16/Q8_0/Q4_0/Q4_1, dequantized to bf16); default: synthetic weights");
  sub->add_option("--forecast", o->forecast,
                  "safetensors file with model.layers.{l}.self_attn.forecast_proj.weight (default: synthetic)");
  sub->add_option("--seed", o->seed, "Seed of synthetic weights, prompts and workload (default 1)");
  sub->add_flag("--dump-logits", o->dump_logits, "Write the last step's logits to OUT/logits.npy (default off)");
  sub->add_flag("--recall", o->recall,
                "sparda-no-offload: also select with each layer's own query and report the Forecast's recall "
                "in metrics.json (adds scoring ops to the trace; default off)");
  sub->add_option("--out", o->out, "Run folder to write (created; files replaced)")->required();
  return [o] { return run_run(*o); };
}}};

}  // namespace
}  // namespace foresight::cli

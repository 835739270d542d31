// run_to_folder: the whole `foresight run`.
#include "foresight/runtime/run.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <optional>
#include <random>
#include <stdexcept>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "foresight/common/errors.hpp"
#include "foresight/common/files.hpp"
#include "foresight/common/stats.hpp"
#include "foresight/config/load.hpp"
#include "foresight/runtime/device_weights.hpp"
#include "foresight/runtime/engine.hpp"
#include "foresight/runtime/memory_plan.hpp"
#include "foresight/trace/export.hpp"
#include "foresight/trace/metrics.hpp"
#include "foresight/trace/reader.hpp"
#include "foresight/trace/writer.hpp"

namespace foresight::runtime {
namespace {

constexpr double kMsPerNs = 1e-6;

// dir/name, written atomically (common/files.hpp).
void write_file(const std::filesystem::path& dir, const std::string& name, const std::string& text) {
  common::write_file_atomic(dir / name, text);
}

// NumPy .npy v1.0 of a float32 [rows, cols] array.
std::string npy_f32(const std::vector<float>& v, std::size_t rows, std::size_t cols) {
  std::string header = fmt::format("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}", rows, cols);
  while ((10 + header.size() + 1) % 64 != 0) header.push_back(' ');
  header.push_back('\n');
  std::string out("\x93NUMPY\x01\x00", 8);
  out.push_back(static_cast<char>(header.size() & 0xff));
  out.push_back(static_cast<char>(header.size() >> 8));
  out += header;
  out.append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
  return out;
}

// Sequence b's prompt and, after it, the rest of its text (teacher forcing).
struct Prompts {
  std::vector<std::vector<std::int32_t>> ids, rest;  // [seq][token]
};

Prompts random_prompts(const config::RunConfig& run, std::int64_t vocab) {
  std::mt19937_64 rng(run.seed * 0x9E3779B97F4A7C15ull + 17);
  Prompts p;
  for (auto c : run.context_tokens) {
    std::vector<std::int32_t> v(static_cast<std::size_t>(c));
    for (auto& t : v) t = static_cast<std::int32_t>(rng() % static_cast<std::uint64_t>(vocab));
    p.ids.push_back(std::move(v));
    p.rest.emplace_back();
  }
  return p;
}

// The prompts of req.texts; throws ConfigError naming the source when a text
// is too short for its context (and, teacher-forced, the steps) or holds an
// id outside the vocabulary.
Prompts text_prompts(const RunRequest& req) {
  const auto& run = req.run;
  const std::size_t B = run.context_tokens.size();
  if (req.texts.size() != 1 && req.texts.size() != B) {
    throw config::ConfigError(fmt::format("{}: {} prompts for --batch {} (give one, or one per sequence)",
                                          req.texts_source, req.texts.size(), B));
  }
  const std::int64_t steps = req.teacher_force ? run.warmup_steps + run.decode_steps : 0;
  Prompts p;
  for (std::size_t b = 0; b < B; ++b) {
    const auto& text = req.texts[req.texts.size() == 1 ? 0 : b];
    for (std::int32_t id : text) {
      if (id < 0 || id >= req.model.vocab) {
        throw config::ConfigError(fmt::format("{}: token id {} is outside the model's vocabulary of {}",
                                              req.texts_source, id, req.model.vocab));
      }
    }
    const std::int64_t ctx = run.context_tokens[b], need = ctx + steps;
    if (static_cast<std::int64_t>(text.size()) < need) {
      throw config::ConfigError(fmt::format(
          "{}: prompt {} has {} tokens; context {}{} needs {}", req.texts_source, b, text.size(), ctx,
          steps ? fmt::format(" + {} teacher-forced steps", steps) : "", need));
    }
    p.ids.emplace_back(text.begin(), text.begin() + ctx);
    p.rest.emplace_back(text.begin() + ctx, text.end());
  }
  return p;
}

Prompts make_prompts(const RunRequest& req) {
  if (req.teacher_force && req.texts.empty())
    throw config::ConfigError("--teacher-force: needs a real prompt (--prompt-file or --prompt-ids)");
  return req.texts.empty() ? random_prompts(req.run, req.model.vocab) : text_prompts(req);
}

// Teacher-forced score over the decoded positions (natural log).
struct Score {
  std::int64_t tokens = 0, top1 = 0;
  double nll = 0;

  // Adds one step: logits [batch, vocab], predicted ids, the true next ids.
  void add(const std::vector<float>& logits, std::int64_t vocab, const std::vector<std::int32_t>& predicted,
           const std::vector<std::int32_t>& truth) {
    for (std::size_t b = 0; b < truth.size(); ++b) {
      const float* row = logits.data() + b * static_cast<std::size_t>(vocab);
      const float mx = *std::max_element(row, row + vocab);
      double sum = 0;
      for (std::int64_t v = 0; v < vocab; ++v) sum += std::exp(static_cast<double>(row[v] - mx));
      nll += std::log(sum) + mx - row[truth[b]];
      top1 += predicted[b] == truth[b];
      ++tokens;
    }
  }
};

// A metric's value, 0 when it does not apply (NaN) or is missing.
double metric_value(const trace::Metrics& m, const std::string& name) {
  for (const auto& [k, v] : m)
    if (k == name) return std::isfinite(v) ? v : 0.0;
  return 0.0;
}

// The run's own facts beside the metrics (docs/metrics.md, keys only `run` writes).
void add_run_facts(nlohmann::json& mj, const RunRequest& req, const MemoryPlan& plan, const RunResult& result) {
  mj["status"] = result.truncated ? "truncated" : "complete";
  for (const auto& item : plan.items) mj["memory"]["by_category"][item.category] = item.bytes;
  mj["gather_ctas"] = req.run.gather_ctas;
  mj["cache_blocks"] = req.run.cache_blocks;
  mj["tracing"] = req.trace;
  mj["tokens"] = result.tokens;
}

// Forecast recall (layer 0: selector) vs the query's own selection, non-forced blocks.
void add_recall(nlohmann::json& mj, const std::vector<RecallCounts>& recall) {
  if (recall.empty()) return;
  RecallCounts all;
  for (std::size_t l = 0; l < recall.size(); ++l) {
    mj["recall"]["layer"][std::to_string(l)] = recall[l].recall();
    all.query_blocks += recall[l].query_blocks;
    all.matched += recall[l].matched;
  }
  mj["recall"]["mean"] = all.recall();
}

// Longest prompt (tokens) of the run: the context of its feasibility table.
std::int64_t longest_context(const config::RunConfig& run) {
  std::int64_t longest = 0;
  for (auto c : run.context_tokens) longest = std::max(longest, c);
  return longest;
}

// Throws MemoryError with the plan's breakdown and the largest batch per mode
// at context `longest` (tokens) when the plan does not fit.
void require_fit(const MemoryPlan& plan, std::int64_t longest, const std::vector<FeasibilityRow>& feasibility) {
  if (plan.fits()) return;
  throw MemoryError(fmt::format("the run does not fit in memory:\n{}\nlargest batches at context {}:\n{}",
                                plan.breakdown(), longest, format_feasibility_table(feasibility)));
}

// The run's weights on `backend`: checkpoint or synthetic, with the Forecast
// file if any. The host copy is freed once uploaded (pinned KV may need that memory).
std::unique_ptr<DeviceWeights> upload_weights(const RunRequest& req, Backend& backend) {
  const auto& m = req.model;
  Weights w = req.checkpoint.empty() ? make_synthetic_weights(m, req.run.seed)
                                     : load_checkpoint(req.checkpoint, m, req.run.seed);
  if (!req.forecast.empty()) load_forecast(req.forecast, m, w);
  return std::make_unique<DeviceWeights>(m, w, backend);
}

// Throws unless `src`'s selections cover every (step, layer, sequence) the run decodes.
void require_selection_coverage(const trace::Trace& src, const RunRequest& req) {
  const auto& run = req.run;
  std::int64_t last_step = -1, last_layer = -1, last_seq = -1;
  for (const auto& k : src.selection_keys) {
    last_step = std::max<std::int64_t>(last_step, k.step);
    last_layer = std::max<std::int64_t>(last_layer, k.layer);
    last_seq = std::max<std::int64_t>(last_seq, k.seq);
  }
  const std::int64_t steps = run.warmup_steps + run.decode_steps;
  if (last_step + 1 < steps || last_layer + 1 < req.model.n_layers || last_seq + 1 < run.batch) {
    throw std::invalid_argument(fmt::format(
        "{}: selections cover {} steps, {} layers and {} sequences; this run needs {} steps "
        "(warm-up + decode), {} layers and {} sequences",
        req.selections_file.string(), last_step + 1, last_layer + 1, last_seq + 1, steps, req.model.n_layers,
        run.batch));
  }
}

// Block selections from outside the model (run.selection_source "workload" or
// "file"); null: the model selects.
std::unique_ptr<ExternalSelections> load_selections(const RunRequest& req) {
  if (req.run.selection_source == "workload") return make_workload_selections(req.model, req.run);
  if (req.run.selection_source != "file") return nullptr;
  const trace::Trace src = trace::read_trace(req.selections_file);
  require_selection_coverage(src, req);
  return make_trace_selections(src, req.selections_file.string());
}

// The hardware the run records: a CPU-backend run ran on this host, on one
// stream, whatever req.hardware the memory plan was made for (a GPU config
// plans a CPU run as if on that GPU); other backends record req.hardware.
config::HardwareConfig recorded_hardware(const RunRequest& req, const Backend& backend) {
  if (backend.name() != "cpu" || req.hardware.name == "cpu") return req.hardware;
  return host_cpu_hardware();
}

// The trace header of this run: tool, clock, resolved configs.
trace::Header run_header(const RunRequest& req, const Backend& backend) {
  trace::Header header;
  header.tool_version = FORESIGHT_VERSION;
  header.created_utc = trace::utc_now();
  header.clock = backend.clock_name();
  header.model = req.model;
  header.hardware = recorded_hardware(req, backend);
  header.run = req.run;
  header.run.cuda_graph = req.cuda_graph;
  return header;
}

// Traced: trace.h5 at `trace_path`. Untraced: step spans and cache outcomes in
// memory, for the metrics.
std::unique_ptr<TraceSink> open_sink(const RunRequest& req, const Backend& backend,
                                     const std::filesystem::path& trace_path) {
  const trace::Header header = run_header(req, backend);
  const auto width = static_cast<std::uint32_t>(req.run.topk_blocks);
  return req.trace ? make_h5_trace_sink(trace_path, header, width)
                   : std::make_unique<MemoryTraceSink>(header, width, false);
}

// What the decode loop leaves besides the tokens (RunResult::tokens).
struct DecodeOutcome {
  std::vector<float> logits;          // last step's [batch, vocab]; empty when no step ran
  CacheTotals cache;
  std::vector<RecallCounts> recall;   // per layer (sparda-no-offload with --measure-recall)
  std::int64_t pin_ns = 0;            // time to pin the host KV
  Score score;                        // teacher-forced runs
  std::vector<config::L2Window> l2;   // the L2 reservation's windows
};

// Prefill `prompts` then decode up to eo.max_steps steps, appending tokens to
// `result` (truncated on a stop request); closes the trace through `rec`, as
// truncated when anything throws.
DecodeOutcome decode(const RunRequest& req, const DeviceWeights& weights, Recorder& rec, const EngineOptions& eo,
                     const Prompts& prompts, RunResult& result) {
  DecodeOutcome out;
  try {
    DecodeEngine engine(req.model, weights, rec, eo);
    out.pin_ns = engine.pin_ns();
    engine.prefill(prompts.ids);
    if (engine.prefill_interrupted()) {
      result.truncated = true;
      result.reason = "interrupted during prefill";
    }
    std::vector<std::int32_t> forced, truth(prompts.ids.size());
    for (std::int64_t s = 0; s < eo.max_steps && !result.truncated; ++s) {
      if (req.stop && req.stop->load()) {
        result.truncated = true;
        result.reason = fmt::format("interrupted before decode step {}", s);
        break;
      }
      if (s == req.fail_at_step) throw std::runtime_error(fmt::format("injected failure at decode step {}", s));
      const auto next = engine.step(forced);
      for (std::size_t b = 0; b < next.size(); ++b) result.tokens[b].push_back(next[b]);
      if (req.teacher_force) {
        // This step predicted the text's token s after the prompt; the next step feeds it.
        for (std::size_t b = 0; b < truth.size(); ++b) truth[b] = prompts.rest[b][static_cast<std::size_t>(s)];
        out.score.add(engine.last_logits(), req.model.vocab, next, truth);
        forced = truth;
      }
      if (req.progress) req.progress(static_cast<std::size_t>(s + 1), static_cast<std::size_t>(eo.max_steps), "decode");
    }
    if (engine.steps_done() > 0) out.logits = engine.last_logits();
    out.cache = engine.cache_totals();
    out.recall = engine.recall_by_layer();
    out.l2 = engine.l2_windows();
  } catch (const std::exception& e) {
    rec.close(trace::RunStatus::truncated, e.what());
    throw;
  }
  rec.close(result.truncated ? trace::RunStatus::truncated : trace::RunStatus::complete, result.reason);
  return out;
}

// metrics.json "l2": the reservation the run held and its windows (docs/metrics.md).
void add_l2(nlohmann::json& mj, std::int64_t reserve_bytes, const std::vector<config::L2Window>& windows) {
  if (reserve_bytes <= 0) return;
  mj["l2"]["reserve_bytes"] = reserve_bytes;
  mj["l2"]["windows"] = nlohmann::json::array();
  for (const auto& w : windows)
    mj["l2"]["windows"].push_back({{"layer", w.layer}, {"bytes", w.bytes}, {"hit_ratio", w.hit_ratio}});
}

// The L2 set-aside asked for (run.l2_reserve_bytes), clamped to what the
// device grants; throws ConfigError where the backend has no such control.
void resolve_l2(RunRequest& req, const Backend& backend) {
  auto& asked = req.run.l2_reserve_bytes;
  if (asked <= 0) return;
  const auto most = static_cast<std::int64_t>(backend.l2_persisting_max());
  if (most == 0) {
    throw config::ConfigError(fmt::format("--l2-reserve: backend '{}' has no L2 persistence control (use the cuda "
                                          "backend)", backend.name()));
  }
  if (asked > most) {
    fmt::print(stderr, "note: --l2-reserve {:.1f} MiB is more than this GPU sets aside; using its maximum, {:.1f} MiB\n",
               static_cast<double>(asked) / (1 << 20), static_cast<double>(most) / (1 << 20));
    asked = most;
  }
}

// metrics.json "score" of a teacher-forced run (docs/metrics.md).
void add_score(nlohmann::json& mj, const Score& score) {
  if (score.tokens == 0) return;
  const double n = static_cast<double>(score.tokens), nll = score.nll / n;
  mj["score"] = {{"tokens", score.tokens}, {"nll_mean", nll}, {"perplexity", std::exp(nll)},
                 {"top1_accuracy", static_cast<double>(score.top1) / n}};
}

// metrics.json: the contract's metrics of `recorded` plus the run's own facts;
// also fills result's step and prefill times (ms).
void write_metrics(const RunRequest& req, const MemoryPlan& plan, const std::vector<FeasibilityRow>& feasibility,
                   const trace::Trace& recorded, const DecodeOutcome& decoded, RunResult& result) {
  const trace::Metrics metrics = trace::compute_metrics(
      recorded, trace::MemoryUse{plan.gpu_bytes(), plan.host_bytes(), plan.fits()});
  result.decode_step_ms_mean = metric_value(metrics, "decode.step_ms.mean");
  result.prefill_ms = metric_value(metrics, "prefill.ms");
  nlohmann::json mj = trace::metrics_to_json(metrics);
  mj.update(trace::metrics_to_json(trace::stage_metrics(recorded)));
  add_run_facts(mj, req, plan, result);
  if (!req.trace) mj["h2d"]["note"] = "tracing off: transfer times are not measured";
  mj["pinned"] = {{"host_bytes", plan.host_bytes()}, {"pin_ms", static_cast<double>(decoded.pin_ns) * kMsPerNs}};
  mj["feasibility"] = to_json(feasibility);
  mj["cache"]["h2d_bytes"] = decoded.cache.h2d_bytes;
  add_recall(mj, decoded.recall);
  add_score(mj, decoded.score);
  add_l2(mj, req.run.l2_reserve_bytes, decoded.l2);
  write_file(req.out_dir, "metrics.json", mj.dump(2) + "\n");
}

// config.json: the resolved model, hardware (as recorded in the trace; plus
// the memory plan's when that differs) and run configs and the weights' sources.
void write_config(const RunRequest& req, const Backend& backend) {
  nlohmann::json cj;
  cj["model"] = config::to_json(req.model);
  const config::HardwareConfig hw = recorded_hardware(req, backend);
  cj["hardware"] = config::to_json(hw);
  if (hw.name != req.hardware.name) cj["memory_plan_hardware"] = config::to_json(req.hardware);
  cj["run"] = config::to_json(req.run);
  cj["weights"] = {{"checkpoint", req.checkpoint.empty() ? nlohmann::json(nullptr) : nlohmann::json(req.checkpoint.string())},
                   {"forecast", req.forecast.empty() ? nlohmann::json(nullptr) : nlohmann::json(req.forecast.string())},
                   {"synthetic_seed", req.run.seed}};
  if (!req.selections_file.empty()) cj["selections_file"] = req.selections_file.string();
  write_file(req.out_dir, "config.json", cj.dump(2) + "\n");
}

// tokens.json (with the generated text when there is a tokenizer), and
// logits.npy ([batch, vocab] float32) with --dump-logits.
void write_tokens(const RunRequest& req, const Prompts& prompts, const RunResult& result,
                  const std::vector<float>& logits) {
  nlohmann::json tj{{"prompts", prompts.ids}, {"generated", result.tokens}};
  if (!result.text.empty()) tj["generated_text"] = result.text;
  if (req.teacher_force) tj["teacher_forced"] = true;
  write_file(req.out_dir, "tokens.json", tj.dump() + "\n");
  if (req.dump_logits && !logits.empty()) {
    write_file(req.out_dir, "logits.npy",
               npy_f32(logits, static_cast<std::size_t>(req.run.batch), static_cast<std::size_t>(req.model.vocab)));
  }
}

// The files a run writes into its folder (run.hpp). A folder holds one run:
// before this run writes anything, the ones an earlier run left there are
// removed, so that no output this run does not write (trace.h5 and
// timeline.json under --no-trace, logits.npy) stays beside its metrics,
// nor the trace.h5.partial of a killed run.
// Other files in the folder are left alone.
void remove_previous_outputs(const std::filesystem::path& dir) {
  for (const std::string name : {"trace.h5", "timeline.json", "metrics.json", "config.json", "tokens.json", "logits.npy"}) {
    for (const std::string& file : {name, name + ".partial"}) {  // .partial: a run that was killed (SIGKILL)
      std::error_code ec;
      std::filesystem::remove(dir / file, ec);
      if (ec) throw common::WriteError(fmt::format("{}: cannot remove the previous run's file: {}",
                                                   (dir / file).string(), ec.message()));
    }
  }
}

}  // namespace

// Resolve and check, plan memory, build weights and selections, run the
// decode, then measure what was recorded and write the run folder.
RunResult run_to_folder(const RunRequest& request) {
  RunRequest req = request;  // resolved below (the L2 set-aside the GPU grants)
  const auto& run = req.run;
  config::validate_run(run, req.model, "run");
  if (req.model.dtype_bytes != 2) {
    // The memory plan counts dtype_bytes, but weights and KV are held in bf16.
    throw config::ConfigError(fmt::format(
        "model '{}': dtype_bytes is {} (e.g. a config.json with dtype float32); the runtime holds weights "
        "and KV in bf16: use a model config with dtype_bytes = 2 (a float32 checkpoint is then rounded to bf16)",
        req.model.name, req.model.dtype_bytes));
  }
  if (req.out_dir.empty()) throw std::invalid_argument("--out: a run folder is required");
  if (config::mode_traits(run.mode).selects_tokens() && run.selection_source != "model")
    throw config::ConfigError(fmt::format("--selections {}: external selections are block selections; mode {} "
                                          "selects tokens with its indexer",
                                          run.selection_source, config::to_string(run.mode)));
  const Prompts prompts = make_prompts(req);
  auto backend = make_backend(run.backend, run.kernels);
  resolve_l2(req, *backend);

  const MemoryPlan plan = plan_memory(req.model, run, req.hardware);
  // Largest batch per mode at this run's longest context (reported, and part
  // of the error when the request does not fit).
  const std::int64_t longest = longest_context(run);
  const auto feasibility = feasibility_table(req.model, run, req.hardware, longest);
  require_fit(plan, longest, feasibility);
  if (backend->name() == "cpu") require_host_ram(plan, host_cpu_hardware());

  const std::unique_ptr<DeviceWeights> dev_weights = upload_weights(req, *backend);
  const std::unique_ptr<ExternalSelections> selections = load_selections(req);

  std::filesystem::create_directories(req.out_dir);
  remove_previous_outputs(req.out_dir);
  const auto trace_path = req.out_dir / "trace.h5";
  const std::unique_ptr<TraceSink> sink = open_sink(req, *backend, trace_path);
  Recorder rec(*backend, sink.get(), req.trace);
  for (const auto& item : plan.items) rec.memory({item.location, item.category, item.bytes});

  EngineOptions eo = engine_options(run);
  eo.selections = selections.get();
  eo.measure_recall = req.measure_recall && run.mode == config::Mode::sparda_no_offload;
  eo.cuda_graph = req.cuda_graph;
  eo.progress = req.progress;
  eo.stop = req.stop;

  RunResult result;
  result.tokens.assign(static_cast<std::size_t>(run.batch), {});
  const DecodeOutcome decoded = decode(req, *dev_weights, rec, eo, prompts, result);
  if (req.tokenizer) {
    for (const auto& ids : result.tokens) result.text.push_back(req.tokenizer->decode(ids));
  }

  // What was recorded: trace.h5 read back (validating it), or the untraced run's steps.
  std::optional<trace::Trace> written;
  if (req.trace) written = trace::read_trace(trace_path);
  const trace::Trace& recorded =
      written ? *written : static_cast<const MemoryTraceSink&>(*sink).trace();
  write_metrics(req, plan, feasibility, recorded, decoded, result);
  write_config(req, *backend);
  write_tokens(req, prompts, result, decoded.logits);
  // The timeline comes from the written trace, which this also validates.
  if (written) write_file(req.out_dir, "timeline.json", trace::to_perfetto(*written).dump() + "\n");
  return result;
}

}  // namespace foresight::runtime

// run_to_folder: the whole `foresight run`.
#include "foresight/runtime/run.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <random>
#include <stdexcept>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "foresight/common/files.hpp"
#include "foresight/common/stats.hpp"
#include "foresight/config/load.hpp"
#include "foresight/runtime/device_weights.hpp"
#include "foresight/runtime/engine.hpp"
#include "foresight/runtime/memory_plan.hpp"
#include "foresight/trace/export.hpp"
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

nlohmann::json number_or_null(double v) { return std::isfinite(v) ? nlohmann::json(v) : nlohmann::json(nullptr); }

std::vector<std::vector<std::int32_t>> make_prompts(const config::RunConfig& run, std::int64_t vocab) {
  std::mt19937_64 rng(run.seed * 0x9E3779B97F4A7C15ull + 17);
  std::vector<std::vector<std::int32_t>> p;
  for (auto c : run.context_tokens) {
    std::vector<std::int32_t> v(static_cast<std::size_t>(c));
    for (auto& t : v) t = static_cast<std::int32_t>(rng() % static_cast<std::uint64_t>(vocab));
    p.push_back(std::move(v));
  }
  return p;
}

}  // namespace

RunResult run_to_folder(const RunRequest& req) {
  const auto& m = req.model;
  const auto& run = req.run;
  config::validate_run(run, m, "run");
  if (req.out_dir.empty()) throw std::invalid_argument("--out: a run folder is required");
  auto backend = make_backend(run.backend);

  const MemoryPlan plan = plan_memory(m, run, req.hardware);
  // Largest batch per mode at this run's longest context (reported, and part
  // of the error when the request does not fit).
  std::int64_t longest = 0;
  for (auto c : run.context_tokens) longest = std::max(longest, c);
  const auto feasibility = feasibility_table(m, run, req.hardware, longest);
  if (!plan.fits()) {
    throw MemoryError(fmt::format("the run does not fit in memory:\n{}\nlargest batches at context {}:\n{}",
                                  plan.breakdown(), longest, format_feasibility_table(feasibility)));
  }

  std::unique_ptr<DeviceWeights> dev_weights;
  {  // the host copy is freed once uploaded (pinned KV may need that memory)
    Weights w = req.checkpoint.empty() ? make_synthetic_weights(m, run.seed)
                                       : load_checkpoint(req.checkpoint, m, run.seed);
    if (!req.forecast.empty()) load_forecast(req.forecast, m, w);
    dev_weights = std::make_unique<DeviceWeights>(m, w, *backend);
  }

  std::unique_ptr<ExternalSelections> selections;
  if (run.selection_source == "workload") {
    selections = make_workload_selections(m, run);
  } else if (run.selection_source == "file") {
    const trace::Trace src = trace::read_trace(req.selections_file);
    std::int64_t last_step = -1, last_layer = -1, last_seq = -1;
    for (const auto& k : src.selection_keys) {
      last_step = std::max<std::int64_t>(last_step, k.step);
      last_layer = std::max<std::int64_t>(last_layer, k.layer);
      last_seq = std::max<std::int64_t>(last_seq, k.seq);
    }
    const std::int64_t steps = run.warmup_steps + run.decode_steps;
    if (last_step + 1 < steps || last_layer + 1 < m.n_layers || last_seq + 1 < run.batch) {
      throw std::invalid_argument(fmt::format(
          "{}: selections cover {} steps, {} layers and {} sequences; this run needs {} steps "
          "(warm-up + decode), {} layers and {} sequences",
          req.selections_file.string(), last_step + 1, last_layer + 1, last_seq + 1, steps, m.n_layers, run.batch));
    }
    selections = make_trace_selections(src, req.selections_file.string());
  }

  std::filesystem::create_directories(req.out_dir);
  trace::Header header;
  header.tool_version = FORESIGHT_VERSION;
  header.created_utc = trace::utc_now();
  header.clock = backend->clock_name();
  header.model = m;
  header.hardware = req.hardware;
  header.run = run;
  header.run.cuda_graph = req.cuda_graph;
  const auto trace_path = req.out_dir / "trace.h5";
  std::unique_ptr<TraceSink> sink;
  if (req.trace) sink = make_h5_trace_sink(trace_path, header, static_cast<std::uint32_t>(run.topk_blocks));
  Recorder rec(*backend, sink.get(), req.trace);
  rec.count_transfers_from(static_cast<std::int32_t>(run.warmup_steps));
  for (const auto& item : plan.items) rec.memory({item.location, item.category, item.bytes});

  EngineOptions eo = engine_options(run);
  eo.selections = selections.get();
  eo.measure_recall = req.measure_recall && run.mode == config::Mode::sparda_no_offload;
  eo.cuda_graph = req.cuda_graph;

  RunResult result;
  result.tokens.assign(static_cast<std::size_t>(run.batch), {});
  std::vector<double> step_ms;
  std::int64_t prefill_ns = 0;
  std::vector<float> logits;
  CacheTotals cache;
  std::vector<RecallCounts> recall;
  std::int64_t pin_ns = 0;
  const auto prompts = make_prompts(run, m.vocab);
  try {
    DecodeEngine engine(m, *dev_weights, rec, eo);
    pin_ns = engine.pin_ns();
    prefill_ns = engine.prefill(prompts);
    for (std::int64_t s = 0; s < eo.max_steps; ++s) {
      if (req.stop && req.stop->load()) {
        result.truncated = true;
        result.reason = fmt::format("interrupted before decode step {}", s);
        break;
      }
      if (s == req.fail_at_step) throw std::runtime_error(fmt::format("injected failure at decode step {}", s));
      const auto next = engine.step();
      for (std::size_t b = 0; b < next.size(); ++b) result.tokens[b].push_back(next[b]);
      if (s >= run.warmup_steps) step_ms.push_back(static_cast<double>(engine.last_step_ns()) * kMsPerNs);
    }
    if (engine.steps_done() > 0) logits = engine.last_logits();
    cache = engine.cache_totals();
    recall = engine.recall_by_layer();
  } catch (const std::exception& e) {
    rec.close(trace::RunStatus::truncated, e.what());
    throw;
  }
  rec.close(result.truncated ? trace::RunStatus::truncated : trace::RunStatus::complete, result.reason);

  // metrics.json (names as the simulator's; NaN -> null).
  double mean = 0;
  for (double x : step_ms) mean += x;
  mean = step_ms.empty() ? std::numeric_limits<double>::quiet_NaN() : mean / static_cast<double>(step_ms.size());
  double decode_ms = 0;
  for (double x : step_ms) decode_ms += x;
  double ctx_tokens = 0;
  for (auto c : run.context_tokens) ctx_tokens += static_cast<double>(c);
  result.decode_step_ms_mean = mean;
  result.prefill_ms = static_cast<double>(prefill_ns) * kMsPerNs;
  nlohmann::json mj;
  mj["status"] = result.truncated ? "truncated" : "complete";
  mj["memory"] = {{"gpu_bytes", plan.gpu_bytes()}, {"host_bytes", plan.host_bytes()}, {"fits", plan.fits() ? 1 : 0}};
  for (const auto& item : plan.items) mj["memory"]["by_category"][item.category] = item.bytes;
  mj["decode"] = {{"steps", step_ms.size()},
                  {"step_ms", {{"mean", number_or_null(mean)}, {"p50", number_or_null(common::percentile(step_ms, 50))},
                               {"p99", number_or_null(common::percentile(step_ms, 99))}}},
                  {"total_ms", decode_ms},
                  {"tokens_per_s", number_or_null(static_cast<double>(run.batch) * static_cast<double>(step_ms.size()) /
                                                  (decode_ms * 1e-3))}};
  mj["prefill"] = {{"ms", result.prefill_ms},
                   {"tokens_per_s", number_or_null(ctx_tokens / (result.prefill_ms * 1e-3))}};
  // Host-to-device KV traffic of the timed steps (same definitions as the simulator's).
  const auto& tr = rec.transfers();
  const double h2d_total = static_cast<double>(tr.total_ns) * kMsPerNs, h2d_exposed = static_cast<double>(tr.exposed_ns) * kMsPerNs;
  mj["h2d"] = {{"bytes", tr.bytes}, {"total_ms", h2d_total}, {"exposed_ms", h2d_exposed},
               {"hidden_ms", std::max(0.0, h2d_total - h2d_exposed)},
               {"effective_gbps", tr.total_ns > 0 ? nlohmann::json(static_cast<double>(tr.bytes) / static_cast<double>(tr.total_ns))
                                                  : nlohmann::json(nullptr)},
               {"exposed_share", decode_ms > 0 && req.trace ? nlohmann::json(h2d_exposed / decode_ms) : nlohmann::json(nullptr)}};
  if (!req.trace) mj["h2d"]["note"] = "tracing off: transfer times are not measured";
  mj["pinned"] = {{"host_bytes", plan.host_bytes()}, {"pin_ms", static_cast<double>(pin_ns) * kMsPerNs}};
  mj["feasibility"] = to_json(feasibility);
  mj["gather_ctas"] = run.gather_ctas;
  mj["cache_blocks"] = run.cache_blocks;
  mj["tracing"] = req.trace;
  mj["cache"] = {{"selected", cache.selected}, {"hits", cache.hits}, {"misses", cache.misses},
                 {"loaded_bytes", cache.loaded_bytes}, {"h2d_bytes", cache.h2d_bytes},
                 {"hit_rate", cache.selected ? nlohmann::json(static_cast<double>(cache.hits) /
                                                              static_cast<double>(cache.selected))
                                             : nlohmann::json(nullptr)}};
  mj["tokens"] = result.tokens;
  if (!recall.empty()) {  // Forecast (layer 0: selector) vs the query's own selection, non-forced blocks
    RecallCounts all;
    for (std::size_t l = 0; l < recall.size(); ++l) {
      mj["recall"]["layer"][std::to_string(l)] = recall[l].recall();
      all.query_blocks += recall[l].query_blocks;
      all.matched += recall[l].matched;
    }
    mj["recall"]["mean"] = all.recall();
  }
  std::int64_t stage_total_ns = 0;
  for (const auto& [name, ns] : rec.stage_totals()) stage_total_ns += ns;
  for (const auto& [name, ns] : rec.stage_totals()) mj["stages_ms"][name] = static_cast<double>(ns) * kMsPerNs;
  mj["stages_total_ms"] = static_cast<double>(stage_total_ns) * kMsPerNs;
  write_file(req.out_dir, "metrics.json", mj.dump(2) + "\n");

  nlohmann::json cj;
  cj["model"] = config::to_json(m);
  cj["hardware"] = config::to_json(req.hardware);
  cj["run"] = config::to_json(run);
  cj["weights"] = {{"checkpoint", req.checkpoint.empty() ? nlohmann::json(nullptr) : nlohmann::json(req.checkpoint.string())},
                   {"forecast", req.forecast.empty() ? nlohmann::json(nullptr) : nlohmann::json(req.forecast.string())},
                   {"synthetic_seed", run.seed}};
  if (!req.selections_file.empty()) cj["selections_file"] = req.selections_file.string();
  write_file(req.out_dir, "config.json", cj.dump(2) + "\n");

  write_file(req.out_dir, "tokens.json", nlohmann::json{{"prompts", prompts}, {"generated", result.tokens}}.dump() + "\n");
  if (req.dump_logits && !logits.empty()) {
    write_file(req.out_dir, "logits.npy",
               npy_f32(logits, static_cast<std::size_t>(run.batch), static_cast<std::size_t>(m.vocab)));
  }
  // The timeline comes from the written trace, which this also validates.
  if (req.trace) {
    const trace::Trace written = trace::read_trace(trace_path);
    write_file(req.out_dir, "timeline.json", trace::to_perfetto(written).dump() + "\n");
  }
  return result;
}

}  // namespace foresight::runtime

// Decode benchmark of the real runtime: one process, weights uploaded once,
// then every (mode, context, batch) of the sweep is prefilled (synthetic by
// default) and decoded; pinned host memory is reused across configurations
// (largest first). Writes OUT/results.jsonl (one JSON object per
// configuration) and prints one line per configuration. With tracing on, each
// configuration writes a real trace (OUT/bench-trace.h5, deleted afterwards)
// so the cost of resolving and writing the ops is part of what is timed:
// step_ms are the GPU step spans (events), wall_ms the host's time per
// step() call (launch, wait, download, trace records).
//
//   bench_runtime --backend cuda --model minicpm4.1-8b --modes dense,sparse
//                 --contexts 4096,32768 --batches 1,4,16 --out DIR
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "foresight/config/load.hpp"
#include "foresight/runtime/device_weights.hpp"
#include "foresight/runtime/engine.hpp"
#include "foresight/runtime/memory_plan.hpp"
#include "foresight/runtime/recorder.hpp"
#include "foresight/runtime/selection_source.hpp"
#include "foresight/runtime/weights.hpp"
#include "foresight/trace/export.hpp"
#include "foresight/trace/metrics.hpp"
#include "foresight/trace/reader.hpp"
#include "foresight/trace/writer.hpp"

using namespace foresight;
using namespace foresight::runtime;

namespace {

template <class T>
std::vector<T> parse_list(const std::string& s, T (*conv)(const std::string&)) {
  std::vector<T> v;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) v.push_back(conv(item));
  return v;
}
std::int64_t to_i64(const std::string& s) { return std::stoll(s); }
double to_f64(const std::string& s) { return std::stod(s); }
std::string to_str(const std::string& s) { return s; }
constexpr std::int64_t kLargestBatch = 0;  // --batches max
std::int64_t to_batch(const std::string& s) { return s == "max" ? kLargestBatch : std::stoll(s); }

struct Config {
  config::Mode mode;
  std::int64_t context, batch;
  double reuse;  // < 0: the model's own selections
  bool trace;
  bool graph;  // CUDA graph replay (with tracing: op events are graph nodes)
  std::int64_t gather_ctas = 0;   // 0: default_gather_ctas(batch)
  std::int64_t extra_slots = 0;   // regular GPU slots beyond top-k
  std::uint64_t host_bytes = 0;    // pinned KV (memory plan)
  std::int64_t host_layers = 0;    // layers whose KV store is pinned (2 blocks each)
  config::PrefillAttention attention = config::PrefillAttention::dense;  // real prefill's attention
  double recall = 0.95;            // sparse prefill's target recall
  std::int64_t chunk = 512;        // prefill chunk tokens; kWholePrompt: one chunk
};
constexpr std::int64_t kWholePrompt = -1;

// (attention, recall, chunk) of each prefill variant: dense once per chunk
// (0 = 512, "whole" = one chunk), a sparse kind once per recall (one chunk).
struct PrefillVariant {
  config::PrefillAttention attention;
  double recall;
  std::int64_t chunk;
};
std::vector<PrefillVariant> prefill_variants(const std::string& attentions, const std::string& recalls,
                                             const std::string& chunks) {
  std::vector<PrefillVariant> v;
  for (const auto& a : parse_list<std::string>(attentions, to_str)) {
    const auto kind = config::parse_prefill_attention(a, "--prefill-attention");
    if (!config::prefill_is_sparse(kind)) {
      for (const auto& c : parse_list<std::string>(chunks, to_str))
        v.push_back({kind, 0.95, c == "whole" ? kWholePrompt : c == "0" ? 512 : std::stoll(c)});
    } else {
      for (double r : parse_list<double>(recalls, to_f64)) v.push_back({kind, r, kWholePrompt});
    }
  }
  return v;
}

double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? NAN : s / static_cast<double>(v.size());
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Decode benchmark of the foresight runtime (see bench/RESULTS.md)"};
  std::string backend_name = "cuda", model_name = "minicpm4.1-8b", hw_name = "h100-sxm", out;
  std::string modes = "dense,sparse", contexts = "4096", batches = "1", reuses = "model", traces = "on";
  std::string prefill = "synthetic", graphs = "on";
  std::int64_t steps = 8, warmup = 2;
  std::string gather_ctas = "0", cache_blocks = "0", keep_traces = "none";
  std::string prefill_attention = "dense", prefill_recalls = "0.95", prefill_chunks = "0";
  app.add_option("--backend", backend_name, "cpu or cuda (default cuda)");
  app.add_option("--model", model_name, "Model config (default minicpm4.1-8b)");
  app.add_option("--hardware", hw_name, "Hardware config for the memory plan (default h100-sxm)");
  app.add_option("--modes", modes, "Comma list of modes (default dense,sparse)");
  app.add_option("--contexts", contexts, "Comma list of context lengths in tokens (default 4096)");
  app.add_option("--batches", batches,
                 "Comma list of batch sizes; 'max': the largest batch the memory plan fits on --hardware, per mode "
                 "and context (default 1)");
  app.add_option("--selections", reuses,
                 "Comma list: 'model' (computed selections) and/or workload block-reuse shares such as 0.7,0.85,0.95 "
                 "(default model)");
  app.add_option("--trace", traces, "on (per-op CUDA events), off (step events only) or both (default on)");
  app.add_option("--prefill", prefill, "synthetic (default) or real");
  app.add_option("--prefill-attention", prefill_attention,
                 "Real prefill: comma list of dense, dynamic-sparse, triangular, interval-slash, block-cluster "
                 "(default dense)");
  app.add_option("--prefill-recall", prefill_recalls, "Sparse prefill: comma list of target recalls (default 0.95)");
  app.add_option("--prefill-chunk", prefill_chunks,
                 "Dense real prefill: comma list of chunk tokens, 0 = 512, whole = the prompt as one chunk "
                 "(default 0; sparse prefill is always one chunk)");
  app.add_option("--graph", graphs,
                 "on (replay decode steps as a CUDA graph), off (launch from the host), or both (default on)");
  app.add_option("--steps", steps, "Timed decode steps per configuration (default 8)");
  app.add_option("--warmup", warmup, "Untimed decode steps first (default 2)");
  app.add_option("--gather-ctas", gather_ctas,
                 "Comma list of gather kernel CTAs; 0 = 16 up to batch 16, else 32 (default 0)");
  app.add_option("--cache-blocks", cache_blocks,
                 "Comma list of regular GPU slots per row beyond top-k (0 = top-k; default 0)");
  app.add_option("--keep-traces", keep_traces,
                 "none (default), ops (keep OUT/traces/NAME.h5 without /selections and /token_selections) or all (with them)")
      ->check(CLI::IsMember({"none", "ops", "all"}));
  app.add_option("--out", out, "Output folder (results.jsonl)")->required();
  CLI11_PARSE(app, argc, argv);

  const auto m = config::load_model(model_name);
  const auto hw = config::load_hardware(hw_name);
  // The FORESIGHT_* variables of a sweep (runtime-sweeps.sh) become the runs'
  // recorded kernel options.
  const config::KernelOptions kernels = config::kernel_options_from_env();
  auto be = make_backend(backend_name, kernels);
  std::filesystem::create_directories(out);
  std::ofstream jsonl(std::filesystem::path(out) / "results.jsonl", std::ios::app);

  auto t0 = std::chrono::steady_clock::now();
  std::unique_ptr<DeviceWeights> dw;
  {
    const Weights w = make_synthetic_weights(m, 1);
    const double made = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    auto t1 = std::chrono::steady_clock::now();
    dw = std::make_unique<DeviceWeights>(m, w, *be);
    be->synchronize();
    fmt::print("weights: made in {:.1f} s, uploaded {:.2f} GB in {:.1f} s\n", made, static_cast<double>(dw->bytes) * 1e-9,
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count());
  }

  std::vector<Config> todo;
  for (const auto& mode_s : parse_list<std::string>(modes, to_str)) {
    const auto mode = config::parse_mode(mode_s, "--modes");
    for (auto ctx : parse_list<std::int64_t>(contexts, to_i64)) {
      for (auto b : parse_list<std::int64_t>(batches, to_batch)) {
        for (const auto& r : parse_list<std::string>(reuses, to_str)) {
          const double reuse = r == "model" ? -1.0 : to_f64(r);
          if (reuse >= 0 && mode == config::Mode::dense) continue;  // dense selects nothing
          for (const auto& t : parse_list<std::string>(traces == "both" ? std::string("off,on") : traces, to_str))
            for (auto g : parse_list<std::int64_t>(gather_ctas, to_i64))
              for (auto k : parse_list<std::int64_t>(cache_blocks, to_i64))
                for (const auto& pv : prefill_variants(prefill_attention, prefill_recalls, prefill_chunks)) {
                  if (graphs != "off") todo.push_back({mode, ctx, b, reuse, t == "on", true, g, k, 0, 0, pv.attention, pv.recall, pv.chunk});
                  if (graphs != "on") todo.push_back({mode, ctx, b, reuse, t == "on", false, g, k, 0, 0, pv.attention, pv.recall, pv.chunk});
                }
        }
      }
    }
  }
  auto run_config = [&](const Config& c) {
    config::RunConfig run;
    run.mode = c.mode;
    run.backend = backend_name;
    run.batch = c.batch;
    run.context_tokens.assign(static_cast<std::size_t>(c.batch), c.context);
    run.decode_steps = steps;
    run.warmup_steps = warmup;
    run.topk_blocks = m.sparse.topk_blocks;
    run.cache_blocks = c.extra_slots > 0 ? m.sparse.topk_blocks + c.extra_slots + 1 : 0;
    run.prefill = prefill;
    run.prefill_attention = c.attention;
    run.prefill_recall = c.recall;
    run.prefill_chunk_tokens = c.chunk == kWholePrompt ? std::max<std::int64_t>(c.context - 1, 1) : c.chunk;
    run.gather_ctas =
        c.gather_ctas > 0 ? c.gather_ctas : default_gather_ctas(c.batch, kernels);
    run.selection_source = c.reuse < 0 ? "model" : "workload";
    run.cuda_graph = c.graph;
    run.kernels = kernels;
    run.workload = config::workload_preset("assumed");  // the setting its recorded results used
    if (c.reuse >= 0) run.workload.reuse = c.reuse;
    return run;
  };
  for (auto& c : todo) {
    if (c.batch == kLargestBatch) c.batch = largest_feasible_batch(m, run_config(c), hw, c.mode, c.context);
  }
  std::erase_if(todo, [](const Config& c) { return c.batch == kLargestBatch; });  // not even batch 1 fits
  for (auto& c : todo) {
    c.host_bytes = plan_memory(m, run_config(c), hw).host_bytes();
    c.host_layers = config::mode_traits(c.mode).host_layers(m.n_layers);
  }
  // Modes that pin as many layer stores run together, largest pinned
  // footprint first: the first configuration's pinned blocks then serve all
  // later ones (a request takes a cached block at least as large), so the
  // host is pinned once per layer count (about 50 s for 100 GB), not once per
  // mode; the cache is trimmed when the layer count changes.
  std::stable_sort(todo.begin(), todo.end(), [](const Config& a, const Config& b) {
    if (a.host_layers != b.host_layers) return a.host_layers > b.host_layers;
    return a.host_bytes != b.host_bytes ? a.host_bytes > b.host_bytes : a.mode < b.mode;
  });

  if (prefill == "real" && !todo.empty()) {
    // Untimed: a real prefill pays cuDNN's and cuBLAS's set-up (handles, and
    // a plan per chunk shape: each chunk attends to a longer prefix) the
    // first time a shape runs in the process. One prefill of the longest
    // context plans every shape, so no configuration pays for the others
    // (measured on the H200: sparse-offload's 128K prefill took 34.2 s when
    // it ran first, sparda's and sparse's after it 16.1 s and 16.0 s).
    Config warm = todo.front();
    warm.mode = config::Mode::sparse;
    warm.batch = 1;
    for (const auto& c : todo) warm.context = std::max(warm.context, c.context);
    warm.reuse = 0.85;
    warm.attention = config::PrefillAttention::dense;  // the chunk plans of every shorter context
    warm.chunk = 512;
    config::RunConfig run = run_config(warm);
    run.decode_steps = 1;
    run.warmup_steps = 0;
    const std::unique_ptr<ExternalSelections> sel = make_workload_selections(m, run);
    Recorder rec(*be, nullptr, false);
    EngineOptions o = engine_options(run);
    o.selections = sel.get();
    DecodeEngine e(m, *dw, rec, o);
    e.prefill({std::vector<std::int32_t>(static_cast<std::size_t>(warm.context), 1)});
    be->synchronize();
  }
  int n = 0;
  for (const auto& c : todo) {
    if (n > 0 && todo[static_cast<std::size_t>(n - 1)].host_layers != c.host_layers) be->trim_host_cache();
    ++n;
    const auto run = run_config(c);
    nlohmann::json j{{"mode", config::to_string(c.mode)}, {"context", c.context}, {"batch", c.batch},
                     {"selections", c.reuse < 0 ? "model" : fmt::format("workload reuse {}", c.reuse)},
                     {"trace", c.trace}, {"graph", c.graph}, {"backend", backend_name}, {"model", m.name}, {"steps", steps},
                     {"warmup", warmup}, {"gather_ctas", run.gather_ctas}, {"prefill", prefill},
                     {"cache_blocks", run.cache_blocks}, {"prefill_attention", config::to_string(c.attention)},
                     {"prefill_recall", c.recall}, {"prefill_chunk_tokens", run.prefill_chunk_tokens},
                     {"kernels", config::to_json(run.kernels)}};
    const MemoryPlan plan = plan_memory(m, run, hw);
    j["gpu_bytes"] = plan.gpu_bytes();
    j["host_bytes"] = plan.host_bytes();
    if (!plan.fits()) {
      j["status"] = "does_not_fit";
      j["largest_feasible_batch"] = largest_feasible_batch(m, run, hw, c.mode, c.context);
      fmt::print("[{}/{}] {} ctx {} batch {}: does not fit (largest batch {})\n", n, todo.size(),
                 config::to_string(c.mode), c.context, c.batch, j["largest_feasible_batch"].get<std::int64_t>());
      jsonl << j.dump() << "\n" << std::flush;
      continue;
    }
    try {
      std::unique_ptr<ExternalSelections> sel;
      if (c.reuse >= 0) sel = make_workload_selections(m, run);
      const auto trace_path = std::filesystem::path(out) / "bench-trace.h5";
      std::unique_ptr<TraceSink> sink;
      if (c.trace) {
        trace::Header header;
        header.created_utc = trace::utc_now();
        header.clock = be->clock_name();
        header.model = m;
        header.hardware = hw;
        header.run = run;
        sink = make_h5_trace_sink(trace_path, header, static_cast<std::uint32_t>(run.topk_blocks));
      }
      Recorder rec(*be, sink.get(), c.trace);
      EngineOptions o = engine_options(run);
      o.selections = sel.get();
      o.cuda_graph = c.graph;
      const auto ts = std::chrono::steady_clock::now();
      DecodeEngine e(m, *dw, rec, o);
      std::mt19937_64 rng(7);
      std::vector<std::vector<std::int32_t>> prompts(static_cast<std::size_t>(c.batch));
      for (auto& p : prompts) {
        p.resize(static_cast<std::size_t>(c.context));
        for (auto& t : p) t = static_cast<std::int32_t>(rng() % static_cast<std::uint64_t>(m.vocab));
      }
      const double prefill_ms = static_cast<double>(e.prefill(prompts)) * 1e-6;
      const double setup_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - ts).count();
      std::vector<double> step_ms, wall_ms;
      for (std::int64_t s = 0; s < steps + warmup; ++s) {
        const auto tw = std::chrono::steady_clock::now();
        e.step();
        const double w_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - tw).count();
        if (s >= warmup) {
          step_ms.push_back(static_cast<double>(e.last_step_ns()) * 1e-6);
          wall_ms.push_back(w_ms);
        }
      }
      rec.close(trace::RunStatus::complete);
      sink.reset();
      // H2D and stage times: the shared metric definitions on the recorded trace (NaN untraced).
      trace::Metrics tm;
      std::optional<trace::Trace> recorded;
      if (c.trace) {
        recorded = trace::read_trace(trace_path);
        tm = trace::compute_metrics(*recorded, trace::recorded_memory(*recorded), false);
        for (auto& kv : trace::stage_metrics(*recorded)) tm.push_back(kv);
      }
      auto metric = [&tm](const std::string& name) {
        for (const auto& [k, v] : tm)
          if (k == name) return v;
        return static_cast<double>(NAN);
      };
      if (c.trace && keep_traces != "none") {
        const std::string prefill_tag =
            prefill == "real" ? fmt::format("-{}-r{}-ch{}", config::to_string(c.attention), c.recall,
                                            run.prefill_chunk_tokens)
                              : "";
        const auto name = fmt::format("{}-b{}-c{}-g{}-k{}{}{}.h5", config::to_string(c.mode), c.batch, c.context,
                                      run.gather_ctas, run.cache_blocks, c.graph ? "" : "-nograph", prefill_tag);
        const auto dir = std::filesystem::path(out) / "traces";
        std::filesystem::create_directories(dir);
        if (keep_traces == "ops") {
          trace::Trace t = *recorded;
          t.selection_keys.clear();
          t.selection_blocks.clear();
          t.token_keys.clear();
          t.token_ids.clear();
          trace::write_trace(dir / name, t);
        } else {
          std::filesystem::copy_file(trace_path, dir / name, std::filesystem::copy_options::overwrite_existing);
        }
        j["trace_file"] = "traces/" + name;
      }
      std::filesystem::remove(trace_path);
      j["step_ms_list"] = step_ms;
      std::sort(step_ms.begin(), step_ms.end());
      const double mean_ms = mean(step_ms);
      const auto& cache = e.cache_totals();
      const double timed_steps = static_cast<double>(steps);
      j["status"] = "ok";
      j["step_ms"] = {{"mean", mean_ms}, {"p50", step_ms[step_ms.size() / 2]}, {"min", step_ms.front()},
                      {"max", step_ms.back()}};
      std::sort(wall_ms.begin(), wall_ms.end());
      j["wall_ms"] = {{"mean", mean(wall_ms)}, {"p50", wall_ms[wall_ms.size() / 2]}};
      j["tokens_per_s"] = static_cast<double>(c.batch) * 1e3 / mean_ms;
      j["prefill_ms"] = prefill_ms;
      j["setup_s"] = setup_s;
      j["pin_ms"] = static_cast<double>(e.pin_ns()) * 1e-6;
      j["h2d"] = {{"bytes_per_step", metric("h2d.bytes") / timed_steps},
                  {"total_ms_per_step", metric("h2d.total_ms") / timed_steps},
                  {"exposed_ms_per_step", metric("h2d.exposed_ms") / timed_steps},
                  {"exposed_share", metric("h2d.exposed_share")},
                  {"gbps", metric("h2d.effective_gbps")}};
      j["cache"] = {{"hit_rate", cache.selected ? static_cast<double>(cache.hits) / static_cast<double>(cache.selected) : NAN},
                    {"misses", cache.misses}, {"h2d_bytes", cache.h2d_bytes}};
      if (c.trace) j["stages_ms_all_steps"] = trace::metrics_to_json(tm)["stages_ms"];
      if (c.trace) j["prefill_patterns"] = trace::summarize(*recorded)["prefill_patterns"];
      fmt::print("[{}/{}] {} ctx {} batch {} g{} k{} {} trace {}{}: {:.3f} ms/step (wall {:.3f}), {:.1f} tok/s, prefill {:.0f} ms, "
                 "h2d exposed {:.3f} ms/step, hit {:.2f}, setup {:.1f} s\n",
                 n, todo.size(), config::to_string(c.mode), c.context, c.batch, run.gather_ctas, run.cache_blocks,
                 j["selections"].get<std::string>(),
                 c.trace ? "on" : "off", c.graph ? " graph" : "", mean_ms, mean(wall_ms), j["tokens_per_s"].get<double>(), prefill_ms,
                 j["h2d"]["exposed_ms_per_step"].get<double>(), j["cache"]["hit_rate"].get<double>(), setup_s);
      if (prefill == "real")
        fmt::print("  prefill {} (recall {}, chunk {}): {:.1f} ms\n", config::to_string(c.attention), c.recall,
                   run.prefill_chunk_tokens, prefill_ms);
    } catch (const std::exception& ex) {
      j["status"] = "error";
      j["error"] = ex.what();
      fmt::print("[{}/{}] {} ctx {} batch {}: error: {}\n", n, todo.size(), config::to_string(c.mode), c.context,
                 c.batch, ex.what());
    }
    jsonl << j.dump() << "\n" << std::flush;
  }
  return 0;
}

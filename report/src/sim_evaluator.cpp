// Simulator-backed evaluator (see sim_evaluator.hpp).
#include "foresight/report/sim_evaluator.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include <fmt/core.h>
#include <fmt/ranges.h>

#include "foresight/config/load.hpp"
#include "foresight/sim/replay.hpp"
#include "foresight/config/calibration.hpp"
#include "foresight/sim/synth.hpp"
#include "foresight/trace/reader.hpp"

namespace foresight::report {

struct SimEvaluator::Entry {
  std::once_flag once;
  std::unique_ptr<sim::Replayer> replayer;
  std::exception_ptr error;
};

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double metric(const sim::Metrics& m, const std::string& name) {
  for (const auto& [k, v] : m)
    if (k == name) return v;
  return kNaN;
}
double or_zero(double v) { return std::isfinite(v) ? v : 0.0; }

// Step times, throughput, bounds, H2D and hit rate from the simulator's
// metrics; the step splits into compute (compute.total_ms), exposed H2D and
// the rest (host work, gaps), all per mean step.
ScenarioMetrics fill_metrics(ScenarioMetrics m, const sim::Metrics& metrics, std::int64_t batch) {
  const double steps = std::max(1.0, metric(metrics, "decode.steps"));
  const double mean_ms = metric(metrics, "decode.step_ms.mean");
  m.tokens_per_s = metric(metrics, "decode.tokens_per_s");
  m.tpot_mean_ms = mean_ms;
  m.tpot_p50_ms = metric(metrics, "decode.step_ms.p50");
  m.tpot_p99_ms = metric(metrics, "decode.step_ms.p99");
  m.bound_compute = or_zero(metric(metrics, "bound.compute"));
  m.bound_pcie = or_zero(metric(metrics, "bound.pcie"));
  m.bound_host = or_zero(metric(metrics, "bound.host"));
  m.compute_ms = or_zero(metric(metrics, "compute.total_ms")) / steps;
  m.exposed_h2d_ms = or_zero(metric(metrics, "h2d.exposed_ms")) / steps;
  m.host_ms = std::max(0.0, mean_ms - m.compute_ms - m.exposed_h2d_ms);
  m.pcie_ms = m.bound_pcie * mean_ms;
  m.h2d_total_ms = or_zero(metric(metrics, "h2d.total_ms")) / steps;
  const double hit = metric(metrics, "cache.hit_rate");
  m.hit_rate = std::isfinite(hit) ? hit : 1.0;
  const double l2_hit = metric(metrics, "l2.hit_rate");
  m.l2_hit_rate = std::isfinite(l2_hit) ? l2_hit : -1.0;
  const double prefill_ms = metric(metrics, "prefill.ms");
  if (std::isfinite(prefill_ms) && batch >= 1) m.ttft_ms = prefill_ms / static_cast<double>(batch);
  return m;
}

// `p` relative to the working directory when it lies below it (as a user types it).
std::string shown_path(const std::filesystem::path& p) {
  std::error_code ec;
  const auto rel = std::filesystem::relative(p, std::filesystem::current_path(ec), ec);
  return !ec && !rel.empty() && *rel.begin() != ".." ? rel.string() : p.string();
}

// Which recorded traces of `model` ship per hardware, and how to use them.
std::string real_traces_statement(const std::filesystem::path& dir, const std::string& model,
                                  const std::map<std::string, config::HardwareConfig>& hw) {
  std::vector<std::string> parts;
  for (const auto& [name, cfg] : hw) {
    std::vector<std::string> files;
    for (const auto& p : recorded_traces(dir, model, name)) files.push_back(p.filename().string());
    parts.push_back(files.empty()
                        ? fmt::format("No recorded trace of {} on {} ships", model, name)
                        : fmt::format("Recorded traces of {} on {} ship in {}: {} (replay one with "
                                      "`foresight plan --trace FILE`)",
                                      model, name, shown_path(dir), fmt::join(files, ", ")));
  }
  return fmt::format("{}", fmt::join(parts, "; "));
}

}  // namespace

std::filesystem::path shipped_traces_dir() {
#ifdef FORESIGHT_SOURCE_SAMPLES
  {
    std::error_code ec;
    if (std::filesystem::is_directory(FORESIGHT_SOURCE_SAMPLES, ec)) return FORESIGHT_SOURCE_SAMPLES;
  }
#endif
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path("traces/samples") : exe.parent_path().parent_path() / "traces" / "samples";
}

std::vector<std::filesystem::path> recorded_traces(const std::filesystem::path& dir,
                                                   const std::string& model, const std::string& hardware) {
  std::vector<std::filesystem::path> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().extension() != ".h5") continue;
    try {
      const auto t = trace::read_trace(e.path(), {.load_selections = false});
      if (t.header.clock != "synthetic" && t.header.model.name == model && t.header.hardware.name == hardware)
        out.push_back(e.path());
    } catch (const std::exception&) {
      // not a readable trace: not one to name
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

SimEvaluator::SimEvaluator(config::ModelConfig model,
                           std::map<std::string, config::HardwareConfig> hw,
                           SimEvaluatorOptions opts)
    : model_(std::move(model)), hw_(std::move(hw)), opts_(opts) {
  trace_label_ = fmt::format(
      "synthesized: sim::synthesize, {} sequences x {} timed decode steps per (hardware, mode, "
      "context, locality) after {} warm-up step(s) (cold GPU block cache) left out of the metrics; "
      "op times from the GPU calibration where one exists, else the hardware's roofline cost model; "
      "selections from the workload model. ",
      opts_.synth_batch, opts_.decode_steps, opts_.warmup_steps);
  trace_label_ += real_traces_statement(
      opts_.samples_dir.empty() ? shipped_traces_dir() : opts_.samples_dir, model_.name, hw_);
}

SimEvaluator::SimEvaluator(const std::filesystem::path& trace,
                           std::map<std::string, config::HardwareConfig> hw)
    : hw_(std::move(hw)) {
  auto t = trace::read_trace(trace);
  model_ = t.header.model;
  trace_label_ = fmt::format("recorded: {} (mode {}, batch {}, {} on {}, clock {})", trace.string(),
                             config::to_string(t.header.run.mode), t.header.run.batch,
                             t.header.run.backend, t.header.hardware.name, t.header.clock);
  opts_.topk_blocks = t.header.run.topk_blocks;
  recorded_ = std::make_unique<sim::Replayer>(std::move(t), trace.string());
}

SimEvaluator::~SimEvaluator() = default;

std::optional<config::Mode> SimEvaluator::recorded_mode() const {
  if (!recorded_) return std::nullopt;
  return recorded_->trace().header.run.mode;
}

std::size_t SimEvaluator::traces_built() const {
  std::lock_guard<std::mutex> lock(mu_);
  return synthesized_.size();
}

std::int64_t SimEvaluator::topk_blocks() const {
  return opts_.topk_blocks > 0 ? opts_.topk_blocks : model_.sparse.topk_blocks;
}

double SimEvaluator::default_pcie_gbps(const std::string& hardware) const {
  auto it = hw_.find(hardware);
  if (it == hw_.end()) throw std::invalid_argument("evaluator has no hardware '" + hardware + "'");
  return it->second.h2d_gbps;
}

const sim::Replayer& SimEvaluator::replayer(const ResolvedPoint& p, const std::string& hardware) const {
  if (recorded_) return *recorded_;
  const config::RunConfig& run = p.run;
  const Key key{hardware, static_cast<int>(run.mode), p.context_tokens, run.workload.reuse};
  std::shared_ptr<Entry> e;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& slot = synthesized_[key];
    if (!slot) slot = std::make_shared<Entry>();
    e = slot;
  }
  std::call_once(e->once, [&] {
    try {
      sim::SynthOptions o;
      o.model = model_;
      auto hw = hw_.find(hardware);
      if (hw == hw_.end()) throw std::invalid_argument("no hardware config '" + hardware + "'");
      o.hardware = hw->second;
      o.run.mode = run.mode;
      o.run.backend = "synth";
      o.run.batch = opts_.synth_batch;
      o.run.context_tokens.assign(static_cast<std::size_t>(opts_.synth_batch), p.context_tokens);
      o.run.decode_steps = opts_.decode_steps;
      o.run.warmup_steps = opts_.warmup_steps;
      // Prefill too, for the time to first token (decode metrics leave it out);
      // "synthetic": the memory plan of the runs the plan compares.
      o.run.prefill = "synthetic";
      o.run.topk_blocks = topk_blocks();
      o.run.cache_blocks = 0;
      o.run.prefetch = config::mode_traits(run.mode).prefetch;
      o.run.gather_ctas = run.gather_ctas;
      o.run.selection_source = "workload";
      o.run.workload = run.workload;
      o.run.seed = opts_.seed;
      o.tool_version = FORESIGHT_VERSION;
      e->replayer = std::make_unique<sim::Replayer>(
          sim::synthesize(o),
          fmt::format("synthesized {} {} {} reuse {:g}", hardware, mode_name(run.mode), p.context_tokens,
                      run.workload.reuse),
          [this](const std::string& name) {
            auto it = hw_.find(name);
            return it != hw_.end() ? it->second : config::load_hardware(name);
          });
    } catch (...) {
      e->error = std::current_exception();
    }
  });
  if (e->error) std::rethrow_exception(e->error);
  return *e->replayer;
}

namespace {
// The replay what-ifs of plan point `s` (resolved: `p`) on a trace with
// `header`: its batch, seed, PCIe ceiling, and the context, hardware, cache
// size and gather CTAs where they differ from the trace's or matter to its mode.
config::Scenario replay_what_if(const config::Scenario& s, const ResolvedPoint& p,
                                const trace::Header& header, bool recorded, std::uint64_t seed) {
  config::Scenario w;
  w.batch = p.run.batch;
  if (recorded) {
    w.context = p.context_tokens;
    if (*s.hardware != header.hardware.name) w.hardware = s.hardware;
  } else if (p.context_tokens != header.run.context_tokens.front()) {
    w.context = p.context_tokens;
  }
  // Unset cache blocks: the trace's top-k + 1.
  if (s.cache_blocks && mode_is_sparse(header.run.mode)) w.cache_blocks = s.cache_blocks;
  if (mode_offloads(header.run.mode)) w.gather_ctas = p.run.gather_ctas;
  w.pcie_gbps = s.pcie_gbps;
  w.l2_reserve = s.l2_reserve;
  w.l2_policy = s.l2_policy;
  w.seed = seed;
  return w;
}
}  // namespace

ScenarioMetrics SimEvaluator::evaluate(const config::Scenario& s) const {
  const std::string hardware = s.hardware.value_or("");
  auto hw_it = hw_.find(hardware);
  // A recorded trace may be replayed on its own hardware without a config of it.
  const config::HardwareConfig* hw = hw_it != hw_.end() ? &hw_it->second
                                     : recorded_       ? &recorded_->trace().header.hardware
                                                       : nullptr;
  if (!hw) throw std::invalid_argument("no hardware config '" + hardware + "'");
  const ResolvedPoint p = resolve_point(s, topk_blocks(), *hw);
  // Feasibility first, on the run `foresight run` would make (no replay when it does not fit).
  ScenarioMetrics m;
  set_memory(m, config::footprint(model_, p.run, *hw));
  if (!m.fits) return m;
  const auto& rep = replayer(p, hardware);
  const sim::ReplayResult r =
      rep.run(replay_what_if(s, p, rep.trace().header, recorded_ != nullptr, opts_.seed));
  m.fits = r.status == "ok";
  if (!m.fits) return m;
  // The simulator leaves the trace's warm-up steps (cold block cache) out.
  m = fill_metrics(m, r.metrics, p.run.batch);
  if (!mode_offloads(p.run.mode)) m.hit_rate = 1;  // KV on the GPU (DSA's gather counts no hits)
  return m;
}

std::int64_t SimEvaluator::l2_reserve_max_bytes(const std::string& hardware) const {
  const auto it = hw_.find(hardware);
  if (it != hw_.end()) return it->second.persisting_l2_max_bytes;
  return recorded_ ? recorded_->trace().header.hardware.persisting_l2_max_bytes : 0;
}

config::L2Measured SimEvaluator::l2_measured(const std::string& hardware) const {
  const auto path = config::default_calibration_path(hardware);
  return path ? config::load_calibration(*path).l2_measured : config::L2Measured{};
}

std::string fidelity_statement(const std::string& hardware) {
  const auto path = config::default_calibration_path(hardware);
  if (!path)
    return fmt::format("{}: no GPU calibration (configs/calibration/{}.json): op costs from the "
                       "roofline; the error against real runs is unmeasured",
                       hardware, hardware);
  const auto cal = config::load_calibration(*path);
  const auto& f = cal.fidelity;
  if (!f.contains("held_out"))
    return fmt::format("{}: calibrated on {} ({}), fidelity not measured yet", hardware, cal.gpu_name,
                       cal.created_utc);
  const auto& h = f["held_out"];
  return fmt::format("{}: calibrated on {} ({}); over {} real runs it had not seen ({}), the mean "
                     "decode step was off by {:.1f}% (median) and {:.1f}% (worst); per knob in "
                     "bench/RESULTS-fidelity.md",
                     hardware, cal.gpu_name, path->filename().string(), h.value("points", 0),
                     f.value("date", std::string("undated")), 100 * h.value("median_abs_error", 0.0),
                     100 * h.value("worst_abs_error", 0.0));
}

EvaluatorInfo SimEvaluator::info() const {
  EvaluatorInfo i;
  i.name = "trace-driven discrete-event simulator (sim::Replayer)";
  i.trace = trace_label_;
  for (const auto& [name, hw] : hw_)
    for (const auto& [key, src] : hw.provenance)
      if (src.rfind("measured", 0) == 0) i.measured.push_back(name + " " + key + ": " + src);
  for (const auto& [name, hw] : hw_)
    for (const auto& [key, src] : hw.provenance)
      if (src.rfind("measured", 0) != 0) i.modelled.push_back(name + " " + key + ": " + src);
  if (!recorded_) {
    sim::SynthOptions o;
    o.model = model_;
    o.hardware = hw_.begin()->second;
    o.run.batch = opts_.synth_batch;
    o.run.context_tokens.assign(static_cast<std::size_t>(opts_.synth_batch), 32768);
    o.run.topk_blocks = topk_blocks();
    for (auto& a : sim::synth_assumptions(o)) i.modelled.push_back("synthesizer: " + a);
  }
  for (const auto& [name, hw] : hw_) i.fidelity.push_back(fidelity_statement(name));
  i.modelled.push_back(
      "batches other than the trace's: sequences resampled from the trace's selection streams; "
      "op times from the GPU calibration where the hardware has one, else from the cost model "
      "fitted on the trace's own ops");
  i.modelled.push_back(
      "time to first token: the prefill of one prompt as one chunk (the simulator's prefill plan), from "
      "the trace's recorded prefill and its dynamic sparse patterns where it has them, else from the "
      "roofline of each prefill op (no calibration covers prefill yet)");
  i.modelled.push_back("time breakdown bars (mean step): compute = all compute op time "
                       "(compute.total_ms, including what transfers overlap), exposed transfer = "
                       "H2D time the compute stream waits for (h2d.exposed_ms), other = the rest "
                       "of the mean step (host work, gaps)");
  return i;
}

}  // namespace foresight::report

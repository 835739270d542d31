// Metric computation (definitions: docs/metrics.md).
#include "foresight/sim/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "foresight/common/stats.hpp"
#include "foresight/sim/timeline.hpp"

namespace foresight::sim {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kMsPerNs = 1e-6;

void add_memory(Metrics& m, const MemoryPlan& mem) {
  m.emplace_back("memory.gpu_bytes", static_cast<double>(mem.gpu_bytes));
  m.emplace_back("memory.host_bytes", static_cast<double>(mem.host_bytes));
  m.emplace_back("memory.fits", mem.fits ? 1.0 : 0.0);
}
}  // namespace

namespace {

bool timed(trace::Phase p, std::int32_t step, std::int32_t first) {
  return p == trace::Phase::decode && step >= first;
}

// decode.* and prefill.* from the step spans.
void add_step_metrics(Metrics& m, const TimedRun& r, std::int32_t first) {
  std::vector<double> step_ms;
  double decode_ns = 0, prefill_ns = 0;
  bool has_prefill = false;
  for (const auto& s : r.steps) {
    const double d = static_cast<double>(s.end_ns - s.start_ns);
    if (s.phase == trace::Phase::decode && s.step < first) continue;
    if (s.phase == trace::Phase::decode) {
      step_ms.push_back(d * kMsPerNs);
      decode_ns += d;
    } else {
      has_prefill = true;
      prefill_ns += d;
    }
  }
  const double batch = static_cast<double>(r.batch);
  double mean = 0;
  for (double x : step_ms) mean += x;
  mean = step_ms.empty() ? kNaN : mean / static_cast<double>(step_ms.size());
  m.emplace_back("decode.steps", static_cast<double>(step_ms.size()));
  m.emplace_back("decode.step_ms.mean", mean);
  m.emplace_back("decode.step_ms.p50", common::percentile(step_ms, 50));
  m.emplace_back("decode.step_ms.p99", common::percentile(step_ms, 99));
  m.emplace_back("decode.total_ms", decode_ns * kMsPerNs);
  m.emplace_back("decode.tokens_per_s",
                 decode_ns > 0 ? batch * static_cast<double>(step_ms.size()) / (decode_ns * 1e-9) : kNaN);
  double ctx = 0;
  for (auto n : r.context_tokens) ctx += static_cast<double>(n);
  m.emplace_back("prefill.ms", has_prefill ? prefill_ns * kMsPerNs : kNaN);
  m.emplace_back("prefill.tokens_per_s", has_prefill && prefill_ns > 0 ? ctx / (prefill_ns * 1e-9) : kNaN);
}

// H2D: total = all decode H2D op time; exposed = time a compute stream spent
// on them (inline) or waiting for them (wait ops).
void add_h2d_metrics(Metrics& m, const TimedRun& r, std::int32_t first) {
  const auto& ops = r.layout->ops;
  const auto& streams = r.layout->streams;
  double h2d_bytes = 0, h2d_total = 0, h2d_exposed = 0;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const trace::Op& op = ops[i];
    if (!timed(op.phase, op.step, first)) continue;
    const double d = static_cast<double>(r.end_ns[i] - r.start_ns[i]);
    const bool on_compute = streams[op.stream].kind == trace::StreamKind::compute;
    if (op.kind == trace::OpKind::h2d) {
      h2d_bytes += static_cast<double>(r.bytes[i]);
      h2d_total += d;
      if (on_compute) h2d_exposed += d;
    } else if (op.kind == trace::OpKind::wait && on_compute) {
      h2d_exposed += d;
    }
  }
  m.emplace_back("h2d.bytes", h2d_bytes);
  m.emplace_back("h2d.total_ms", h2d_total * kMsPerNs);
  m.emplace_back("h2d.exposed_ms", h2d_exposed * kMsPerNs);
  m.emplace_back("h2d.hidden_ms", std::max(0.0, h2d_total - h2d_exposed) * kMsPerNs);
  m.emplace_back("h2d.effective_gbps", h2d_total > 0 ? h2d_bytes / h2d_total : kNaN);
}

void add_cache_metrics(Metrics& m, const TimedRun& r, std::int32_t first) {
  std::map<int, std::pair<double, double>> per_layer;  // layer -> (hits, selected)
  double hits = 0, selected = 0;
  for (const auto& c : r.cache) {
    if (c.step < first) continue;
    hits += static_cast<double>(c.hits);
    selected += static_cast<double>(c.selected);
    auto& pl = per_layer[c.layer];
    pl.first += static_cast<double>(c.hits);
    pl.second += static_cast<double>(c.selected);
  }
  m.emplace_back("cache.selected", selected);
  m.emplace_back("cache.hit_rate", selected > 0 ? hits / selected : kNaN);
  for (const auto& [layer, hs] : per_layer)
    m.emplace_back("cache.layer_hit_rate." + std::to_string(layer),
                   hs.second > 0 ? hs.first / hs.second : kNaN);
}

// bound.* and decode.critical_path_ms: share of decode critical-path time per resource.
void add_bound_metrics(Metrics& m, const TimedRun& r, std::int32_t first, bool critical_paths) {
  double cls[kOpClassCount] = {0, 0, 0, 0};
  double cp_total = 0;
  double steps_bound[3] = {0, 0, 0};
  const auto& ops = r.layout->ops;
  std::vector<StepPlan> local;
  const std::vector<StepPlan>* plans = r.plans;
  if (critical_paths && !plans) {
    local = plan_steps(*r.layout, first);
    plans = &local;
  }
  CriticalPathScratch scratch;
  std::vector<std::int64_t> w;
  for (std::size_t p = 0; critical_paths && p < plans->size(); ++p) {
    const StepPlan& sp = (*plans)[p];
    if (!timed(ops[sp.first].phase, ops[sp.first].step, first)) continue;
    w.clear();
    for (std::size_t i = sp.first; i <= sp.last; ++i)
      w.push_back(ops[i].kind == trace::OpKind::wait ? 0 : r.end_ns[i] - r.start_ns[i]);
    const CriticalPath cp = critical_path(sp.dag, w, scratch);
    int arg = 0;
    for (int k = 0; k < 3; ++k) {
      cls[k] += static_cast<double>(cp.ns_by_class[k]);
      if (cp.ns_by_class[k] > cp.ns_by_class[arg]) arg = k;
    }
    cp_total += static_cast<double>(cp.length_ns);
    steps_bound[arg] += 1;
  }
  const char* names[3] = {"compute", "pcie", "host"};
  for (int k = 0; k < 3; ++k)
    m.emplace_back(std::string("bound.") + names[k],
                   critical_paths && cp_total > 0 ? cls[k] / cp_total : kNaN);
  for (int k = 0; k < 3; ++k)
    m.emplace_back(std::string("bound.steps_") + names[k], critical_paths ? steps_bound[k] : kNaN);
  m.emplace_back("decode.critical_path_ms", critical_paths ? cp_total * kMsPerNs : kNaN);
}

}  // namespace

std::vector<StepPlan> plan_steps(const trace::Trace& layout, std::int32_t first_step) {
  std::vector<StepPlan> plans;
  const auto& ops = layout.ops;
  StepDag g;
  CriticalPathScratch scratch;
  for (std::size_t i = 0; i < ops.size();) {
    std::size_t j = i;
    while (j + 1 < ops.size() && ops[j + 1].phase == ops[i].phase && ops[j + 1].step == ops[i].step) ++j;
    if (timed(ops[i].phase, ops[i].step, first_step)) {
      StepPlan& sp = plans.emplace_back();
      sp.first = i;
      sp.last = j;
      step_dag(layout, i, j, g);
      plan_step_dag(g, sp.dag, scratch);
    }
    i = j + 1;
  }
  return plans;
}

Metrics compute_metrics(const TimedRun& r, const MemoryPlan& mem, bool critical_paths) {
  Metrics m;
  // Warm-up steps (trace/steps.hpp): the header's run.warmup_steps.
  const auto first = static_cast<std::int32_t>(std::max<std::int64_t>(0, r.warmup_steps));
  add_step_metrics(m, r, first);
  add_h2d_metrics(m, r, first);
  add_cache_metrics(m, r, first);
  add_bound_metrics(m, r, first, critical_paths);
  add_memory(m, mem);
  return m;
}

Metrics compute_metrics(const trace::Trace& t, const MemoryPlan& mem, bool critical_paths) {
  std::vector<std::int64_t> start(t.ops.size()), end(t.ops.size());
  std::vector<std::uint64_t> bytes(t.ops.size());
  for (std::size_t i = 0; i < t.ops.size(); ++i) {
    start[i] = t.ops[i].start_ns;
    end[i] = t.ops[i].end_ns;
    bytes[i] = t.ops[i].bytes;
  }
  TimedRun r;
  r.layout = &t;
  r.start_ns = start;
  r.end_ns = end;
  r.bytes = bytes;
  r.steps = t.steps;
  r.cache = t.cache;
  r.batch = t.header.run.batch;
  r.decode_steps = t.header.run.decode_steps;
  r.warmup_steps = t.header.run.warmup_steps;
  r.context_tokens = t.header.run.context_tokens;
  return compute_metrics(r, mem, critical_paths);
}

Metrics out_of_memory_metrics(const MemoryPlan& mem) {
  Metrics m;
  add_memory(m, mem);
  return m;
}

nlohmann::json metrics_to_json(const Metrics& m) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [name, value] : m) {
    nlohmann::json* node = &j;
    std::size_t pos = 0;
    while (true) {
      const std::size_t dot = name.find('.', pos);
      const std::string part = name.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
      if (dot == std::string::npos) {
        (*node)[part] = std::isnan(value) ? nlohmann::json(nullptr) : nlohmann::json(value);
        break;
      }
      node = &(*node)[part];
      pos = dot + 1;
    }
  }
  return j;
}

}  // namespace foresight::sim

// Metric computation (definitions: docs/metrics.md).
#include "foresight/trace/metrics.hpp"

#include "foresight/common/stats.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

namespace foresight::trace {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kMsPerNs = 1e-6;

void add_memory(Metrics& m, const MemoryUse& mem) {
  m.emplace_back("memory.gpu_bytes", static_cast<double>(mem.gpu_bytes));
  m.emplace_back("memory.host_bytes", static_cast<double>(mem.host_bytes));
  m.emplace_back("memory.fits", mem.fits ? 1.0 : 0.0);
}

double ratio_or_nan(double num, double den) { return den > 0 ? num / den : kNaN; }

bool timed(Phase p, std::int32_t step, std::int32_t first) {
  return p == Phase::decode && step >= first;
}

// decode.* and prefill.* from the step spans.
void add_step_metrics(Metrics& m, const TimedRun& r, std::int32_t first) {
  std::vector<double> step_ms;
  double decode_ns = 0, prefill_ns = 0;
  bool has_prefill = false;
  for (const auto& s : r.steps) {
    const double d = static_cast<double>(s.end_ns - s.start_ns);
    if (s.phase == Phase::decode && s.step < first) continue;
    if (s.phase == Phase::decode) {
      step_ms.push_back(d * kMsPerNs);
      decode_ns += d;
    } else {
      has_prefill = true;
      prefill_ns += d;
    }
  }
  const double n = static_cast<double>(step_ms.size());
  double sum_ms = 0;
  for (double x : step_ms) sum_ms += x;
  m.emplace_back("decode.steps", n);
  m.emplace_back("decode.step_ms.mean", step_ms.empty() ? kNaN : sum_ms / n);
  m.emplace_back("decode.step_ms.p50", common::percentile(step_ms, 50));
  m.emplace_back("decode.step_ms.p99", common::percentile(step_ms, 99));
  m.emplace_back("decode.total_ms", decode_ns * kMsPerNs);
  m.emplace_back("decode.tokens_per_s", ratio_or_nan(static_cast<double>(r.batch) * n, decode_ns * 1e-9));
  double ctx = 0;
  for (auto c : r.context_tokens) ctx += static_cast<double>(c);
  m.emplace_back("prefill.ms", has_prefill ? prefill_ns * kMsPerNs : kNaN);
  m.emplace_back("prefill.tokens_per_s", has_prefill ? ratio_or_nan(ctx, prefill_ns * 1e-9) : kNaN);
}

// H2D of the timed steps: total = all H2D op time; exposed = time a compute
// stream spent on them (inline) or waiting for them (wait ops).
struct H2d {
  double bytes = 0, total_ns = 0, exposed_ns = 0;
};
// The same over a LayoutPlan's list (the same ops in the same order).
H2d sum_h2d(const std::vector<LayoutPlan::Entry>& list, const TimedRun& r, std::int32_t first) {
  H2d h;
  for (const auto& e : list) {
    if (e.step < first) continue;
    const double d = static_cast<double>(r.end_ns[e.op] - r.start_ns[e.op]);
    if (e.kind != LayoutPlan::kWaitExposed) {
      h.bytes += static_cast<double>(r.bytes[e.op]);
      h.total_ns += d;
    }
    if (e.kind != LayoutPlan::kH2d) h.exposed_ns += d;
  }
  return h;
}
H2d sum_h2d(const TimedRun& r, std::int32_t first) {
  if (r.plan) return sum_h2d(r.plan->h2d, r, first);
  const auto& ops = r.layout->ops;
  const auto& streams = r.layout->streams;
  H2d h;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const Op& op = ops[i];
    if (!timed(op.phase, op.step, first)) continue;
    const double d = static_cast<double>(r.end_ns[i] - r.start_ns[i]);
    const bool on_compute = streams[op.stream].kind == StreamKind::compute;
    if (op.kind == OpKind::h2d) {
      h.bytes += static_cast<double>(r.bytes[i]);
      h.total_ns += d;
      if (on_compute) h.exposed_ns += d;
    } else if (op.kind == OpKind::wait && on_compute) {
      h.exposed_ns += d;
    }
  }
  return h;
}

// `measured` false (no ops recorded): every h2d.* is NaN.
void add_h2d_metrics(Metrics& m, const TimedRun& r, std::int32_t first, bool measured, double decode_ms) {
  const H2d h = measured ? sum_h2d(r, first) : H2d{kNaN, kNaN, kNaN};
  m.emplace_back("h2d.bytes", h.bytes);
  m.emplace_back("h2d.total_ms", h.total_ns * kMsPerNs);
  m.emplace_back("h2d.exposed_ms", h.exposed_ns * kMsPerNs);
  m.emplace_back("h2d.hidden_ms", std::max(0.0, h.total_ns - h.exposed_ns) * kMsPerNs);
  if (!measured) m.back().second = kNaN;  // std::max drops NaN
  m.emplace_back("h2d.effective_gbps", ratio_or_nan(h.bytes, h.total_ns));
  m.emplace_back("h2d.exposed_share", ratio_or_nan(h.exposed_ns * kMsPerNs, decode_ms));
}

// compute.total_ms: summed duration of compute-class ops (kernels, GPU-to-GPU
// gathers) of the timed steps, on any stream, whether or not a transfer
// overlapped them; NaN when no ops were recorded.
void add_compute_metrics(Metrics& m, const TimedRun& r, std::int32_t first, bool measured) {
  double ns = 0;
  const auto& ops = r.layout->ops;
  if (r.plan) {
    for (const auto& e : r.plan->compute)
      if (measured && e.step >= first) ns += static_cast<double>(r.end_ns[e.op] - r.start_ns[e.op]);
  } else {
    for (std::size_t i = 0; measured && i < ops.size(); ++i)
      if (timed(ops[i].phase, ops[i].step, first) && op_class(ops[i]) == OpClass::compute)
        ns += static_cast<double>(r.end_ns[i] - r.start_ns[i]);
  }
  m.emplace_back("compute.total_ms", measured ? ns * kMsPerNs : kNaN);
}

void add_cache_metrics(Metrics& m, const TimedRun& r, std::int32_t first) {
  std::map<int, std::pair<double, double>> per_layer;  // layer -> (hits, selected)
  double hits = 0, selected = 0, misses = 0, loaded = 0;
  for (const auto& c : r.cache) {
    if (c.step < first) continue;
    hits += static_cast<double>(c.hits);
    selected += static_cast<double>(c.selected);
    misses += static_cast<double>(c.misses);
    loaded += static_cast<double>(c.loaded_bytes);
    auto& pl = per_layer[c.layer];
    pl.first += static_cast<double>(c.hits);
    pl.second += static_cast<double>(c.selected);
  }
  m.emplace_back("cache.selected", selected);
  m.emplace_back("cache.hit_rate", ratio_or_nan(hits, selected));
  m.emplace_back("cache.hits", hits);
  m.emplace_back("cache.misses", misses);
  m.emplace_back("cache.loaded_bytes", loaded);
  for (const auto& [layer, hs] : per_layer)
    m.emplace_back("cache.layer_hit_rate." + std::to_string(layer), ratio_or_nan(hs.first, hs.second));
}

// Critical paths of the timed steps summed per resource class.
struct Bounds {
  double by_class[kOpClassCount] = {0, 0, 0, 0};
  double total_ns = 0;
  double steps_bound[3] = {0, 0, 0};  // steps whose path is mostly compute, pcie, host
};
Bounds sum_critical_paths(const TimedRun& r, std::int32_t first) {
  Bounds b;
  const auto& ops = r.layout->ops;
  std::vector<StepPlan> local;
  const std::vector<StepPlan>* plans = r.plan ? &r.plan->steps : nullptr;
  if (!plans) {
    local = plan_steps(*r.layout, first);
    plans = &local;
  }
  thread_local CriticalPathScratch scratch;
  thread_local std::vector<std::int64_t> w;
  for (const StepPlan& sp : *plans) {
    if (!timed(ops[sp.first].phase, ops[sp.first].step, first)) continue;
    w.resize(sp.last + 1 - sp.first);
    for (std::size_t i = sp.first; i <= sp.last; ++i)  // a wait weighs 0 (OpClass::wait: OpKind::wait)
      w[i - sp.first] = sp.dag.cls[i - sp.first] == OpClass::wait ? 0 : r.end_ns[i] - r.start_ns[i];
    const PathTotals cp = critical_path_totals(sp.dag, w, scratch);
    int arg = 0;
    for (int k = 0; k < 3; ++k) {
      b.by_class[k] += static_cast<double>(cp.ns_by_class[k]);
      if (cp.ns_by_class[k] > cp.ns_by_class[arg]) arg = k;
    }
    b.total_ns += static_cast<double>(cp.length_ns);
    b.steps_bound[arg] += 1;
  }
  return b;
}

// bound.* and decode.critical_path_ms: share of decode critical-path time per
// resource; NaN when not computed (`enabled` false: skipped or no ops).
void add_bound_metrics(Metrics& m, const TimedRun& r, std::int32_t first, bool enabled) {
  const Bounds b = enabled ? sum_critical_paths(r, first) : Bounds{};
  const char* names[3] = {"compute", "pcie", "host"};
  for (int k = 0; k < 3; ++k)
    m.emplace_back(std::string("bound.") + names[k], enabled ? ratio_or_nan(b.by_class[k], b.total_ns) : kNaN);
  for (int k = 0; k < 3; ++k)
    m.emplace_back(std::string("bound.steps_") + names[k], enabled ? b.steps_bound[k] : kNaN);
  m.emplace_back("decode.critical_path_ms", enabled ? b.total_ns * kMsPerNs : kNaN);
}

double value_of(const Metrics& m, const std::string& name) {
  for (const auto& [k, v] : m)
    if (k == name) return v;
  return kNaN;
}

}  // namespace

MemoryUse recorded_memory(const Trace& t) {
  MemoryUse u;
  for (const auto& e : t.memory) (e.location == MemoryLocation::gpu ? u.gpu_bytes : u.host_bytes) += e.bytes;
  return u;
}

std::vector<StepPlan> plan_steps(const Trace& layout, std::int32_t first_step) {
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

LayoutPlan plan_layout(const Trace& layout) {
  LayoutPlan p;
  p.spans = plan_spans(layout.ops);
  const auto& streams = layout.streams;
  for (std::size_t i = 0; i < layout.ops.size(); ++i) {
    const Op& op = layout.ops[i];
    if (op.phase != Phase::decode) continue;
    const bool on_compute = streams[op.stream].kind == StreamKind::compute;
    const LayoutPlan::Entry e{static_cast<std::uint32_t>(i), op.step, 0};
    if (op.kind == OpKind::h2d) {
      p.h2d.push_back(e);
      p.h2d.back().kind = on_compute ? LayoutPlan::kH2dExposed : LayoutPlan::kH2d;
    } else if (op.kind == OpKind::wait && on_compute) {
      p.h2d.push_back(e);
      p.h2d.back().kind = LayoutPlan::kWaitExposed;
    }
    if (op_class(op) == OpClass::compute) p.compute.push_back(e);
  }
  p.steps = plan_steps(layout);
  return p;
}

Metrics compute_metrics(const TimedRun& r, const MemoryUse& mem, bool critical_paths) {
  Metrics m;
  // Warm-up steps (trace/steps.hpp): the header's run.warmup_steps.
  const auto first = static_cast<std::int32_t>(std::max<std::int64_t>(0, r.warmup_steps));
  const bool has_ops = !r.layout->ops.empty();
  add_step_metrics(m, r, first);
  add_h2d_metrics(m, r, first, has_ops, value_of(m, "decode.total_ms"));
  add_compute_metrics(m, r, first, has_ops);
  add_cache_metrics(m, r, first);
  add_bound_metrics(m, r, first, critical_paths && has_ops);
  add_memory(m, mem);
  return m;
}

Metrics compute_metrics(const Trace& t, const MemoryUse& mem, bool critical_paths) {
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

Metrics l2_metrics(std::span<const L2Outcome> l2, std::int64_t reserve_bytes, std::int64_t warmup_steps) {
  std::map<int, std::pair<double, double>> per_layer;  // layer -> (hit bytes, bytes)
  double hits = 0, bytes = 0;
  for (const auto& o : l2) {
    if (o.step < warmup_steps) continue;
    hits += static_cast<double>(o.hit_bytes);
    bytes += static_cast<double>(o.bytes);
    auto& pl = per_layer[o.layer];
    pl.first += static_cast<double>(o.hit_bytes);
    pl.second += static_cast<double>(o.bytes);
  }
  Metrics m;
  m.emplace_back("l2.reserve_bytes", static_cast<double>(reserve_bytes));
  m.emplace_back("l2.hit_rate", ratio_or_nan(hits, bytes));
  for (const auto& [layer, hb] : per_layer)
    m.emplace_back("l2.layer_hit_rate." + std::to_string(layer), ratio_or_nan(hb.first, hb.second));
  m.emplace_back("l2.hbm_bytes_saved", hits);
  return m;
}

Metrics out_of_memory_metrics(const MemoryUse& mem) {
  Metrics m;
  add_memory(m, mem);
  return m;
}

Metrics stage_metrics(const Trace& t) {
  std::vector<double> ns(t.stages.size(), 0.0);
  std::vector<bool> used(t.stages.size(), false);
  double total = 0;
  for (const auto& op : t.ops) {
    const auto d = static_cast<double>(op.end_ns - op.start_ns);
    if (op.stage < ns.size()) {
      ns[op.stage] += d;
      used[op.stage] = true;
    }
    total += d;
  }
  Metrics m;
  for (std::size_t i = 0; i < t.stages.size(); ++i)
    if (used[i]) m.emplace_back("stages_ms." + t.stages[i], ns[i] * kMsPerNs);
  m.emplace_back("stages_total_ms", total * kMsPerNs);
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

}  // namespace foresight::trace

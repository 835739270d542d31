// Metric computation (definitions: docs/metrics.md).
#include "foresight/sim/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "foresight/sim/timeline.hpp"
#include "foresight/trace/steps.hpp"

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

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return kNaN;
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  rank = std::clamp<std::size_t>(rank, 1, v.size());
  return v[rank - 1];
}

Metrics compute_metrics(const trace::Trace& t, const MemoryPlan& mem, bool critical_paths) {
  Metrics m;
  std::vector<double> step_ms;
  double decode_ns = 0, prefill_ns = 0;
  bool has_prefill = false;
  auto timed = [&](trace::Phase p, std::int32_t step) { return trace::is_steady_step(t.header, p, step); };
  for (const auto& s : t.steps) {
    const double d = static_cast<double>(s.end_ns - s.start_ns);
    if (trace::is_warmup_step(t.header, s.phase, s.step)) continue;
    if (s.phase == trace::Phase::decode) {
      step_ms.push_back(d * kMsPerNs);
      decode_ns += d;
    } else {
      has_prefill = true;
      prefill_ns += d;
    }
  }
  const double batch = static_cast<double>(t.header.run.batch);
  double mean = 0;
  for (double x : step_ms) mean += x;
  mean = step_ms.empty() ? kNaN : mean / static_cast<double>(step_ms.size());
  m.emplace_back("decode.steps", static_cast<double>(step_ms.size()));
  m.emplace_back("decode.step_ms.mean", mean);
  m.emplace_back("decode.step_ms.p50", percentile(step_ms, 50));
  m.emplace_back("decode.step_ms.p99", percentile(step_ms, 99));
  m.emplace_back("decode.total_ms", decode_ns * kMsPerNs);
  m.emplace_back("decode.tokens_per_s",
                 decode_ns > 0 ? batch * static_cast<double>(step_ms.size()) / (decode_ns * 1e-9) : kNaN);
  double ctx = 0;
  for (auto n : t.header.run.context_tokens) ctx += static_cast<double>(n);
  m.emplace_back("prefill.ms", has_prefill ? prefill_ns * kMsPerNs : kNaN);
  m.emplace_back("prefill.tokens_per_s", has_prefill && prefill_ns > 0 ? ctx / (prefill_ns * 1e-9) : kNaN);

  // H2D: total = all decode H2D op time; exposed = time a compute stream spent
  // on them (inline) or waiting for them (wait ops).
  double h2d_bytes = 0, h2d_total = 0, h2d_exposed = 0;
  for (const auto& op : t.ops) {
    if (!timed(op.phase, op.step)) continue;
    const double d = static_cast<double>(op.end_ns - op.start_ns);
    const bool on_compute = t.streams[op.stream].kind == trace::StreamKind::compute;
    if (op.kind == trace::OpKind::h2d) {
      h2d_bytes += static_cast<double>(op.bytes);
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

  // Cache.
  std::map<int, std::pair<double, double>> per_layer;  // layer -> (hits, selected)
  double hits = 0, selected = 0;
  for (const auto& c : t.cache) {
    if (!timed(trace::Phase::decode, c.step)) continue;
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

  // Bounds: share of decode critical-path time per resource.
  double cls[kOpClassCount] = {0, 0, 0, 0};
  double cp_total = 0;
  double steps_bound[3] = {0, 0, 0};
  if (critical_paths) {
    std::size_t i = 0;
    while (i < t.ops.size()) {
      std::size_t j = i;
      while (j + 1 < t.ops.size() && t.ops[j + 1].phase == t.ops[i].phase &&
             t.ops[j + 1].step == t.ops[i].step)
        ++j;
      if (timed(t.ops[i].phase, t.ops[i].step)) {
        const CriticalPath cp = critical_path(t, i, j);
        int arg = 0;
        for (int k = 0; k < 3; ++k) {
          cls[k] += static_cast<double>(cp.ns_by_class[k]);
          if (cp.ns_by_class[k] > cp.ns_by_class[arg]) arg = k;
        }
        cp_total += static_cast<double>(cp.length_ns);
        steps_bound[arg] += 1;
      }
      i = j + 1;
    }
  }
  const char* names[3] = {"compute", "pcie", "host"};
  for (int k = 0; k < 3; ++k)
    m.emplace_back(std::string("bound.") + names[k],
                   critical_paths && cp_total > 0 ? cls[k] / cp_total : kNaN);
  for (int k = 0; k < 3; ++k)
    m.emplace_back(std::string("bound.steps_") + names[k], critical_paths ? steps_bound[k] : kNaN);
  m.emplace_back("decode.critical_path_ms", critical_paths ? cp_total * kMsPerNs : kNaN);
  add_memory(m, mem);
  return m;
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

// Fitting a GPU calibration from profile traces (see calibrate.hpp).
#include "foresight/sim/calibrate.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <stdexcept>

#include <fmt/core.h>

#include "foresight/sim/calibrated_costs.hpp"
#include "foresight/sim/replay.hpp"
#include "foresight/sim/schedule.hpp"
#include "foresight/trace/stages.hpp"
#include "foresight/trace/steps.hpp"

namespace foresight::sim {

namespace st = trace::stage;

namespace {

struct Profiled {
  const trace::Trace* t = nullptr;
  std::string name;
  ModeShape shape;
  double batch = 1, tokens = 0;   // tokens: mean context per sequence
  double span_ns = 0;             // mean steady step span
  std::map<std::string, double> op_ns;      // calibration key -> mean interval per op
  std::map<std::string, double> per_step;   // calibration key -> ops per step
  double overhead_ns = 0;         // span - intervals of every op but the host op
};

config::Mode mode_of(const trace::Trace& t) { return t.header.run.mode; }

// Main-stream intervals of the steady steps of `t`.
Profiled profile(const trace::Trace& t, const std::string& name) {
  Profiled p;
  p.t = &t;
  p.name = name;
  p.shape = mode_shape(mode_of(t));
  p.batch = static_cast<double>(t.header.run.batch);
  for (auto n : t.header.run.context_tokens) p.tokens += static_cast<double>(n) / p.batch;
  const auto steps = trace::steady_decode_steps(t);
  if (steps.empty()) throw std::invalid_argument(name + ": no steady decode step (warm-up only?)");
  std::uint8_t main = 0;
  for (std::size_t i = 0; i < t.streams.size(); ++i)
    if (t.streams[i].name == "main") main = static_cast<std::uint8_t>(i);
  std::map<std::string, std::pair<double, double>> sums;  // key -> (ns, ops)
  std::map<std::int32_t, std::size_t> step_index;
  for (std::size_t i = 0; i < steps.size(); ++i) step_index[steps[i].step] = i;
  std::vector<std::int64_t> prev(steps.size());
  std::vector<double> busy(steps.size(), 0.0);
  for (std::size_t i = 0; i < steps.size(); ++i) prev[i] = steps[i].start_ns;
  for (const auto& op : t.ops) {  // ops are in id order: per stream, execution order
    if (op.phase != trace::Phase::decode || op.stream != main) continue;
    auto it = step_index.find(op.step);
    if (it == step_index.end()) continue;
    const std::size_t i = it->second;
    const double dt = static_cast<double>(op.end_ns - std::min(prev[i], op.end_ns));
    prev[i] = std::max(prev[i], op.end_ns);
    const std::string& stage = t.stages.at(op.stage);
    if (stage == st::host) continue;
    busy[i] += dt;
    auto& s = sums[calibration_key(stage, p.shape)];
    s.first += dt;
    s.second += 1;
  }
  double span = 0, over = 0;
  for (std::size_t i = 0; i < steps.size(); ++i) {
    span += static_cast<double>(steps[i].end_ns - steps[i].start_ns);
    over += static_cast<double>(steps[i].end_ns - steps[i].start_ns) - busy[i];
  }
  const auto n = static_cast<double>(steps.size());
  p.span_ns = span / n;
  p.overhead_ns = over / n;
  for (const auto& [k, s] : sums) {
    p.op_ns[k] = s.first / s.second;
    p.per_step[k] = s.second / n;
  }
  return p;
}

// Grid of (batch, tokens) -> value, NaN where unmeasured.
config::StageTable grid(const std::map<std::pair<double, double>, double>& cells) {
  std::set<double> bs, ts;
  for (const auto& [k, v] : cells) {
    bs.insert(k.first);
    ts.insert(k.second);
  }
  config::StageTable g;
  g.batch.assign(bs.begin(), bs.end());
  g.tokens.assign(ts.begin(), ts.end());
  g.ns.assign(g.batch.size(), std::vector<double>(g.tokens.size(), NAN));
  for (const auto& [k, v] : cells) {
    const auto i = static_cast<std::size_t>(std::find(g.batch.begin(), g.batch.end(), k.first) - g.batch.begin());
    const auto j = static_cast<std::size_t>(std::find(g.tokens.begin(), g.tokens.end(), k.second) - g.tokens.begin());
    g.ns[i][j] = v;
  }
  return g;
}

// `g` with its unmeasured cells filled from the measured ones.
config::StageTable filled(config::StageTable g, const std::string& what) {
  if (!config::fill_unmeasured(g)) throw std::invalid_argument("calibration: " + what + " has no measured cell");
  return g;
}

// `extending`: tables of keys cal lacks are added; cal's own tables (measured
// over its whole grid) and step overhead are kept.
void fit_stage_tables(const std::vector<Profiled>& runs, config::Calibration& cal, bool extending) {
  std::map<std::string, std::map<std::pair<double, double>, double>> cells;
  std::map<std::pair<double, double>, std::vector<double>> overhead;
  for (const auto& p : runs) {
    // Offloaded KV: only DSA's gathers are inline on main (a main-stream op);
    // a block mode's overlap or cache makes its intervals no op's own time.
    if ((p.shape.kv_on_host && !p.shape.tokens) || !config::decode_uses_graph(p.t->header.run)) continue;
    for (const auto& [k, v] : p.op_ns) cells[k][{p.batch, p.tokens}] = v;
    overhead[{p.batch, p.tokens}].push_back(p.overhead_ns);
  }
  if (cells.empty())
    throw std::invalid_argument("calibration: no trace of a no-offload mode (sparse, sparda-no-offload, dsa) "
                                "with CUDA graphs: the op grid needs them");
  for (const auto& [k, c] : cells)
    if (!extending || !cal.stages.count(k)) cal.stages[k] = filled(grid(c), k);
  if (extending) return;
  std::map<std::pair<double, double>, double> over;
  for (const auto& [k, v] : overhead) {
    double s = 0;
    for (double x : v) s += x;
    over[k] = std::max(1.0, s / static_cast<double>(v.size()));
  }
  cal.step_overhead = filled(grid(over), "step_overhead");
}

// Span a graph-replayed step of `p` would have without its gathers: the
// overhead plus every other op at the stage tables' time.
double span_without_gathers(const Profiled& p, const config::Calibration& cal) {
  double ns = cal.step_overhead.at(p.batch, p.tokens);
  for (const auto& [k, n] : p.per_step) {
    if (k == st::h2d_gather || k == st::wait_kv) continue;
    auto it = cal.stages.find(k);
    if (it == cal.stages.end())
      throw std::invalid_argument(fmt::format("{}: the op grid has no table '{}'", p.name, k));
    ns += n * it->second.at(p.batch, p.tokens);
  }
  return ns;
}

void fit_gather(const std::vector<Profiled>& runs, config::Calibration& cal, bool extending) {
  std::map<double, std::vector<std::pair<double, double>>> pts;  // ctas -> (bytes, ns) per gather
  for (const auto& p : runs) {
    if (mode_of(*p.t) != config::Mode::sparda_no_prefetch || !config::decode_uses_graph(p.t->header.run))
      continue;
    double bytes = 0, n = 0;
    for (const auto& op : p.t->ops)
      if (op.kind == trace::OpKind::h2d && trace::is_steady_step(p.t->header, op.phase, op.step)) {
        bytes += static_cast<double>(op.bytes);
        n += 1;
      }
    const double per_step = p.per_step.count(std::string(st::h2d_gather)) ? p.per_step.at(std::string(st::h2d_gather)) : 0;
    if (n == 0 || per_step == 0) continue;
    const double exposed = p.span_ns - span_without_gathers(p, cal);
    pts[static_cast<double>(p.t->header.run.gather_ctas)].push_back({bytes / n, std::max(1.0, exposed / per_step)});
  }
  if (pts.empty() && extending) return;
  if (pts.empty())
    throw std::invalid_argument("calibration: no sparda-no-prefetch trace with CUDA graphs: the gather fit needs them");
  std::vector<double> lats;
  std::map<double, std::pair<double, double>> fit;  // ctas -> (latency, gbps); latency < 0: to set
  for (const auto& [c, v] : pts) {
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    for (auto [x, y] : v) sx += x, sy += y, sxx += x * x, sxy += x * y;
    const auto n = static_cast<double>(v.size());
    const double den = n * sxx - sx * sx;
    double slope = den > 0 ? (n * sxy - sx * sy) / den : 0, lat = den > 0 ? (sy - slope * sx) / n : -1;
    if (den > 0 && (lat < 0 || slope <= 0)) lat = 0, slope = sy / sx;
    if (den > 0) lats.push_back(lat);
    fit[c] = {lat, slope > 0 ? 1.0 / slope : 0};
  }
  double lat_med = 0;
  if (!lats.empty()) {
    std::sort(lats.begin(), lats.end());
    lat_med = lats[lats.size() / 2];
  }
  cal.gather = {};
  for (auto& [c, f] : fit) {
    if (f.first < 0) {  // one batch only: the median latency, the rest is bandwidth
      const auto [x, y] = pts[c].front();
      f = {std::min(lat_med, 0.5 * y), x / (y - std::min(lat_med, 0.5 * y))};
    }
    cal.gather.ctas.push_back(c);
    cal.gather.latency_ns.push_back(f.first);
    cal.gather.gbps.push_back(f.second);
    cal.gather.beside_ns.push_back(0.0);
  }
}

// Side-stream gathers of sparda traces against the inline fit at the same
// bytes and CTAs, per gather: one op's marks may be late, but a stream's
// gathers in sum are not.
void fit_beside(const std::vector<Profiled>& runs, config::Calibration& cal) {
  std::map<double, std::pair<double, double>> sums;  // ctas -> (extra ns, gathers)
  for (const auto& p : runs) {
    if (mode_of(*p.t) != config::Mode::sparda || !config::decode_uses_graph(p.t->header.run)) continue;
    const auto c = static_cast<double>(p.t->header.run.gather_ctas);
    for (const auto& op : p.t->ops)
      if (op.kind == trace::OpKind::h2d && trace::is_steady_step(p.t->header, op.phase, op.step)) {
        sums[c].first += static_cast<double>(op.end_ns - op.start_ns) -
                         cal.gather.time_ns(static_cast<double>(op.bytes), c);
        sums[c].second += 1;
      }
  }
  if (sums.empty()) return;
  std::vector<double> xs, ys;
  for (const auto& [c, s] : sums) {
    xs.push_back(c);
    ys.push_back(std::max(0.0, s.first / s.second));
  }
  const config::GatherModel at_fitted{xs, std::vector<double>(xs.size(), 0), std::vector<double>(xs.size(), 1), ys};
  for (std::size_t i = 0; i < cal.gather.ctas.size(); ++i) cal.gather.beside_ns[i] = at_fitted.beside_at(cal.gather.ctas[i]);
}

// Steady step mean (ns) the simulator predicts for `r`'s trace at its own
// settings with calibration `cal` (one Replayer per trace, re-calibrated).
double predicted_ns(Replayer& r, const config::Calibration& cal) {
  r.set_calibration(cal);
  const ReplayResult res = r.run(config::Scenario{});
  for (const auto& [k, v] : res.metrics)
    if (k == "decode.step_ms.mean") return v * 1e6;
  throw std::invalid_argument(r.where() + ": replay gave no decode.step_ms.mean");
}

// x in [lo, hi] with f(x) = target for increasing f (clamped), by bisection.
double solve(const std::function<double(double)>& f, double target, double lo, double hi) {
  if (f(lo) >= target) return lo;
  if (f(hi) <= target) return hi;
  for (int i = 0; i < 30; ++i) {
    const double mid = 0.5 * (lo + hi);
    (f(mid) < target ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

// A run measures the slowdown only if its step depends on the compute beside
// its gathers: compute 50% slower must move the predicted step by at least
// this share. Gather-bound steps (few CTAs, or large batches whose per-layer
// gather outlasts the layer's compute) do not, and a factor bisected on them
// is noise made large (5x at batch 40 on the H200); their cells are filled
// from the runs that do measure it.
constexpr double kMinSlowdownSensitivity = 0.05;

// Per sparda trace (batch b, c CTAs): the slowdown factor beside its gathers
// that reproduces its step time; the cells form the grid over batch x CTAs.
void fit_slowdown(const std::vector<Profiled>& runs, config::Calibration& cal, bool extending) {
  std::map<std::pair<double, double>, double> cells;
  for (const auto& p : runs) {
    if (mode_of(*p.t) != config::Mode::sparda || !config::decode_uses_graph(p.t->header.run)) continue;
    Replayer r(*p.t, p.name, {}, false);
    config::Calibration c = cal;
    auto f = [&](double factor) {
      c.gather_slowdown = config::StageTable{{1}, {1}, {{factor}}};
      return predicted_ns(r, c);
    };
    if (f(1.5) < f(1.0) * (1 + kMinSlowdownSensitivity)) continue;
    cells[{p.batch, static_cast<double>(p.t->header.run.gather_ctas)}] = solve(f, p.span_ns, 1.0, 5.0);
  }
  if (cells.empty() && extending) return;
  cal.gather_slowdown = cells.empty() ? config::StageTable{{1}, {1}, {{1.0}}} : filled(grid(cells), "gather_slowdown");
}

// Op-by-op steps with an LRU working set (the case a --cache-blocks what-if
// predicts) cost more per op than plain graph-less steps (measured on the
// H200: attention beside the gathers slows much more), so their traces, when
// any, are the ones fitted.
void fit_eager_launch(const std::vector<Profiled>& runs, config::Calibration& cal) {
  std::vector<double> fits;
  bool any_lru = false;
  for (const auto& p : runs) any_lru |= p.t->header.run.backend == "cuda" && config::lru_working_set(p.t->header.run);
  for (const auto& p : runs) {
    if (p.t->header.run.backend != "cuda" || config::decode_uses_graph(p.t->header.run)) continue;
    if (any_lru && !config::lru_working_set(p.t->header.run)) continue;
    Replayer r(*p.t, p.name, {}, false);
    config::Calibration c = cal;
    auto f = [&](double ns) {
      c.eager_launch_ns = ns;
      return predicted_ns(r, c);
    };
    fits.push_back(solve(f, p.span_ns, 0.0, 50000.0));
  }
  if (fits.empty()) return;
  std::sort(fits.begin(), fits.end());
  cal.eager_launch_ns = fits[fits.size() / 2];
}

}  // namespace

config::Calibration fit_calibration(const CalibrationInputs& in, const FitProgress& progress) {
  if (in.traces.empty()) throw std::invalid_argument("calibration: no traces");
  auto say = [&](std::size_t i, const std::string& what) {
    if (progress) progress(i, 5, what);
  };
  config::Calibration cal = in.meta;
  cal.model = in.traces.front().header.model.name;
  const bool extending = in.base.has_value();
  if (extending) {
    if (in.base->model != cal.model || in.base->hardware != cal.hardware)
      throw std::invalid_argument(fmt::format("--extend: the calibration is of model '{}' on '{}', the traces "
                                              "of '{}' on '{}'", in.base->model, in.base->hardware, cal.model,
                                              cal.hardware));
    config::Calibration merged = *in.base;
    merged.created_utc = cal.created_utc;
    merged.command = in.base->command + "; extended: " + cal.command;
    merged.tool_version = cal.tool_version;
    if (!cal.fidelity.is_null()) merged.fidelity = cal.fidelity;
    cal = std::move(merged);
  }
  std::vector<Profiled> runs;
  for (std::size_t i = 0; i < in.traces.size(); ++i) {
    const auto& t = in.traces[i];
    const std::string name = i < in.names.size() ? in.names[i] : fmt::format("trace {}", i);
    if (t.header.model.name != cal.model)
      throw std::invalid_argument(fmt::format("{}: model '{}', but the first trace's is '{}': one "
                                              "calibration is measured with one model", name,
                                              t.header.model.name, cal.model));
    if (t.header.hardware.name != cal.hardware)
      throw std::invalid_argument(fmt::format("{}: hardware '{}', calibrating '{}'", name,
                                              t.header.hardware.name, cal.hardware));
    runs.push_back(profile(t, name));
  }
  say(0, "op grid");
  fit_stage_tables(runs, cal, extending);
  say(1, "gather");
  fit_gather(runs, cal, extending);
  fit_beside(runs, cal);
  say(2, "eager launches");
  fit_eager_launch(runs, cal);
  say(3, "slowdown beside gathers");
  fit_slowdown(runs, cal, extending);
  say(5, "done");
  return cal;
}

}  // namespace foresight::sim

// Calibration files: interpolation, loading with checks, canonical JSON.
#include "foresight/config/calibration.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>

#include <fmt/format.h>

#include "config_internal.hpp"

namespace foresight::config {

using nlohmann::json;

namespace {

// Index i of the segment [x[i], x[i+1]] holding q (the edge segment outside
// the range) and q's position in it in log2 units (outside [0, 1] when
// extrapolating). x has at least two entries.
std::pair<std::size_t, double> segment(const std::vector<double>& x, double q) {
  std::size_t i = 0;
  while (i + 2 < x.size() && x[i + 1] < q) ++i;
  const double l0 = std::log2(x[i]), l1 = std::log2(x[i + 1]);
  return {i, (std::log2(q) - l0) / (l1 - l0)};
}

double lerp(double a, double b, double t) { return a + t * (b - a); }

// log(ns) of row i at tokens t.
double row_log(const StageTable& s, std::size_t i, double t) {
  const auto& r = s.ns[i];
  if (s.tokens.size() == 1) return std::log(r[0]);
  auto [j, u] = segment(s.tokens, t);
  return lerp(std::log(r[j]), std::log(r[j + 1]), u);
}

// Fills NaN cells of column j (or row i when `by_row`) by log-log
// interpolation or edge extrapolation over the cells that are set.
void fill_line(StageTable& s, std::size_t fixed, bool by_row) {
  const auto& axis = by_row ? s.tokens : s.batch;
  auto cell = [&](std::size_t k) -> double& { return by_row ? s.ns[fixed][k] : s.ns[k][fixed]; };
  std::vector<double> x, y;
  for (std::size_t k = 0; k < axis.size(); ++k)
    if (std::isfinite(cell(k))) {
      x.push_back(axis[k]);
      y.push_back(std::log(cell(k)));
    }
  if (x.empty() || x.size() == axis.size()) return;
  for (std::size_t k = 0; k < axis.size(); ++k) {
    if (std::isfinite(cell(k))) continue;
    if (x.size() == 1) {
      cell(k) = std::exp(y[0]);
      continue;
    }
    auto [i, u] = segment(x, axis[k]);
    cell(k) = std::exp(lerp(y[i], y[i + 1], u));
  }
}

std::vector<double> ascending_axis(detail::Fields& f, const std::string& key) {
  std::vector<double> v = f.numbers(key);
  if (v.empty()) f.fail(key, "must not be empty");
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (!(v[i] >= 1)) f.fail(key, fmt::format("entry {} is {}: must be >= 1", i, v[i]));
    if (i > 0 && !(v[i] > v[i - 1])) f.fail(key, "must be strictly ascending");
  }
  return v;
}

// A grid table; `x_key` and `v_key` name its second axis and its values
// (tokens and ns for stage tables).
StageTable table_from(detail::Fields& f, const std::string& x_key = "tokens",
                      const std::string& v_key = "ns") {
  StageTable s;
  s.batch = ascending_axis(f, "batch");
  s.tokens = ascending_axis(f, x_key);
  const json& rows = f.raw(v_key);
  if (!rows.is_array() || rows.size() != s.batch.size())
    f.fail(v_key, fmt::format("must be an array of {} rows (one per batch)", s.batch.size()));
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (!rows[i].is_array() || rows[i].size() != s.tokens.size())
      f.fail(v_key, fmt::format("row {} must have {} entries (one per {} value)", i, s.tokens.size(), x_key));
    std::vector<double> r;
    for (const auto& v : rows[i]) {
      if (v.is_null()) {
        r.push_back(NAN);
      } else if (v.is_number() && std::isfinite(v.get<double>()) && v.get<double>() > 0) {
        r.push_back(v.get<double>());
      } else {
        f.fail(v_key, fmt::format("row {}: entries must be positive numbers or null, got {}", i, v.dump()));
      }
    }
    s.ns.push_back(std::move(r));
  }
  if (!fill_unmeasured(s)) f.fail(v_key, "has no measured cell to fill a missing one from");
  f.finish();
  return s;
}

json table_json(const StageTable& s, const std::string& x_key = "tokens", const std::string& v_key = "ns") {
  return json{{"batch", s.batch}, {x_key, s.tokens}, {v_key, s.ns}};
}

GatherModel gather_from(detail::Fields& f) {
  GatherModel g;
  g.ctas = ascending_axis(f, "ctas");
  g.latency_ns = f.numbers("latency_ns");
  g.gbps = f.numbers("gbps");
  g.beside_ns = f.numbers("beside_ns");
  if (g.latency_ns.size() != g.ctas.size() || g.gbps.size() != g.ctas.size() ||
      g.beside_ns.size() != g.ctas.size())
    f.fail("gbps", "latency_ns, gbps and beside_ns need one entry per ctas value");
  for (std::size_t i = 0; i < g.ctas.size(); ++i) {
    if (!(g.gbps[i] > 0)) f.fail("gbps", fmt::format("entry {} must be > 0", i));
    if (!(g.latency_ns[i] >= 0)) f.fail("latency_ns", fmt::format("entry {} must be >= 0", i));
    if (!(g.beside_ns[i] >= 0)) f.fail("beside_ns", fmt::format("entry {} must be >= 0", i));
  }
  f.finish();
  return g;
}

// l2_measured: {source, points: [{mode, context, batch, reserve_mib, step_change}]}.
L2Measured l2_measured_from(detail::Fields& f) {
  L2Measured m;
  m.source = f.string("source");
  const json& pts = f.raw("points");
  if (!pts.is_array()) f.fail("points", "must be an array of measured runs");
  for (std::size_t i = 0; i < pts.size(); ++i) {
    const std::string at = fmt::format("{}points[{}].", f.path(""), i);
    detail::Fields pf(pts[i], f.where(), at);  // names the entry when it is not a table
    L2Measurement p;
    p.mode = parse_mode(pf.string("mode"), pf.path("mode"));
    p.context = pf.integer("context");
    p.batch = pf.integer("batch");
    p.reserve_mib = pf.number("reserve_mib");
    p.step_change = pf.number("step_change");
    if (p.context < 1) pf.fail("context", "must be >= 1");
    if (p.batch < 1) pf.fail("batch", "must be >= 1");
    if (!(p.reserve_mib > 0)) pf.fail("reserve_mib", "must be > 0");
    if (!(p.step_change > -1)) pf.fail("step_change", "must be > -1 (a step cannot take no time)");
    pf.finish();
    m.points.push_back(p);
  }
  f.finish();
  return m;
}

json l2_measured_json(const L2Measured& m) {
  json pts = json::array();
  for (const auto& p : m.points)
    pts.push_back({{"mode", to_string(p.mode)},
                   {"context", p.context},
                   {"batch", p.batch},
                   {"reserve_mib", p.reserve_mib},
                   {"step_change", p.step_change}});
  return json{{"source", m.source}, {"points", pts}};
}

}  // namespace

bool fill_unmeasured(StageTable& t) {
  for (std::size_t j = 0; j < t.tokens.size(); ++j) fill_line(t, j, false);
  for (std::size_t i = 0; i < t.batch.size(); ++i) fill_line(t, i, true);
  for (const auto& r : t.ns)
    for (double v : r)
      if (!std::isfinite(v)) return false;
  return true;
}

double StageTable::at(double b, double t) const {
  if (batch.empty() || tokens.empty()) return 0.0;
  b = std::max(b, 1.0);
  t = std::max(t, 1.0);
  if (batch.size() == 1) return std::exp(row_log(*this, 0, t));
  auto [i, u] = segment(batch, b);
  return std::exp(lerp(row_log(*this, i, t), row_log(*this, i + 1, t), u));
}

namespace {
// v interpolated in log2(ctas) at c, clamped to the measured range.
double by_ctas(const std::vector<double>& ctas, const std::vector<double>& v, double c) {
  if (ctas.size() == 1) return v[0];
  auto [i, u] = segment(ctas, std::clamp(c, ctas.front(), ctas.back()));
  return lerp(v[i], v[i + 1], u);
}
}  // namespace

double GatherModel::time_ns(double bytes, double c) const {
  if (ctas.empty()) return 0.0;
  return by_ctas(ctas, latency_ns, c) + bytes / by_ctas(ctas, gbps, c);
}

double GatherModel::latency_at(double c) const {
  return ctas.empty() ? 0.0 : by_ctas(ctas, latency_ns, c);
}

double GatherModel::gbps_at(double c) const {
  return ctas.empty() ? 0.0 : by_ctas(ctas, gbps, c);
}

double GatherModel::beside_at(double c) const {
  return ctas.empty() ? 0.0 : by_ctas(ctas, beside_ns, c);
}

Calibration calibration_from_json(const json& j, const std::string& where) {
  if (!j.is_object()) detail::fail(where, "", "a calibration must be a JSON object");
  detail::Fields f(j, where, "");
  Calibration c;
  const std::string schema = f.string("schema");
  if (schema != kCalibrationSchema)
    f.fail("schema", fmt::format("is '{}'; this foresight reads '{}'", schema, kCalibrationSchema));
  c.hardware = f.string("hardware");
  c.gpu_name = f.string("gpu_name", "");
  c.driver = f.string("driver", "");
  c.created_utc = f.string("created_utc", "");
  c.command = f.string("command", "");
  c.tool_version = f.string("tool_version", "");
  c.model = f.string("model");
  const json& stages = f.raw("stages");
  if (!stages.is_object() || stages.empty()) f.fail("stages", "must be a non-empty table of stage grids");
  for (const auto& [name, v] : stages.items()) {
    if (!v.is_object()) f.fail("stages." + name, "must be a table with batch, tokens and ns");
    detail::Fields sf(v, where, "stages." + name + ".");
    c.stages.emplace(name, table_from(sf));
  }
  auto gf = f.table("gather", true);
  c.gather = gather_from(gf);
  auto sf = f.table("gather_slowdown", true);
  c.gather_slowdown = table_from(sf, "ctas", "factor");
  auto of = f.table("step_overhead", true);
  c.step_overhead = table_from(of);
  c.eager_launch_ns = f.number("eager_launch_ns");
  if (!(c.eager_launch_ns >= 0)) f.fail("eager_launch_ns", "must be >= 0");
  if (f.has("fidelity")) c.fidelity = f.raw("fidelity");
  if (f.has("l2_measured")) {
    auto lf = f.table("l2_measured", true);
    c.l2_measured = l2_measured_from(lf);
    c.l2_measured.model = c.model;
  }
  f.finish();
  return c;
}

json to_json(const Calibration& c) {
  json stages = json::object();
  for (const auto& [name, s] : c.stages) stages[name] = table_json(s);
  json j{{"schema", kCalibrationSchema},
         {"hardware", c.hardware},
         {"gpu_name", c.gpu_name},
         {"driver", c.driver},
         {"created_utc", c.created_utc},
         {"command", c.command},
         {"tool_version", c.tool_version},
         {"model", c.model},
         {"stages", stages},
         {"gather", {{"ctas", c.gather.ctas}, {"latency_ns", c.gather.latency_ns}, {"gbps", c.gather.gbps},
                     {"beside_ns", c.gather.beside_ns}}},
         {"gather_slowdown", table_json(c.gather_slowdown, "ctas", "factor")},
         {"step_overhead", table_json(c.step_overhead)},
         {"eager_launch_ns", c.eager_launch_ns}};
  if (!c.fidelity.is_null()) j["fidelity"] = c.fidelity;
  if (!c.l2_measured.points.empty()) j["l2_measured"] = l2_measured_json(c.l2_measured);
  return j;
}

Calibration load_calibration(const std::filesystem::path& file) {
  std::ifstream in(file);
  if (!in) throw ConfigError(fmt::format("{}: cannot open calibration file", file.string()));
  json j;
  try {
    j = json::parse(in);
  } catch (const json::exception& e) {  // parse_error, or out_of_range for a number beyond double
    throw ConfigError(fmt::format("{}: not valid JSON: {}", file.string(), e.what()));
  }
  Calibration c = calibration_from_json(j, file.string());
  c.source = file;
  return c;
}

std::optional<std::filesystem::path> default_calibration_path(const std::string& hardware) {
  const auto p = configs_dir() / "calibration" / (hardware + ".json");
  std::error_code ec;
  if (std::filesystem::is_regular_file(p, ec)) return p;
  return std::nullopt;
}

}  // namespace foresight::config

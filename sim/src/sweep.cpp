// Study parsing and the parallel sweep runner (see sweep.hpp).
#include "foresight/sim/sweep.hpp"

#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include <fmt/core.h>

#include "foresight/common/files.hpp"
#include "foresight/common/text.hpp"
#include "foresight/config/toml.hpp"
#include "foresight/sim/output.hpp"

namespace foresight::sim {

namespace {

using nlohmann::json;

// Sets every key of `t` on `s`; `ctx` names the table in messages.
void apply_table(config::Scenario& s, const json& t, const std::string& where, const std::string& ctx) {
  for (const auto& [key, v] : t.items()) config::set_knob(s, key, v, where + ": " + ctx);
}

// A note for each key of `t` spelled the old way (underscores).
void note_old_spelling(const json& t, const std::string& where, const std::string& ctx,
                       std::vector<std::string>& notes) {
  for (const auto& [key, v] : t.items()) {
    const config::ScenarioKnob* k = config::find_knob(key);
    if (k && key.find('_') != std::string::npos)
      notes.push_back(fmt::format("{}: {}{}: write '{}', the option's name on the command line; "
                                  "the underscore spelling is deprecated",
                                  where, ctx, key, k->option));
  }
}

std::uint64_t fnv1a(const std::string& s) {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

std::string csv_escape(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string o = "\"";
  for (char c : s) o += c == '"' ? std::string("\"\"") : std::string(1, c);
  return o + "\"";
}

// Finished scenarios of a sweep folder, for reruns: DIR/scenarios/done.jsonl
// holds one compact JSON row per line, appended (and flushed) as scenarios
// finish; a torn last line is ignored. One appending file instead of a file
// per scenario: creating 1000 small files cost more than simulating them.
// Folders of earlier versions (DIR/scenarios/<fnv1a of what_if>.json) are
// still read.
class DoneLog {
 public:
  explicit DoneLog(const std::filesystem::path& dir) : dir_(dir) {
    std::filesystem::create_directories(dir);
    const auto path = dir / "done.jsonl";
    bool torn = false;
    if (std::ifstream in{path}) {
      std::string line;
      while (std::getline(in, line)) {
        torn = in.eof();  // the last line had no newline
        try {
          nlohmann::json row = nlohmann::json::parse(line);
          std::string key = row.at("what_if").dump();
          done_[std::move(key)] = std::move(row);
        } catch (const std::exception&) {
        }
      }
    }
    for (const auto& e : std::filesystem::directory_iterator(dir))
      if (e.path().extension() == ".json") legacy_ = true;
    out_.open(path, std::ios::binary | std::ios::app);
    if (!out_) throw std::runtime_error("cannot write " + path.string());
    if (torn) out_ << '\n';
  }

  // The finished row of `what_if`, if any (thread-safe: read-only after construction).
  bool find(const nlohmann::json& what_if, nlohmann::json& row) const {
    const std::string key = what_if.dump();
    if (auto it = done_.find(key); it != done_.end()) {
      row = it->second;
      return true;
    }
    return legacy_ && find_legacy(what_if, key, row);
  }

  // Records a finished row (thread-safe).
  void append(const nlohmann::json& row) {
    const std::string line = row.dump() + "\n";
    std::lock_guard<std::mutex> lock(mu_);
    out_ << line;
    out_.flush();
    if (!out_) throw std::runtime_error("write failed: " + (dir_ / "done.jsonl").string());
  }

 private:
  bool find_legacy(const nlohmann::json& what_if, const std::string& key, nlohmann::json& row) const {
    const auto file = dir_ / fmt::format("{:016x}.json", fnv1a(key));
    if (!std::filesystem::exists(file)) return false;
    try {
      std::ifstream f(file);
      row = nlohmann::json::parse(f);
      return row.value("what_if", nlohmann::json()) == what_if;
    } catch (const std::exception&) {
      return false;
    }
  }

  std::filesystem::path dir_;
  std::unordered_map<std::string, nlohmann::json> done_;  // what_if.dump() -> row
  bool legacy_ = false;
  std::mutex mu_;
  std::ofstream out_;
};

// The cartesian product of the [grid] axes (last axis fastest), each
// scenario starting from `base`.
void expand_grid(const json& grid, const config::Scenario& base, const std::string& where, Study& st) {
  // Axes in knob table order, so the expansion is stable.
  std::vector<std::pair<std::string, std::vector<json>>> axes;
  for (const auto& [key, v] : grid.items()) {
    std::vector<json> values = v.is_array() ? v.get<std::vector<json>>() : std::vector<json>{v};
    if (values.empty()) throw std::invalid_argument(fmt::format("{}: grid.{}: empty list", where, key));
    config::Scenario probe;
    for (const auto& x : values) config::set_knob(probe, key, x, where + ": grid");
    axes.emplace_back(key, std::move(values));
  }
  const auto& knobs = config::scenario_knobs();
  const auto rank = [&](const std::string& k) { return config::find_knob(k) - knobs.data(); };
  std::stable_sort(axes.begin(), axes.end(), [&](const auto& a, const auto& b) { return rank(a.first) < rank(b.first); });
  std::vector<std::size_t> idx(axes.size(), 0);
  while (true) {
    config::Scenario s = base;
    for (std::size_t a = 0; a < axes.size(); ++a)
      config::set_knob(s, axes[a].first, axes[a].second[idx[a]], where + ": grid");
    st.scenarios.push_back(s);
    std::size_t a = axes.size();
    while (a > 0 && ++idx[a - 1] == axes[a - 1].second.size()) idx[--a] = 0;  // odometer
    if (a == 0) break;
  }
}

}  // namespace

Study parse_study(const std::string& text, const std::string& where) {
  const json root = config::parse_toml(text, where);
  const std::vector<std::string> top = {"name", "description", "base", "grid", "scenarios"};
  for (const auto& [key, v] : root.items()) {
    if (std::find(top.begin(), top.end(), key) != top.end()) continue;
    std::string hint = common::did_you_mean(key, top);
    if (hint.empty()) hint = common::did_you_mean(key, config::knob_options(config::KnobScope::replay));
    throw std::invalid_argument(
        fmt::format("{}: unknown key '{}'{}; a study has name, description, [base], [grid] and "
                    "[[scenarios]]; scenario keys go inside them",
                    where, key, hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
  }
  const auto table = [&](const char* key) {
    if (!root.contains(key)) return json::object();
    if (!root[key].is_object()) throw std::invalid_argument(fmt::format("{}: {} must be a table", where, key));
    return root[key];
  };
  Study st;
  if (root.contains("name") && root["name"].is_string()) st.name = root["name"].get<std::string>();
  config::Scenario base;
  apply_table(base, table("base"), where, "base");
  note_old_spelling(table("base"), where, "base.", st.notes);
  note_old_spelling(table("grid"), where, "grid.", st.notes);
  if (!table("grid").empty()) expand_grid(table("grid"), base, where, st);
  const json list = root.value("scenarios", json::array());
  if (!list.is_array()) throw std::invalid_argument(fmt::format("{}: scenarios must be [[scenarios]] tables", where));
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (!list[i].is_object()) throw std::invalid_argument(fmt::format("{}: scenarios[{}] must be a table", where, i));
    config::Scenario s = base;
    apply_table(s, list[i], where, fmt::format("scenarios[{}]", i));
    note_old_spelling(list[i], where, fmt::format("scenarios[{}].", i), st.notes);
    st.scenarios.push_back(s);
  }
  if (st.scenarios.empty()) st.scenarios.push_back(base);
  return st;
}

Study load_study(const std::filesystem::path& path) {
  std::ifstream f(path);
  if (!f) throw std::invalid_argument(fmt::format("{}: cannot open study file", path.string()));
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_study(ss.str(), path.string());
}

namespace {

// decode.step_ms.mean of a row's flat metrics, NaN when absent.
double step_ms_of(const json& row) {
  for (const auto& kv : row["flat"])
    if (kv[0] == "decode.step_ms.mean" && kv[1].is_number()) return kv[1].get<double>();
  return std::nan("");
}

// Counts by status, the fastest and slowest ok rows, and whether every ok
// row has the same step time.
void summarize_rows(const std::vector<json>& rows, SweepSummary& sum) {
  for (const auto& row : rows) {
    const std::string status = row["status"].get<std::string>();
    if (status == "error") ++sum.failed;
    if (status == "out_of_memory") ++sum.out_of_memory;
    if (status != "ok") continue;
    ++sum.ok;
    const double ms = step_ms_of(row);
    if (std::isnan(ms)) continue;
    const SweepPoint p{row["label"].get<std::string>(), ms};
    if (sum.fastest.label.empty() || ms < sum.fastest.step_ms) sum.fastest = p;
    if (sum.slowest.label.empty() || ms > sum.slowest.step_ms) sum.slowest = p;
  }
  sum.same_step_time = sum.ok >= 2 && !sum.fastest.label.empty() &&
                       sum.slowest.step_ms - sum.fastest.step_ms <= 1e-9 * sum.slowest.step_ms;
}

// One scenario's row: label, what_if, status, metrics (nested) and flat
// [name, value] pairs (null for NaN), or the error; adds its engine events.
json replay_row(const Replayer& rp, const config::Scenario& s, const json& what_if, const std::string& label,
                std::atomic<std::uint64_t>& events) {
  json row = {{"label", label}, {"what_if", what_if}};
  try {
    const ReplayResult r = rp.run(s);
    row["status"] = r.status;
    row["metrics"] = metrics_to_json(r.metrics);
    json flat = json::array();
    for (const auto& [k, v] : r.metrics) flat.push_back({k, std::isnan(v) ? json() : json(v)});
    row["flat"] = flat;
    events += r.events;
  } catch (const std::exception& e) {
    row["status"] = "error";
    row["error"] = e.what();
    row["flat"] = json::array();
  }
  return row;
}

// Runs work() on `jobs` threads (0: one per core), at most one per scenario of `n`.
void run_on_threads(unsigned jobs, std::size_t n, const std::function<void()>& work) {
  if (jobs == 0) jobs = std::max(1u, std::thread::hardware_concurrency());
  jobs = static_cast<unsigned>(std::min<std::size_t>(jobs, std::max<std::size_t>(1, n)));
  std::vector<std::thread> pool;
  for (unsigned j = 1; j < jobs; ++j) pool.emplace_back(work);
  work();
  for (auto& th : pool) th.join();
}

// Metric names over all rows' flat metrics, in first-seen order.
std::vector<std::string> metric_columns(const std::vector<json>& rows) {
  std::vector<std::string> metric_cols;
  std::map<std::string, bool> seen;
  for (const auto& row : rows)
    for (const auto& kv : row["flat"])
      if (!seen[kv[0].get<std::string>()]) {
        seen[kv[0].get<std::string>()] = true;
        metric_cols.push_back(kv[0].get<std::string>());
      }
  return metric_cols;
}

// One results.csv line (with "\n"): index, label, scenario keys, status, metrics.
std::string csv_line(const json& row, const std::vector<std::string>& metric_cols) {
  std::string csv = fmt::format("{},{}", row["index"].get<std::size_t>(), csv_escape(row["label"].get<std::string>()));
  for (const auto& k : config::what_if_fields()) {
    csv += ",";
    if (row["what_if"].contains(k)) {
      const auto& v = row["what_if"][k];
      csv += csv_escape(v.is_string() ? v.get<std::string>() : v.dump());
    }
  }
  csv += ',';  // (not "," + string: g++ 12 -O3 reports a false -Wrestrict there)
  csv += row["status"].get<std::string>();
  std::map<std::string, json> vals;
  for (const auto& kv : row["flat"]) vals[kv[0].get<std::string>()] = kv[1];
  for (const auto& m : metric_cols) {
    csv += ",";
    auto it = vals.find(m);
    if (it != vals.end() && it->second.is_number()) csv += fmt::format("{}", it->second.get<double>());
  }
  csv += "\n";
  return csv;
}

// results.csv (columns: index, label, scenario keys, status, metrics in
// first-seen order) and results.json in `dir`.
void write_results(const std::filesystem::path& dir, const std::vector<json>& rows, const Replayer& rp,
                   const Study& st) {
  const std::vector<std::string> metric_cols = metric_columns(rows);
  std::string csv = "index,label";
  for (const auto& k : config::what_if_fields()) csv += "," + k;
  csv += ",status";
  for (const auto& m : metric_cols) csv += "," + m;
  csv += "\n";
  json all = json::array();
  for (const auto& row : rows) {
    csv += csv_line(row, metric_cols);
    json out = {{"index", row["index"]}, {"label", row["label"]}, {"what_if", row["what_if"]}, {"status", row["status"]}};
    if (row.contains("metrics")) out["metrics"] = row["metrics"];
    if (row.contains("error")) out["error"] = row["error"];
    all.push_back(out);
  }
  common::write_file_atomic(dir / "results.csv", csv);
  common::write_json_atomic(dir / "results.json", {{"study", st.name},
                                                   {"trace", rp.where()},
                                                   {"model", rp.trace().header.model.name},
                                                   {"scenarios", all}});
}

}  // namespace

// Run every scenario not already done (on o.jobs threads), then write the
// results and summarize them.
SweepSummary run_sweep(const Replayer& rp, const Study& st, const SweepOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  DoneLog done(o.out_dir / "scenarios");
  const std::size_t n = st.scenarios.size();
  std::vector<json> rows(n);
  std::atomic<std::size_t> next{0}, finished{0};
  std::atomic<std::uint64_t> events{0};
  std::atomic<std::size_t> ran{0}, skipped{0};
  auto work = [&] {
    for (std::size_t i = next++; i < n; i = next++) {
      const config::Scenario& s = st.scenarios[i];
      const json what_if = config::to_json(s);
      const std::string label = config::scenario_label(s);
      json row;
      if (done.find(what_if, row)) {
        ++skipped;
      } else {
        row = replay_row(rp, s, what_if, label, events);
        if (row["status"] != "error") {
          ++ran;
          done.append(row);
        }
      }
      row["index"] = i;
      rows[i] = std::move(row);
      const std::size_t f = ++finished;
      if (o.progress) o.progress(f, n, label);
    }
  };
  run_on_threads(o.jobs, n, work);
  write_results(o.out_dir, rows, rp, st);

  SweepSummary sum;
  summarize_rows(rows, sum);
  sum.ran = ran;
  sum.skipped = skipped;
  sum.events = events;
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return sum;
}

}  // namespace foresight::sim

// Study parsing and the parallel sweep runner (see sweep.hpp).
#include "foresight/sim/sweep.hpp"

#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include <fmt/core.h>

#define TOML_HEADER_ONLY 1
#define TOML_ENABLE_FORMATTERS 0
#include <toml++/toml.h>

#include "foresight/sim/output.hpp"

namespace foresight::sim {

namespace {

nlohmann::json to_json_value(const toml::node& n, const std::string& where,
                             const std::string& key) {
  if (auto v = n.as_integer()) return v->get();
  if (auto v = n.as_floating_point()) return v->get();
  if (auto v = n.as_string()) return v->get();
  throw std::invalid_argument(fmt::format("{}: {}: values must be numbers or strings", where, key));
}

// Sets every key of `t` on `s`; `ctx` names the table in messages.
void apply_table(Scenario& s, const toml::table& t, const std::string& where,
                 const std::string& ctx) {
  for (const auto& [k, v] : t) {
    const std::string key(k.str());
    set_scenario_key(s, key, to_json_value(v, where, ctx + key),
                     where + ": " + ctx.substr(0, ctx.size() - 1));
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

}  // namespace

Study parse_study(const std::string& text, const std::string& where) {
  toml::table root;
  try {
    root = toml::parse(text, where);
  } catch (const toml::parse_error& e) {
    throw std::invalid_argument(
        fmt::format("{}: line {}: {}", where, e.source().begin.line, e.description()));
  }
  Study st;
  Scenario base;
  const std::vector<std::string> top = {"name", "description", "base", "grid", "scenarios"};
  for (const auto& [k, v] : root) {
    const std::string key(k.str());
    if (std::find(top.begin(), top.end(), key) == top.end()) {
      std::string hint = did_you_mean(key, top);
      if (hint.empty()) hint = did_you_mean(key, scenario_keys());
      throw std::invalid_argument(
          fmt::format("{}: unknown key '{}'{}; a study has name, description, [base], [grid] and "
                      "[[scenarios]]; scenario keys go inside them",
                      where, key, hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
    }
  }
  if (auto n = root["name"].value<std::string>()) st.name = *n;
  if (auto* b = root["base"].as_table()) apply_table(base, *b, where, "base.");
  // Grid: values per key in scenario_keys() order, so the expansion is stable.
  std::vector<std::pair<std::string, std::vector<nlohmann::json>>> axes;
  if (auto* g = root["grid"].as_table()) {
    for (const auto& [k, v] : *g) {
      const std::string key(k.str());
      Scenario probe;
      std::vector<nlohmann::json> values;
      if (auto* arr = v.as_array()) {
        if (arr->empty())
          throw std::invalid_argument(fmt::format("{}: grid.{}: empty list", where, key));
        for (const auto& x : *arr) values.push_back(to_json_value(x, where, "grid." + key));
      } else {
        values.push_back(to_json_value(v, where, "grid." + key));
      }
      for (const auto& x : values) set_scenario_key(probe, key, x, where + ": grid");
      axes.emplace_back(key, std::move(values));
    }
    const auto& order = scenario_keys();
    std::stable_sort(axes.begin(), axes.end(), [&](const auto& a, const auto& b) {
      return std::find(order.begin(), order.end(), a.first) <
             std::find(order.begin(), order.end(), b.first);
    });
    std::vector<std::size_t> idx(axes.size(), 0);
    while (true) {
      Scenario s = base;
      for (std::size_t a = 0; a < axes.size(); ++a)
        set_scenario_key(s, axes[a].first, axes[a].second[idx[a]], where + ": grid");
      st.scenarios.push_back(s);
      std::size_t a = axes.size();
      while (a > 0) {  // odometer, last axis fastest
        --a;
        if (++idx[a] < axes[a].second.size()) break;
        idx[a] = 0;
        if (a == 0) {
          a = axes.size() + 1;
          break;
        }
      }
      if (axes.empty() || a == axes.size() + 1) break;
    }
  }
  if (auto* list = root["scenarios"].as_array()) {
    for (std::size_t i = 0; i < list->size(); ++i) {
      auto* t = (*list)[i].as_table();
      if (!t)
        throw std::invalid_argument(fmt::format("{}: scenarios[{}] must be a table", where, i));
      Scenario s = base;
      apply_table(s, *t, where, fmt::format("scenarios[{}].", i));
      st.scenarios.push_back(s);
    }
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

SweepSummary run_sweep(const Replayer& rp, const Study& st, const SweepOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  DoneLog done(o.out_dir / "scenarios");
  const std::size_t n = st.scenarios.size();
  std::vector<nlohmann::json> rows(n);
  SweepSummary sum;
  std::atomic<std::size_t> next{0}, finished{0};
  std::atomic<std::uint64_t> events{0};
  std::atomic<std::size_t> ran{0}, skipped{0}, failed{0};
  std::mutex print_mu;
  auto progress = [&] {
    if (!o.progress) return;
    std::lock_guard<std::mutex> lock(print_mu);
    const std::size_t f = finished.load();
    const int width = 40;
    const int fill = n ? static_cast<int>(width * f / n) : width;
    fmt::print(stderr, "\r[{}{}] {}/{} scenarios", std::string(static_cast<std::size_t>(fill), '#'),
               std::string(static_cast<std::size_t>(width - fill), ' '), f, n);
    if (f == n) fmt::print(stderr, "\n");
  };
  auto work = [&] {
    for (std::size_t i = next++; i < n; i = next++) {
      const Scenario& s = st.scenarios[i];
      const nlohmann::json what_if = to_json(s);
      const std::string label = scenario_label(s);
      nlohmann::json row;
      if (done.find(what_if, row)) {
        ++skipped;
      } else {
        row = {{"label", label}, {"what_if", what_if}};
        try {
          const ReplayResult r = rp.run(s);
          row["status"] = r.status;
          row["metrics"] = metrics_to_json(r.metrics);
          nlohmann::json flat = nlohmann::json::array();
          for (const auto& [k, v] : r.metrics)
            flat.push_back({k, std::isnan(v) ? nlohmann::json() : nlohmann::json(v)});
          row["flat"] = flat;
          events += r.events;
          ++ran;
        } catch (const std::exception& e) {
          row["status"] = "error";
          row["error"] = e.what();
          row["flat"] = nlohmann::json::array();
          ++failed;
        }
        if (row["status"] != "error") done.append(row);
      }
      row["index"] = i;
      rows[i] = std::move(row);
      ++finished;
      progress();
    }
  };
  unsigned jobs = o.jobs ? o.jobs : std::max(1u, std::thread::hardware_concurrency());
  jobs = static_cast<unsigned>(std::min<std::size_t>(jobs, std::max<std::size_t>(1, n)));
  std::vector<std::thread> pool;
  for (unsigned j = 1; j < jobs; ++j) pool.emplace_back(work);
  work();
  for (auto& th : pool) th.join();

  // Columns: index, label, scenario keys, status, metrics in first-seen order.
  std::vector<std::string> metric_cols;
  std::map<std::string, bool> seen;
  for (const auto& row : rows)
    for (const auto& kv : row["flat"])
      if (!seen[kv[0].get<std::string>()]) {
        seen[kv[0].get<std::string>()] = true;
        metric_cols.push_back(kv[0].get<std::string>());
      }
  std::string csv = "index,label";
  for (const auto& k : scenario_keys()) csv += "," + k;
  csv += ",status";
  for (const auto& m : metric_cols) csv += "," + m;
  csv += "\n";
  nlohmann::json all = nlohmann::json::array();
  for (const auto& row : rows) {
    csv += fmt::format("{},{}", row["index"].get<std::size_t>(),
                       csv_escape(row["label"].get<std::string>()));
    for (const auto& k : scenario_keys()) {
      csv += ",";
      if (row["what_if"].contains(k)) {
        const auto& v = row["what_if"][k];
        csv += csv_escape(v.is_string() ? v.get<std::string>() : v.dump());
      }
    }
    csv += ',';  // (not "," + string: g++ 12 -O3 reports a false -Wrestrict there)
    csv += row["status"].get<std::string>();
    std::map<std::string, nlohmann::json> vals;
    for (const auto& kv : row["flat"]) vals[kv[0].get<std::string>()] = kv[1];
    for (const auto& m : metric_cols) {
      csv += ",";
      auto it = vals.find(m);
      if (it != vals.end() && it->second.is_number())
        csv += fmt::format("{}", it->second.get<double>());
    }
    csv += "\n";
    nlohmann::json out = {{"index", row["index"]},
                          {"label", row["label"]},
                          {"what_if", row["what_if"]},
                          {"status", row["status"]}};
    if (row.contains("metrics")) out["metrics"] = row["metrics"];
    if (row.contains("error")) out["error"] = row["error"];
    all.push_back(out);
  }
  write_file_atomic(o.out_dir / "results.csv", csv);
  write_json_atomic(o.out_dir / "results.json", {{"study", st.name},
                                                 {"trace", rp.where()},
                                                 {"model", rp.trace().header.model.name},
                                                 {"scenarios", all}});
  sum.ran = ran;
  sum.skipped = skipped;
  sum.failed = failed;
  sum.events = events;
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return sum;
}

}  // namespace foresight::sim

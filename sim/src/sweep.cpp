// Study parsing and the parallel sweep runner (see sweep.hpp).
#include "foresight/sim/sweep.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <fmt/core.h>

#include "foresight/common/errors.hpp"
#include "foresight/common/files.hpp"
#include "foresight/common/text.hpp"
#include "foresight/config/calibration.hpp"
#include "foresight/config/load.hpp"
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

// A 64-bit content hash (FNV-1a over 8-byte words, then a final mix): a
// resume key, not a defence against crafted collisions.
class Hasher {
 public:
  void add(const void* data, std::size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (; n >= 8; p += 8, n -= 8) {
      std::uint64_t w;
      std::memcpy(&w, p, 8);
      h_ = (h_ ^ w) * 0x100000001b3ull;
    }
    for (; n > 0; ++p, --n) h_ = (h_ ^ *p) * 0x100000001b3ull;
    h_ = (h_ ^ 0xff) * 0x100000001b3ull;  // an end marker: "ab","c" != "a","bc"
  }
  void add(const std::string& s) { add(s.data(), s.size()); }
  std::string hex() const {
    std::uint64_t x = h_;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    return fmt::format("{:016x}", x);
  }

 private:
  std::uint64_t h_ = 0xcbf29ce484222325ull;
};

// Hash of a file's bytes; throws InputError naming it when it cannot be read.
std::string file_hash(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw common::InputError(fmt::format("{}: cannot open to hash it (sweep resume key)", path.string()));
  Hasher h;
  std::vector<char> buf(1 << 20);
  while (f) {
    f.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h.add(buf.data(), static_cast<std::size_t>(f.gcount()));
  }
  if (f.bad()) throw common::InputError(fmt::format("{}: read failed while hashing it", path.string()));
  return h.hex();
}

// Hash of a trace held in memory (no file): its header facts and every op.
std::string trace_hash_in_memory(const trace::Trace& t) {
  Hasher h;
  h.add(config::to_json(t.header.model).dump());
  h.add(config::to_json(t.header.hardware).dump());
  h.add(config::to_json(t.header.run).dump());
  h.add(t.header.created_utc);
  for (const auto& op : t.ops) {
    const std::int64_t v[] = {op.start_ns, op.end_ns, op.step, op.layer, static_cast<std::int64_t>(op.stage),
                              static_cast<std::int64_t>(op.phase)};
    h.add(v, sizeof v);
  }
  return h.hex();
}

// The part of a scenario's resume key besides its what-ifs: the tool
// version, the trace's hash, and the hardware config and calibration it
// replays under (the trace's own, or Scenario::hardware resolved).
std::string inputs_key(const Replayer& rp, const config::Scenario& s, const std::string& trace_hash) {
  Hasher h;
  h.add(std::string(FORESIGHT_VERSION));
  h.add(trace_hash);
  if (!s.hardware) {
    h.add(rp.calibration() ? config::to_json(*rp.calibration()).dump() : std::string("roofline"));
    return h.hex();
  }
  try {
    const config::HardwareConfig hw = rp.hardware(*s.hardware);
    h.add(config::to_json(hw).dump());
    if (hw.name == rp.trace().header.hardware.name)
      h.add(rp.calibration() ? config::to_json(*rp.calibration()).dump() : std::string("roofline"));
    else if (auto cal = config::default_calibration_path(hw.name))
      h.add(file_hash(*cal));
    else
      h.add(std::string("roofline"));
  } catch (const std::exception& e) {
    h.add(std::string("unresolved: ") + e.what());  // the scenario fails (and is not logged)
  }
  return h.hex();
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
// A row is reused only when both its what-ifs and its "inputs" key (trace
// hash, hardware, calibration, tool version) match; rows of earlier versions
// (no "inputs") are simulated again.
class DoneLog {
 public:
  explicit DoneLog(const std::filesystem::path& dir) : dir_(dir) {
    std::filesystem::create_directories(dir);
    const auto path = dir / "done.jsonl";
    bool torn = false;
    // Only a regular file is read (a device or a FIFO there would never end).
    std::error_code ec;
    if (std::filesystem::is_regular_file(path, ec)) {
      std::ifstream in{path};
      std::string line;
      while (std::getline(in, line)) {
        torn = in.eof();  // the last line had no newline
        try {
          nlohmann::json row = nlohmann::json::parse(line);
          std::string what_if = row.at("what_if").dump();
          const std::string inputs = row.value("inputs", std::string());
          seen_.insert(what_if);
          if (!inputs.empty()) done_[what_if + "\n" + inputs] = std::move(row);
        } catch (const std::exception&) {
        }
      }
    }
    out_.open(path, std::ios::binary | std::ios::app);
    if (!out_) throw common::WriteError(fmt::format("{}: cannot open for appending", path.string()));
    if (torn) out_ << '\n';
  }

  enum class Found { yes, stale, no };

  // The finished row of `what_if` made from `inputs`, if any; stale: done
  // before from other inputs (thread-safe: read-only after construction).
  Found find(const nlohmann::json& what_if, const std::string& inputs, nlohmann::json& row) const {
    const std::string key = what_if.dump();
    if (auto it = done_.find(key + "\n" + inputs); it != done_.end()) {
      row = it->second;
      return Found::yes;
    }
    return seen_.count(key) ? Found::stale : Found::no;
  }

  // Records a finished row (thread-safe); throws WriteError (a full disk).
  void append(const nlohmann::json& row) {
    const std::string line = row.dump() + "\n";
    std::lock_guard<std::mutex> lock(mu_);
    out_ << line;
    out_.flush();
    if (!out_) {
      // The first failure's errno: once the stream has failed, later appends
      // (other worker threads) write nothing and leave errno 0.
      if (write_errno_ == 0) write_errno_ = errno != 0 ? errno : EIO;
      throw common::WriteError(
          fmt::format("{}: write failed ({}); the scenarios finished so far are kept for a rerun",
                      (dir_ / "done.jsonl").string(), std::strerror(write_errno_)));
    }
  }

 private:
  std::filesystem::path dir_;
  std::unordered_map<std::string, nlohmann::json> done_;  // what_if.dump() "\n" inputs -> row
  std::unordered_set<std::string> seen_;                 // what_if.dump() of every logged row
  int write_errno_ = 0;                                   // errno of the first failed append (under mu_)
  std::mutex mu_;
  std::ofstream out_;
};

// An exclusive lock on DIR/sweep.lock for one sweep's lifetime (flock: the
// kernel drops it when the process ends, even when killed).
class FolderLock {
 public:
  explicit FolderLock(const std::filesystem::path& dir) {
    const auto path = dir / "sweep.lock";
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0)
      throw common::WriteError(fmt::format("{}: cannot create the lock file: {}", path.string(), std::strerror(errno)));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      ::close(fd_);
      if (err == EWOULDBLOCK) {
        throw common::InputError(fmt::format(
            "{}: another sweep is writing into this folder (it holds {}); wait for it to finish or give "
            "another --out", dir.string(), path.string()));
      }
      throw common::WriteError(fmt::format("{}: cannot lock: {}", path.string(), std::strerror(err)));
    }
  }
  ~FolderLock() { ::close(fd_); }
  FolderLock(const FolderLock&) = delete;
  FolderLock& operator=(const FolderLock&) = delete;

 private:
  int fd_ = -1;
};

// The cartesian product of the [grid] axes (last axis fastest), each
// scenario starting from `base`.
// `max_scenarios` bounds the product (plus `extra` explicit scenarios),
// checked before anything is expanded; a value given twice on an axis is
// refused (it would simulate the same scenario twice).
void expand_grid(const json& grid, const config::Scenario& base, const std::string& where, std::size_t extra,
                 std::uint64_t max_scenarios, Study& st) {
  // Axes in knob table order, so the expansion is stable.
  std::vector<std::pair<std::string, std::vector<json>>> axes;
  std::uint64_t count = 1;
  std::string product;
  for (const auto& [key, v] : grid.items()) {
    std::vector<json> values = v.is_array() ? v.get<std::vector<json>>() : std::vector<json>{v};
    if (values.empty()) throw std::invalid_argument(fmt::format("{}: grid.{}: empty list", where, key));
    std::unordered_map<std::string, std::size_t> first;  // the knob's value as read -> its position
    for (std::size_t i = 0; i < values.size(); ++i) {
      config::Scenario probe;
      config::set_knob(probe, key, values[i], where + ": grid");
      const std::string read = config::find_knob(key)->get(probe).dump();
      if (auto [it, fresh] = first.emplace(read, i); !fresh)
        throw std::invalid_argument(fmt::format(
            "{}: grid.{}: the value {} is given twice (positions {} and {}); each value of an axis must "
            "differ", where, key, values[i].dump(), it->second + 1, i + 1));
    }
    count = values.size() > 0 && count > UINT64_MAX / values.size() ? UINT64_MAX : count * values.size();
    product += fmt::format("{}{} {}", product.empty() ? "" : " x ", values.size(), key);
    axes.emplace_back(key, std::move(values));
  }
  const std::uint64_t total = count > UINT64_MAX - extra ? UINT64_MAX : count + extra;
  if (total > max_scenarios) {
    throw std::invalid_argument(fmt::format(
        "{}: the study has {} scenarios ({}{}), more than the limit of {}; shrink the grid or raise the "
        "limit (sweep --max-scenarios N)", where, total == UINT64_MAX ? std::string("over 1.8e19") : std::to_string(total),
        product, extra ? fmt::format(" + {} [[scenarios]]", extra) : "", max_scenarios));
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

Study parse_study(const std::string& text, const std::string& where, std::uint64_t max_scenarios) {
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
  const json list = root.value("scenarios", json::array());
  if (!list.is_array()) throw std::invalid_argument(fmt::format("{}: scenarios must be [[scenarios]] tables", where));
  if (!table("grid").empty()) expand_grid(table("grid"), base, where, list.size(), max_scenarios, st);
  if (list.size() > max_scenarios)
    throw std::invalid_argument(fmt::format("{}: the study has {} [[scenarios]], more than the limit of {}; raise "
                                            "it with sweep --max-scenarios N", where, list.size(), max_scenarios));
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

Study load_study(const std::filesystem::path& path, std::uint64_t max_scenarios) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw std::invalid_argument(fmt::format("{}: is a folder, not a study file", path.string()));
  std::ifstream f(path);
  if (!f) throw std::invalid_argument(fmt::format("{}: cannot open study file", path.string()));
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_study(ss.str(), path.string(), max_scenarios);
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

// Runs work() on `jobs` threads (0: one per core), at most one per scenario
// of `n`; fewer when the system refuses a thread. work() must not throw.
void run_on_threads(unsigned jobs, std::size_t n, const std::function<void()>& work) {
  if (jobs == 0) jobs = std::max(1u, std::thread::hardware_concurrency());
  jobs = static_cast<unsigned>(std::min<std::size_t>(jobs, std::max<std::size_t>(1, n)));
  std::vector<std::thread> pool;
  try {
    for (unsigned j = 1; j < jobs; ++j) pool.emplace_back(work);
  } catch (const std::system_error&) {
    // No more threads (a process limit): the ones started and this one do the work.
  }
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
                   const Study& st, const std::string& trace_hash) {
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
                                                   {"trace_hash", trace_hash},
                                                   {"tool_version", FORESIGHT_VERSION},
                                                   {"model", rp.trace().header.model.name},
                                                   {"scenarios", all}});
}

}  // namespace

// Run every scenario not already done (on o.jobs threads), then write the
// results and summarize them.
SweepSummary run_sweep(const Replayer& rp, const Study& st, const SweepOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  if (o.out_dir.empty()) throw std::invalid_argument("--out: an output folder is required (the path is empty)");
  std::filesystem::create_directories(o.out_dir);
  const FolderLock lock(o.out_dir);
  SweepSummary sum;
  sum.trace_hash = o.trace_file.empty() ? trace_hash_in_memory(rp.trace()) : file_hash(o.trace_file);
  const std::size_t n = st.scenarios.size();
  // Resume keys before any thread starts (hardware resolved once per spec).
  std::vector<std::string> inputs(n);
  std::map<std::optional<std::string>, std::string> by_hardware;
  for (std::size_t i = 0; i < n; ++i) {
    const auto& hw = st.scenarios[i].hardware;
    auto it = by_hardware.find(hw);
    if (it == by_hardware.end()) it = by_hardware.emplace(hw, inputs_key(rp, st.scenarios[i], sum.trace_hash)).first;
    inputs[i] = it->second;
  }
  DoneLog done(o.out_dir / "scenarios");
  std::vector<json> rows(n);
  std::atomic<std::size_t> next{0}, finished{0};
  std::atomic<std::uint64_t> events{0};
  std::atomic<std::size_t> ran{0}, skipped{0}, stale{0};
  std::mutex error_mu;
  std::exception_ptr error;  // the first worker's failure, rethrown below
  std::atomic<bool> stop{false};
  auto work = [&] {
    try {
      for (std::size_t i = next++; i < n && !stop; i = next++) {
        const config::Scenario& s = st.scenarios[i];
        const json what_if = config::to_json(s);
        const std::string label = config::scenario_label(s);
        json row;
        const DoneLog::Found found = done.find(what_if, inputs[i], row);
        if (found == DoneLog::Found::yes) {
          ++skipped;
        } else {
          if (found == DoneLog::Found::stale) ++stale;
          row = replay_row(rp, s, what_if, label, events);
          if (row["status"] != "error") {
            ++ran;
            row["inputs"] = inputs[i];
            done.append(row);
          }
        }
        row["index"] = i;
        rows[i] = std::move(row);
        const std::size_t f = ++finished;
        if (o.progress) o.progress(f, n, label);
      }
    } catch (...) {
      // Never let an exception leave a worker thread (std::terminate).
      stop = true;
      std::lock_guard<std::mutex> g(error_mu);
      if (!error) error = std::current_exception();
    }
  };
  run_on_threads(o.jobs, n, work);
  if (error) std::rethrow_exception(error);
  write_results(o.out_dir, rows, rp, st, sum.trace_hash);

  summarize_rows(rows, sum);
  sum.ran = ran;
  sum.skipped = skipped;
  sum.stale = stale;
  sum.events = events;
  sum.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return sum;
}

}  // namespace foresight::sim

// Derived summary of a trace for `foresight inspect` (export.hpp: summarize,
// print_summary).
#include <fmt/core.h>
#include <fmt/ostream.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>

#include "foresight/common/stats.hpp"
#include "foresight/config/run.hpp"
#include "foresight/trace/export.hpp"
#include "foresight/trace/steps.hpp"

namespace foresight::trace {
namespace {

using nlohmann::json;

// Nearest-rank percentile of sorted values (p in (0, 100]); 0 when empty.
std::int64_t percentile(const std::vector<std::int64_t>& sorted, double p) {
  return sorted.empty() ? 0 : sorted[common::nearest_rank(sorted.size(), p) - 1];
}

// Index of the main compute stream: the first stream of kind compute.
std::size_t main_stream(const Trace& t) {
  for (std::size_t i = 0; i < t.streams.size(); ++i)
    if (t.streams[i].kind == StreamKind::compute) return i;
  return 0;
}

// Sorted durations of the spans of group `g`.
std::vector<std::int64_t> sorted_ns(const Trace& t, StepGroup g) {
  std::vector<std::int64_t> ns;
  for (const auto& s : steps_in_group(t, g)) ns.push_back(s.end_ns - s.start_ns);
  std::sort(ns.begin(), ns.end());
  return ns;
}

// mean / p50 / p99 / max of sorted durations (0 when empty).
json step_stats(const std::vector<std::int64_t>& ns) {
  double mean = 0;
  for (auto d : ns) mean += static_cast<double>(d);
  if (!ns.empty()) mean /= static_cast<double>(ns.size());
  return {{"mean", mean}, {"p50", percentile(ns, 50)}, {"p99", percentile(ns, 99)},
          {"max", ns.empty() ? 0 : ns.back()}};
}

// Step counts; decode_step_ns covers steady decode steps only, warmup_step_ns
// the warm-up ones (steps.hpp).
json steps_json(const Trace& t) {
  const auto steady = sorted_ns(t, StepGroup::steady), warmup = sorted_ns(t, StepGroup::warmup);
  return {{"prefill", steps_in_group(t, StepGroup::prefill).size()},
          {"decode", steady.size() + warmup.size()},
          {"warmup_steps", t.header.run.warmup_steps},
          {"warmup", warmup.size()},
          {"steady", steady.size()},
          {"decode_step_ns", step_stats(steady)},
          {"warmup_step_ns", step_stats(warmup)}};
}

json stage_share_json(const Trace& t) {
  const std::size_t main = main_stream(t);
  bool any_steady = false;
  for (const auto& op : t.ops) any_steady |= op.stream == main && is_steady_step(t.header, op.phase, op.step);
  std::map<std::uint16_t, std::int64_t> ns_by_stage;
  std::int64_t total = 0;
  for (const auto& op : t.ops) {
    if (op.stream != main || (any_steady && !is_steady_step(t.header, op.phase, op.step))) continue;
    ns_by_stage[op.stage] += op.end_ns - op.start_ns;
    total += op.end_ns - op.start_ns;
  }
  std::vector<std::pair<std::uint16_t, std::int64_t>> rows(ns_by_stage.begin(), ns_by_stage.end());
  std::stable_sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.second > b.second; });
  json stages = json::array();
  for (const auto& [stage, ns] : rows)
    stages.push_back(
        {{"stage", stage < t.stages.size() ? t.stages[stage] : "?"},
         {"ns", ns},
         {"share", total ? static_cast<double>(ns) / static_cast<double>(total) : 0.0}});
  return {{"stream", t.streams.empty() ? "" : t.streams[main].name},
          {"phase", any_steady ? "steady decode" : "all"},
          {"total_ns", total},
          {"stages", std::move(stages)}};
}

// Ops, bytes, busy time and rate of one transfer kind, and its ops by engine
// (which path moved them: zero_copy_gather, bulk_copy_gather, memcpy_bulk, ...).
json transfers_json(const Trace& t, OpKind kind) {
  std::uint64_t bytes = 0, ops = 0;
  std::int64_t busy = 0;
  std::map<std::string, std::uint64_t> by_engine;
  for (const auto& op : t.ops) {
    if (op.kind != kind) continue;
    bytes += op.bytes;
    busy += op.end_ns - op.start_ns;
    ++ops;
    ++by_engine[to_string(op.engine)];
  }
  return {{"ops", ops},
          {"bytes", bytes},
          {"busy_ns", busy},
          {"gbps", busy ? static_cast<double>(bytes) / static_cast<double>(busy) : 0.0},
          {"engines", by_engine}};
}

json cache_json(const Trace& t) {
  std::uint64_t selected = 0, hits = 0, misses = 0, loaded = 0;
  for (const auto& c : t.cache) {
    selected += c.selected;
    hits += c.hits;
    misses += c.misses;
    loaded += c.loaded_bytes;
  }
  json j = {{"records", t.cache.size()}, {"selected", selected},   {"hits", hits},
            {"misses", misses},          {"loaded_bytes", loaded}, {"hit_rate", nullptr}};
  if (selected) j["hit_rate"] = static_cast<double>(hits) / static_cast<double>(selected);
  return j;
}

// Sparse prefill: heads per pattern kind, tiles against dense, recall.
json prefill_patterns_json(const Trace& t) {
  std::uint64_t tiles = 0, dense = 0, full = 0;
  std::uint64_t kinds[config::kPrefillPatternKinds] = {};
  double recall_sum = 0, recall_min = 1;
  for (const auto& p : t.prefill_patterns) {
    tiles += p.tiles;
    dense += p.dense_tiles;
    full += p.full;
    if (p.kind < config::kPrefillPatternKinds) ++kinds[p.kind];
    recall_sum += p.recall;
    recall_min = std::min(recall_min, p.recall);
  }
  json by_kind = json::object();
  for (std::uint8_t k = 0; k < config::kPrefillPatternKinds; ++k) by_kind[config::prefill_pattern_name(k)] = kinds[k];
  const auto n = t.prefill_patterns.size();
  return {{"attention", config::to_string(t.header.run.prefill_attention)},
          {"records", n},
          {"tiles", tiles},
          {"dense_tiles", dense},
          {"tile_share", dense ? json(static_cast<double>(tiles) / static_cast<double>(dense)) : json(nullptr)},
          {"full_coverage_heads", full},
          {"heads_by_kind", by_kind},
          {"recall_mean", n ? json(recall_sum / static_cast<double>(n)) : json(nullptr)},
          {"recall_min", n ? json(recall_min) : json(nullptr)}};
}

json memory_json(const Trace& t) {
  json entries = json::array();
  std::uint64_t gpu = 0, host = 0;
  for (const auto& m : t.memory) {
    entries.push_back(
        {{"location", to_string(m.location)}, {"category", m.category}, {"bytes", m.bytes}});
    (m.location == MemoryLocation::gpu ? gpu : host) += m.bytes;
  }
  return {{"entries", std::move(entries)}, {"gpu_bytes", gpu}, {"host_pinned_bytes", host}};
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  return fmt::format("{:.{}f} {}", b, u ? 2 : 0, units[u]);
}

std::string human_ns(double ns) {
  if (ns >= 1e9) return fmt::format("{:.3f} s", ns / 1e9);
  if (ns >= 1e6) return fmt::format("{:.3f} ms", ns / 1e6);
  if (ns >= 1e3) return fmt::format("{:.2f} us", ns / 1e3);
  return fmt::format("{:.0f} ns", ns);
}

// Step counts, then steady decode steps (the headline) and warm-up steps apart.
void print_steps(const json& st, std::ostream& os) {
  fmt::print(os, "steps      {} prefill, {} decode ({} warm-up, {} steady)\n", st["prefill"].get<std::int64_t>(),
             st["decode"].get<std::int64_t>(), st["warmup"].get<std::int64_t>(), st["steady"].get<std::int64_t>());
  const json& dn = st["decode_step_ns"];
  if (st["steady"].get<std::int64_t>() > 0)
    fmt::print(os, "decode     steady step mean {}, p50 {}, p99 {}\n", human_ns(dn["mean"].get<double>()),
               human_ns(dn["p50"].get<double>()), human_ns(dn["p99"].get<double>()));
  else
    fmt::print(os, "decode     no steady decode steps\n");
  const json& wn = st["warmup_step_ns"];
  if (st["warmup"].get<std::int64_t>() > 0)
    fmt::print(os, "warm-up    {} step(s) (run.warmup_steps {}): mean {}, max {}\n", st["warmup"].get<std::int64_t>(),
               st["warmup_steps"].get<std::int64_t>(), human_ns(wn["mean"].get<double>()),
               human_ns(wn["max"].get<double>()));
}

}  // namespace

json summarize(const Trace& t) {
  const auto& h = t.header;
  std::uint64_t entries = 0;
  for (const auto& k : t.selection_keys) entries += k.count;
  return {
      {"schema_version", h.schema_version},
      {"tool_version", h.tool_version},
      {"created_utc", h.created_utc},
      {"clock", h.clock},
      {"status", to_string(h.status)},
      {"status_reason", h.status_reason},
      {"config",
       {{"model", h.model.name},
        {"n_layers", h.model.n_layers},
        {"n_kv_heads", h.model.n_kv_heads},
        {"block_tokens", h.model.sparse.block_tokens},
        {"hardware", h.hardware.name},
        {"gpu", h.hardware.gpu_name},
        {"mode", config::to_string(h.run.mode)},
        {"backend", h.run.backend},
        {"batch", h.run.batch},
        {"context_tokens", h.run.context_tokens},
        {"topk_blocks", h.run.topk_blocks},
        {"topk_tokens", h.model.dsa.topk_tokens},
        {"cache_blocks", h.run.cache_blocks},
        {"eviction", config::to_string(h.run.eviction)},
        {"kernels", config::to_json(h.run.kernels)}}},
      {"counts",
       {{"ops", t.ops.size()},
        {"deps", t.deps.size()},
        {"streams", t.streams.size()},
        {"stages", t.stages.size()},
        {"selections", t.selection_keys.size()},
        {"selection_entries", entries},
        {"token_selections", t.token_keys.size()},
        {"token_selection_entries", t.token_ids.size()}}},
      {"steps", steps_json(t)},
      {"stage_share", stage_share_json(t)},
      {"h2d", transfers_json(t, OpKind::h2d)},
      {"d2h", transfers_json(t, OpKind::d2h)},
      {"cache", cache_json(t)},
      {"prefill_patterns", prefill_patterns_json(t)},
      {"memory", memory_json(t)},
  };
}

void print_summary(const Trace& t, std::ostream& os) {
  const json s = summarize(t);
  const json& c = s["config"];
  std::string ctx;
  for (const auto& x : c["context_tokens"]) ctx += (ctx.empty() ? "" : ",") + x.dump();
  fmt::print(os, "status     {}{}\n", s["status"].get<std::string>(),
             t.header.status_reason.empty() ? "" : " (" + t.header.status_reason + ")");
  fmt::print(os, "schema     v{}, written by foresight {} at {}, clock {}\n",
             t.header.schema_version, t.header.tool_version, t.header.created_utc, t.header.clock);
  fmt::print(os, "model      {} ({} layers, {} KV heads, block {} tokens)\n",
             c["model"].get<std::string>(), t.header.model.n_layers, t.header.model.n_kv_heads,
             t.header.model.sparse.block_tokens);
  fmt::print(os, "hardware   {} ({})\n", t.header.hardware.name, t.header.hardware.gpu_name);
  const bool tokens = config::mode_traits(t.header.run.mode).selects_tokens();
  fmt::print(os, "run        mode {}, backend {}, batch {}, contexts [{}], top-k {}\n",
             c["mode"].get<std::string>(), t.header.run.backend, t.header.run.batch, ctx,
             tokens ? fmt::format("{} tokens", t.header.model.dsa.topk_tokens)
                    : fmt::format("{} blocks", t.header.run.topk_blocks));
  if (t.header.run.backend == "cuda") {
    std::string changed;  // the kernel options that differ from the defaults
    const json defaults = config::to_json(config::KernelOptions{});
    for (const auto& [k, v] : c["kernels"].items())
      if (v != defaults[k]) changed += fmt::format("{}{}={}", changed.empty() ? "" : ", ", k, v.dump());
    fmt::print(os, "kernels    {}\n", changed.empty() ? "the defaults (run.kernels)" : changed);
  }
  std::string streams;
  for (const auto& st : t.streams) streams += fmt::format("{}{} ({})", streams.empty() ? "" : ", ", st.name, to_string(st.kind));
  fmt::print(os, "streams    {}: {}\n", t.streams.size(), streams.empty() ? "none" : streams);
  print_steps(s["steps"], os);
  fmt::print(os, "records    {} ops, {} deps, {} selections ({} ids), {} token selections ({} ids)\n",
             t.ops.size(), t.deps.size(), t.selection_keys.size(),
             s["counts"]["selection_entries"].get<std::uint64_t>(), t.token_keys.size(), t.token_ids.size());
  const json& sh = s["stage_share"];
  fmt::print(os, "stage time on stream '{}' ({} ops, total {}):\n", sh["stream"].get<std::string>(),
             sh["phase"].get<std::string>(), human_ns(sh["total_ns"].get<double>()));
  for (const auto& r : sh["stages"])
    fmt::print(os, "  {:<20} {:>6.1f}%  {}\n", r["stage"].get<std::string>(),
               100.0 * r["share"].get<double>(), human_ns(r["ns"].get<double>()));
  for (const char* k : {"h2d", "d2h"}) {
    const json& x = s[k];
    std::string engines;
    for (const auto& [name, n] : x["engines"].items())
      engines += fmt::format("{}{} {}", engines.empty() ? " (" : ", ", name, n.get<std::uint64_t>());
    fmt::print(os, "{}        {} in {} ops{}, busy {}, {:.2f} GB/s\n", k, human_bytes(x["bytes"].get<double>()),
               x["ops"].get<std::uint64_t>(), engines.empty() ? "" : engines + ")",
               human_ns(x["busy_ns"].get<double>()), x["gbps"].get<double>());
  }
  const json& ca = s["cache"];
  if (ca["hit_rate"].is_null())
    fmt::print(os, "cache      no cache records\n");
  else if (tokens)
    fmt::print(os, "gather     {} tokens packed (no GPU token cache), {}\n", ca["selected"].get<std::uint64_t>(),
               human_bytes(ca["loaded_bytes"].get<double>()));
  else
    fmt::print(os, "cache      hit rate {:.1f}% ({} hits / {} selected), loaded {}\n",
               100.0 * ca["hit_rate"].get<double>(), ca["hits"].get<std::uint64_t>(),
               ca["selected"].get<std::uint64_t>(), human_bytes(ca["loaded_bytes"].get<double>()));
  const json& pp = s["prefill_patterns"];
  if (pp["records"].get<std::size_t>() > 0) {
    const json& k = pp["heads_by_kind"];
    fmt::print(os, "prefill    {} attention: {:.1f}% of the dense tiles, recall mean {:.3f} min {:.3f}; heads "
                   "triangular {}, interval-slash {}, block-cluster {} ({} full coverage)\n",
               pp["attention"].get<std::string>(), 100.0 * pp["tile_share"].get<double>(),
               pp["recall_mean"].get<double>(), pp["recall_min"].get<double>(), k["triangular"].get<std::uint64_t>(),
               k["interval-slash"].get<std::uint64_t>(), k["block-cluster"].get<std::uint64_t>(),
               pp["full_coverage_heads"].get<std::uint64_t>());
  }
  const json& m = s["memory"];
  fmt::print(os, "memory     gpu {}, host pinned {}\n", human_bytes(m["gpu_bytes"].get<double>()),
             human_bytes(m["host_pinned_bytes"].get<double>()));
  for (const auto& e : m["entries"])
    fmt::print(os, "  {:<12} {:<20} {}\n", e["location"].get<std::string>(),
               e["category"].get<std::string>(), human_bytes(e["bytes"].get<double>()));
}

}  // namespace foresight::trace

// The what-if scenario's knob table, parsing and JSON (see config/scenario.hpp).
#include "foresight/config/scenario.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <stdexcept>

#include <fmt/core.h>

#include "foresight/common/text.hpp"
#include "foresight/config/load.hpp"
#include "config_internal.hpp"

namespace foresight::config {

namespace {
constexpr std::array<std::pair<L2Policy, const char*>, 4> kL2Policies{{
    {L2Policy::lru, "lru"},
    {L2Policy::token_lru, "token-lru"},
    {L2Policy::block_lru, "block-lru"},
    {L2Policy::opt, "opt"},
}};
}  // namespace

const char* to_string(L2Policy p) { return detail::name_of(kL2Policies, p); }
L2Policy parse_l2_policy(const std::string& s, const std::string& field) {
  return detail::parse_name(kL2Policies, s, field);
}

namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& at, const std::string& why) {
  throw std::invalid_argument(fmt::format("{}: {}", at, why));
}

// How one knob's value is read and written (the `set` and `get` of its row).
struct Access {
  std::function<void(Scenario&, const json&, const std::string&)> set;
  std::function<json(const Scenario&)> get;
};

template <class T>
std::function<json(const Scenario&)> getter(std::optional<T> Scenario::*member) {
  return [member](const Scenario& s) { return s.*member ? json(*(s.*member)) : json(); };
}

// A real number in (lo, hi] (`unit` after the range in messages).
Access real_above(std::optional<double> Scenario::*member, double lo, double hi, const char* unit) {
  return {[=](Scenario& s, const json& v, const std::string& at) {
            if (!v.is_number()) bad(at, "must be a number, got " + v.dump());
            const double x = v.get<double>();
            if (!(x > lo && x <= hi)) bad(at, fmt::format("must be in ({}, {}]{}, got {}", lo, hi, unit, x));
            s.*member = x;
          },
          getter(member)};
}

// A real number in [lo, hi].
Access real_within(std::optional<double> Scenario::*member, double lo, double hi) {
  return {[=](Scenario& s, const json& v, const std::string& at) {
            if (!v.is_number()) bad(at, "must be a number, got " + v.dump());
            const double x = v.get<double>();
            if (!(x >= lo && x <= hi)) bad(at, fmt::format("must be in [{}, {}], got {}", lo, hi, x));
            s.*member = x;
          },
          getter(member)};
}

// A whole number in [lo, hi].
template <class T>
Access integer(std::optional<T> Scenario::*member, std::int64_t lo, std::int64_t hi) {
  return {[=](Scenario& s, const json& v, const std::string& at) {
            if (!v.is_number_integer()) bad(at, "must be an integer, got " + v.dump());
            const auto x = v.get<std::int64_t>();
            if (x < lo || x > hi) bad(at, fmt::format("must be in [{}, {}], got {}", lo, hi, x));
            s.*member = static_cast<T>(x);
          },
          getter(member)};
}

Access text(std::optional<std::string> Scenario::*member) {
  return {[=](Scenario& s, const json& v, const std::string& at) {
            if (!v.is_string() || v.get<std::string>().empty())
              bad(at, "must be a non-empty string, got " + v.dump());
            s.*member = v.get<std::string>();
          },
          getter(member)};
}

// One of a list of names: `parse` throws ConfigError naming `at` for others.
template <class E>
Access named(std::optional<E> Scenario::*member, E (*parse)(const std::string&, const std::string&),
             const char* (*name)(E)) {
  return {[=](Scenario& s, const json& v, const std::string& at) {
            if (!v.is_string()) bad(at, "must be a string, got " + v.dump());
            try {
              s.*member = parse(v.get<std::string>(), at);
            } catch (const ConfigError& e) {
              throw std::invalid_argument(e.what());
            }
          },
          [=](const Scenario& s) { return s.*member ? json(name(*(s.*member))) : json(); }};
}

ScenarioKnob row(const char* field, KnobKind kind, const char* help, const char* replay, const char* unset,
                 Access a, bool replays = true) {
  std::string option = field;
  std::replace(option.begin(), option.end(), '_', '-');
  return {field, option, kind, help, replay, unset, replays, std::move(a.set), std::move(a.get)};
}

std::vector<ScenarioKnob> make_knobs() {
  using S = Scenario;
  using K = KnobKind;
  return {
      row("hardware", K::text, "Hardware config (a name in configs/hardware or a path)",
          "compute re-timed by the roofline ratio", "the trace's", text(&S::hardware)),
      row("pcie_gbps", K::number, "PCIe H2D ceiling in GB/s, (0, 10000]; every PCIe curve is scaled to it", "",
          "the hardware's h2d_gbps", real_above(&S::pcie_gbps, 0, 10000, " GB/s")),
      row("gather_ctas", K::integer, "CTAs of the zero-copy gather kernel, 1-1024", "", "the trace's",
          integer(&S::gather_ctas, 1, 1024)),
      row("compute_scale", K::number, "Compute ops run this many times faster, (0, 1000]", "", "1",
          real_above(&S::compute_scale, 0, 1000, "")),
      row("cache_blocks", K::integer, "GPU slots per (layer, KV head) incl. the tail slot, >= top-k + 1", "",
          "the trace's", integer(&S::cache_blocks, 1, std::int64_t{1} << 30)),
      row("policy", K::name, "Eviction: sparda, lru, lfu, fifo, arc or opt", "", "the trace's",
          named(&S::policy, &parse_eviction, &to_string)),
      row("prefetch", K::name,
          "Offload modes: none (fetch inline), lookahead (fetch one layer ahead on a side stream) or lookahead-2 (select and fetch two layers ahead: the bound of what the distance buys, docs/simulator.md)", "",
          "the trace's", named(&S::prefetch, &parse_prefetch, &to_string)),
      row("mode", K::name,
          "Decode mode: dense, sparse, sparse-offload, sparda-no-prefetch, sparda or sparda-no-offload",
          "a replay changes it only between modes that select blocks (the recorded selections stand in "
          "for the new mode's)",
          "the trace's", named(&S::mode, &parse_mode, &to_string)),
      row("batch", K::integer, "Sequences decoded together, 1-65536",
          "extra sequences resample recorded selection streams", "the trace's", integer(&S::batch, 1, 65536)),
      row("context", K::tokens, "Context tokens per sequence (K = 1024)", "", "the trace's",
          integer(&S::context, 1, std::int64_t{1} << 40)),
      row("seed", K::integer, "Seed for resampling the selection streams of extra sequences (batch)", "", "1",
          integer(&S::seed, 0, INT64_MAX)),
      row("l2_reserve", K::number,
          "MiB of L2 reserved for KV between decode steps (persisting L2), 0 = none, at most the hardware's "
          "persisting_l2_max_bytes",
          "block-sparse modes and dsa: the op reading the selected KV (attention; dsa: the token gather) reads "
          "hits at l2_gbps, other compute runs slower (docs/simulator.md)",
          "0, none", real_within(&S::l2_reserve, 0, 1 << 20)),
      row("l2_policy", K::name,
          "Eviction in the L2 reservation: lru (the trace's granularity: blocks, or DSA tokens), token-lru "
          "(DSA traces), block-lru, or opt (Belady at the trace's granularity, the bound)", "",
          "lru", named(&S::l2_policy, &parse_l2_policy, &to_string)),
      row("prefill_growth", K::name,
          "Sparse prefill traces at another --context: share (each head keeps its recorded share of the causal "
          "tiles: attention spread over the context, as synthetic weights give) or patterns (each head keeps its "
          "pattern's extents: tiles grow linearly, as fixed sink/band/column structure would)",
          "", "share", named(&S::prefill_growth, &parse_prefill_growth, &to_string)),
      row("reuse", K::number, "Workload locality: P(a block stays selected next step), [0, 1]", "",
          "the trace's recorded selections", real_within(&S::reuse, 0, 1), /*replays=*/false),
  };
}

// "--pcie-gbps", "pcie-gbps" or "pcie_gbps" -> "pcie_gbps".
std::string field_of(const std::string& name) {
  std::string field = name.substr(std::min(name.find_first_not_of('-'), name.size()));
  std::replace(field.begin(), field.end(), '-', '_');
  return field;
}

[[noreturn]] void unknown_knob(const std::string& name, const std::string& where, KnobScope scope) {
  const auto options = knob_options(scope);
  const std::string hint = common::did_you_mean(name, options);
  std::string known;
  for (const auto& o : options) known += (known.empty() ? "" : ", ") + o;
  bad(where + ": " + name,
      "unknown key" + (hint.empty() ? std::string() : " (did you mean '" + hint + "'?)") +
          "; known keys: " + known);
}

// Whole-word parse of command-line text, else invalid_argument naming `at`.
template <class T>
T whole(const std::string& text, const std::string& at, const char* what) {
  T x{};
  const char* end = text.data() + text.size();
  const auto r = std::from_chars(text.data(), end, x);
  if (text.empty() || r.ec != std::errc() || r.ptr != end)
    bad(at, fmt::format("must be {}, got '{}'", what, text));
  return x;
}

}  // namespace

const std::vector<ScenarioKnob>& scenario_knobs() {
  static const std::vector<ScenarioKnob> knobs = make_knobs();
  return knobs;
}

const ScenarioKnob* find_knob(const std::string& name) {
  const std::string field = field_of(name);
  for (const auto& k : scenario_knobs())
    if (k.field == field) return &k;
  return nullptr;
}

const ScenarioKnob& knob(const std::string& name) {
  const ScenarioKnob* k = find_knob(name);
  if (!k) throw std::logic_error("no scenario knob '" + name + "'");
  return *k;
}

std::vector<std::string> what_if_fields() {
  std::vector<std::string> out;
  for (const auto& k : scenario_knobs())
    if (k.replays) out.push_back(k.field);
  return out;
}

std::vector<std::string> knob_options(KnobScope scope) {
  std::vector<std::string> out;
  for (const auto& k : scenario_knobs())
    if (k.replays || scope == KnobScope::plan) out.push_back(k.option);
  return out;
}

void set_knob(Scenario& s, const std::string& name, const json& value, const std::string& where,
              KnobScope scope) {
  const ScenarioKnob* k = find_knob(name);
  if (!k) unknown_knob(name, where, scope);
  if (!k->replays && scope == KnobScope::replay)
    bad(where + ": " + name, fmt::format("a plan knob ({}); a replay keeps {}", k->help, k->unset));
  k->set(s, value, where + ": " + name);  // messages use the spelling given
}

void set_knob_text(Scenario& s, const std::string& name, const std::string& text, const std::string& where,
                   KnobScope scope) {
  const ScenarioKnob* k = find_knob(name);
  if (!k) unknown_knob(name, where, scope);
  const std::string at = where + ": " + name;
  switch (k->kind) {
    case KnobKind::integer:
    case KnobKind::tokens:
      return set_knob(s, name, whole<std::int64_t>(text, at, "an integer"), where, scope);
    case KnobKind::number:
      return set_knob(s, name, whole<double>(text, at, "a number"), where, scope);
    case KnobKind::text:
    case KnobKind::name:
      return set_knob(s, name, text, where, scope);
  }
}

json to_json(const Scenario& s) {
  json j = json::object();
  for (const auto& k : scenario_knobs())
    if (json v = k.get(s); !v.is_null()) j[k.field] = std::move(v);
  return j;
}

Scenario scenario_from_json(const json& j, const std::string& where, KnobScope scope) {
  if (!j.is_object()) bad(where, "a scenario must be an object, got " + j.dump());
  Scenario s;
  for (const auto& [key, v] : j.items()) set_knob(s, key, v, where, scope);
  return s;
}

std::string scenario_label(const Scenario& s) {
  std::string out;
  for (const auto& k : scenario_knobs()) {
    const json v = k.get(s);
    if (v.is_null()) continue;
    if (!out.empty()) out += ',';
    out += k.field + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
  }
  return out.empty() ? "baseline" : out;
}

std::string replay_help(const ScenarioKnob& k) {
  return k.help + (k.replay.empty() ? "" : "; " + k.replay) + " (default: " + k.unset + ")";
}

}  // namespace foresight::config

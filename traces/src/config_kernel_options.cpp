// The kernel options' table (see config/kernel_options.hpp): every option's
// key, environment variable, values, parser and printer in one row.
#include "foresight/config/kernel_options.hpp"

#include <cerrno>
#include <cstdlib>
#include <functional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "config_internal.hpp"
#include "foresight/config/load.hpp"

namespace foresight::config {

namespace {

struct Row {
  KernelOptionInfo info;
  std::function<void(KernelOptions&, const std::string&, const std::string&)> set;  // (k, value, where)
  std::function<nlohmann::json(const KernelOptions&)> get;
};

[[noreturn]] void bad_value(const std::string& where, const KernelOptionInfo& info, const std::string& v) {
  throw ConfigError(fmt::format("{}: kernel option '{}' (env {}) is '{}'; expected {}", where, info.key, info.env,
                                v, info.values));
}

// A row for a string option with a fixed set of values ("a|b|c").
Row choice(KernelOptionInfo info, std::string KernelOptions::*field) {
  return {info,
          [info, field](KernelOptions& k, const std::string& v, const std::string& where) {
            const std::string values = std::string("|") + info.values + "|";
            if (v.empty() || values.find("|" + v + "|") == std::string::npos) bad_value(where, info, v);
            k.*field = v;
          },
          [field](const KernelOptions& k) { return nlohmann::json(k.*field); }};
}

Row flag(KernelOptionInfo info, bool KernelOptions::*field) {
  return {info,
          [info, field](KernelOptions& k, const std::string& v, const std::string& where) {
            if (v != "0" && v != "1") bad_value(where, info, v);
            k.*field = v == "1";
          },
          [field](const KernelOptions& k) { return nlohmann::json(k.*field); }};
}

Row integer(KernelOptionInfo info, std::int64_t KernelOptions::*field, std::int64_t lo) {
  return {info,
          [info, field, lo](KernelOptions& k, const std::string& v, const std::string& where) {
            char* end = nullptr;
            errno = 0;
            const long long n = std::strtoll(v.c_str(), &end, 10);
            if (v.empty() || *end != '\0' || errno != 0 || n < lo || n > 1 << 20) bad_value(where, info, v);
            k.*field = n;
          },
          [field](const KernelOptions& k) { return nlohmann::json(k.*field); }};
}

const std::vector<Row>& rows() {
  using K = KernelOptions;
  static const std::vector<Row> r = {
      choice({"decode_attention", "FORESIGHT_DECODE_KERNEL", "warp|pipe2|pipe3|pipe6|flat3",
              "split-KV decode attention kernel (bench/RESULTS-kernels.md compares them; pipe3 measured fastest)"},
             &K::decode_attention),
      choice({"prefill_attention", "FORESIGHT_PREFILL_ATTENTION", "auto|mma|cudnn",
              "dense prefill attention: auto picks cuDNN where it is built in, mma forces our kernel"},
             &K::prefill_attention),
      flag({"gemm_tune", "FORESIGHT_GEMM_TUNE", "0|1",
            "1: time cuBLAS algorithms per GEMM shape on first use and keep the fastest"},
           &K::gemm_tune),
      flag({"linear_fused", "FORESIGHT_LINEAR_FUSED", "0|1",
            "1: decode linear layers use the fused skinny kernel where it is faster than cuBLAS"},
           &K::linear_fused),
      flag({"linear_pdl", "FORESIGHT_LINEAR_PDL", "0|1",
            "1: the fused linear kernel starts with programmatic dependent launch"},
           &K::linear_pdl),
      choice({"graph_marks", "FORESIGHT_GRAPH_MARKS", "branch|inline",
              "trace marks in a CUDA graph: branch hangs them off the kernels' path, inline puts them "
              "between kernels (~2.5 us each)"},
             &K::graph_marks),
      choice({"side_marks", "FORESIGHT_SIDE_MARKS", "branch|inline",
              "the prefetch stream's trace marks: branch or inline (as graph_marks)"},
             &K::side_marks),
      choice({"side_priority", "FORESIGHT_SIDE_PRIORITY", "high|normal",
              "priority of the prefetch (side) stream"},
             &K::side_priority),
      integer({"attn_sm_reserve", "FORESIGHT_ATTN_SM_RESERVE", "an integer >= -1",
               "SMs decode attention's split-KV grid leaves free; -1: the mode's gather CTAs (sparda), else 0"},
              &K::attn_sm_reserve, -1),
      integer({"attn_min_tiles", "FORESIGHT_ATTN_MIN_TILES", "an integer >= 1",
               "KV tiles each split of decode attention covers, at least (fewer, longer splits)"},
              &K::attn_min_tiles, 1),
      choice({"kv_gather", "FORESIGHT_KV_GATHER", "sm_loads|bulk",
              "the host KV gather kernel: sm_loads (16-32 CTAs of 16-byte loads) or bulk (a few one-warp CTAs "
              "driving Hopper's bulk-copy engine, sm_90; bench/RESULTS-runtime-h200.md compares them)"},
             &K::kv_gather),
      integer({"gather_stages", "FORESIGHT_GATHER_STAGES", "an integer >= 0",
               "bulk gather: pieces (<= 32 KiB) in flight per CTA; 0: as many as shared memory holds"},
              &K::gather_stages, 0),
  };
  return r;
}

const Row* find_row(const std::string& key) {
  for (const auto& r : rows())
    if (key == r.info.key) return &r;
  return nullptr;
}

}  // namespace

const std::vector<KernelOptionInfo>& kernel_option_infos() {
  static const std::vector<KernelOptionInfo> infos = [] {
    std::vector<KernelOptionInfo> v;
    for (const auto& r : rows()) v.push_back(r.info);
    return v;
  }();
  return infos;
}

void set_kernel_option(KernelOptions& k, const std::string& key, const std::string& value,
                       const std::string& where) {
  const Row* r = find_row(key);
  if (!r) {
    std::vector<std::string> keys;
    for (const auto& row : rows()) keys.emplace_back(row.info.key);
    const std::string hint = detail::did_you_mean(key, keys);
    throw ConfigError(fmt::format("{}: unknown kernel option '{}'{} (known: {})", where, key,
                                  hint.empty() ? "" : " (did you mean '" + hint + "'?)", fmt::join(keys, ", ")));
  }
  r->set(k, value, where);
}

void set_kernel_option(KernelOptions& k, const std::string& key_eq_value, const std::string& where) {
  const auto eq = key_eq_value.find('=');
  if (eq == std::string::npos)
    throw ConfigError(fmt::format("{}: '{}' is not KEY=VALUE (e.g. decode_attention=pipe2)", where, key_eq_value));
  set_kernel_option(k, key_eq_value.substr(0, eq), key_eq_value.substr(eq + 1), where);
}

KernelOptions kernel_options_from_env() {
  KernelOptions k;
  for (const auto& r : rows())
    if (const char* v = std::getenv(r.info.env)) r.set(k, v, fmt::format("environment variable {}", r.info.env));
  return k;
}

std::map<std::string, std::string> kernel_option_env(const KernelOptions& k) {
  std::map<std::string, std::string> env;
  for (const auto& r : rows()) {
    const nlohmann::json v = r.get(k);
    env[r.info.env] = v.is_string() ? v.get<std::string>() : v.is_boolean() ? (v.get<bool>() ? "1" : "0") : v.dump();
  }
  return env;
}

nlohmann::json to_json(const KernelOptions& k) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& r : rows()) j[r.info.key] = r.get(k);
  return j;
}

KernelOptions kernel_options_from_json(const nlohmann::json& j, const std::string& where) {
  if (!j.is_object()) throw ConfigError(fmt::format("{}: 'kernels' must be a table of kernel options", where));
  KernelOptions k;
  for (const auto& [key, v] : j.items()) {
    const std::string text = v.is_string()            ? v.get<std::string>()
                             : v.is_boolean()         ? std::string(v.get<bool>() ? "1" : "0")
                             : v.is_number_integer()  ? std::to_string(v.get<std::int64_t>())
                                                      : v.dump();
    set_kernel_option(k, key, text, where + ": 'kernels'");
  }
  // A record from before kv_gather existed ran the SM-load gather, whatever
  // today's default is.
  if (!j.contains("kv_gather")) k.kv_gather = "sm_loads";
  return k;
}

}  // namespace foresight::config

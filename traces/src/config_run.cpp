// RunConfig: enum names, canonical JSON and the checks against a model.
#include <algorithm>
#include <array>
#include <utility>

#include <fmt/format.h>

#include "config_internal.hpp"

namespace foresight::config {

using nlohmann::json;

namespace {
constexpr std::array<std::pair<Eviction, const char*>, 6> kEvictions{{
    {Eviction::sparda, "sparda"},
    {Eviction::lru, "lru"},
    {Eviction::lfu, "lfu"},
    {Eviction::fifo, "fifo"},
    {Eviction::arc, "arc"},
    {Eviction::opt, "opt"},
}};

const std::vector<std::string> kBackends = {"cuda", "cpu", "synth"};
const std::vector<std::string> kPrefills = {"real", "synthetic", "none"};
const std::vector<std::string> kSelectionSources = {"model", "file", "workload"};

void check_one_of(const std::string& v, const std::vector<std::string>& allowed,
                  const std::string& where, const std::string& key) {
  for (const auto& a : allowed)
    if (v == a) return;
  std::string hint = detail::did_you_mean(v, allowed);
  detail::fail(where, key,
               fmt::format("has unknown value '{}'{} (one of: {})", v,
                           hint.empty() ? "" : fmt::format(", did you mean '{}'?", hint),
                           fmt::join(allowed, ", ")));
}
}  // namespace

bool lru_working_set(const RunConfig& r) {
  return mode_traits(r.mode).selects_blocks() && r.cache_blocks > r.topk_blocks + 1;
}

bool decode_uses_graph(const RunConfig& r) {
  return r.cuda_graph && r.backend == "cuda" && !lru_working_set(r);
}
const char* to_string(Eviction e) { return detail::name_of(kEvictions, e); }
Eviction parse_eviction(const std::string& s, const std::string& field) {
  return detail::parse_name(kEvictions, s, field);
}

json to_json(const RunConfig& r) {
  return json{
      {"mode", to_string(r.mode)},
      {"backend", r.backend},
      {"batch", r.batch},
      {"context_tokens", r.context_tokens},
      {"decode_steps", r.decode_steps},
      {"warmup_steps", r.warmup_steps},
      {"cuda_graph", r.cuda_graph},
      {"l2_reserve_bytes", r.l2_reserve_bytes},
      {"prefill", r.prefill},
      {"prefill_chunk_tokens", r.prefill_chunk_tokens},
      {"prefill_attention", to_string(r.prefill_attention)},
      {"prefill_recall", r.prefill_recall},
      {"topk_blocks", r.topk_blocks},
      {"cache_blocks", r.cache_blocks},
      {"eviction", to_string(r.eviction)},
      {"prefetch", to_string(r.prefetch)},
      {"gather_ctas", r.gather_ctas},
      {"selection_source", r.selection_source},
      {"workload",
       {{"reuse", r.workload.reuse},
        {"cross_layer", r.workload.cross_layer},
        {"zipf_s", r.workload.zipf_s}}},
      {"seed", r.seed},
      {"kernels", to_json(r.kernels)},
  };
}

RunConfig run_from_json(const json& j, const std::string& where) {
  detail::Fields f(j, where, "");
  RunConfig r;
  r.mode = parse_mode(f.string("mode"), where + ": 'mode'");
  r.backend = f.string("backend");
  r.batch = f.integer("batch");
  r.context_tokens = f.integers("context_tokens");
  r.decode_steps = f.integer("decode_steps");
  r.warmup_steps = f.integer("warmup_steps");
  r.cuda_graph = f.boolean("cuda_graph", true);  // absent in traces before 2026-12
  r.l2_reserve_bytes = f.integer("l2_reserve_bytes", 0);  // absent before the L2 reservation
  r.prefill = f.string("prefill");
  r.prefill_chunk_tokens = f.integer("prefill_chunk_tokens", r.prefill_chunk_tokens);  // absent before 2026-12
  if (f.has("prefill_attention"))  // absent before dynamic sparse prefill: dense
    r.prefill_attention = parse_prefill_attention(f.string("prefill_attention"), where + ": 'prefill_attention'");
  r.prefill_recall = f.number("prefill_recall", r.prefill_recall);
  r.topk_blocks = f.integer("topk_blocks");
  r.cache_blocks = f.integer("cache_blocks");
  r.eviction = parse_eviction(f.string("eviction"), where + ": 'eviction'");
  r.prefetch = parse_prefetch(f.string("prefetch"), where + ": 'prefetch'");
  r.gather_ctas = f.integer("gather_ctas");
  r.selection_source = f.string("selection_source");
  detail::Fields w = f.table("workload", true);
  r.workload.reuse = w.number("reuse");
  r.workload.cross_layer = w.number("cross_layer");
  r.workload.zipf_s = w.number("zipf_s");
  w.finish();
  f.adopt(w);
  r.seed = f.unsigned_integer("seed");
  // Absent before 2026-12-04: those runs used the defaults unless a
  // FORESIGHT_* variable was set, which they did not record.
  r.kernels = kernel_options_from_json(f.has("kernels") ? f.raw("kernels") : nlohmann::json::object(), where);
  f.finish();
  detail::validate_run_alone(r, where);
  return r;
}

namespace detail {

namespace {
// Sparse prefill runs real prefill with the whole prompt as one chunk.
void validate_sparse_prefill(const RunConfig& r, const std::string& where) {
  if (!(r.prefill_recall > 0.0 && r.prefill_recall <= 1.0))
    fail(where, "prefill_recall", fmt::format("must be in (0, 1], got {}", r.prefill_recall));
  if (!prefill_is_sparse(r.prefill_attention)) return;
  if (r.prefill != "real")
    fail(where, "prefill_attention",
         fmt::format("is {}, which needs prefill = \"real\" (got \"{}\")", to_string(r.prefill_attention),
                     r.prefill));
  std::int64_t longest = 0;
  for (auto c : r.context_tokens) longest = std::max(longest, c - 1);
  if (r.prefill_chunk_tokens < longest)
    fail(where, "prefill_chunk_tokens",
         fmt::format("is {}, but {} prefill runs the whole prompt as one chunk: must be >= {} (the longest "
                     "prompt)", r.prefill_chunk_tokens, to_string(r.prefill_attention), longest));
}
}  // namespace

void validate_run_alone(const RunConfig& r, const std::string& where) {
  check_one_of(r.backend, kBackends, where, "backend");
  check_one_of(r.prefill, kPrefills, where, "prefill");
  check_one_of(r.selection_source, kSelectionSources, where, "selection_source");
  if (r.batch < 1) fail(where, "batch", fmt::format("must be >= 1, got {}", r.batch));
  if (static_cast<std::int64_t>(r.context_tokens.size()) != r.batch)
    fail(where, "context_tokens",
         fmt::format("must have one entry per sequence (batch = {}), got {}", r.batch,
                     r.context_tokens.size()));
  for (std::size_t i = 0; i < r.context_tokens.size(); ++i)
    if (r.context_tokens[i] < 1)
      fail(where, fmt::format("context_tokens[{}]", i),
           fmt::format("must be positive, got {}", r.context_tokens[i]));
  if (r.decode_steps < 1)
    fail(where, "decode_steps", fmt::format("must be >= 1, got {}", r.decode_steps));
  if (r.warmup_steps < 0)
    fail(where, "warmup_steps", fmt::format("must be >= 0, got {}", r.warmup_steps));
  if (r.topk_blocks < 1)
    fail(where, "topk_blocks", fmt::format("must be >= 1, got {}", r.topk_blocks));
  if (r.prefill_chunk_tokens < 1)
    fail(where, "prefill_chunk_tokens", fmt::format("must be >= 1, got {}", r.prefill_chunk_tokens));
  validate_sparse_prefill(r, where);
  if (r.cache_blocks != 0 && r.cache_blocks < r.topk_blocks + 1)
    fail(where, "cache_blocks",
         fmt::format("must be 0 (= topk_blocks + 1) or >= topk_blocks + 1 = {}, got {}",
                     r.topk_blocks + 1, r.cache_blocks));
  if (r.l2_reserve_bytes < 0)
    fail(where, "l2_reserve_bytes", fmt::format("must be >= 0, got {}", r.l2_reserve_bytes));
  if (r.gather_ctas < 1 || r.gather_ctas > 1024)
    fail(where, "gather_ctas", fmt::format("must be in [1, 1024], got {}", r.gather_ctas));
  const std::pair<const char*, double> probs[] = {{"workload.reuse", r.workload.reuse},
                                                  {"workload.cross_layer", r.workload.cross_layer}};
  for (const auto& [key, p] : probs)
    if (!(p >= 0.0 && p <= 1.0)) fail(where, key, fmt::format("must be in [0, 1], got {}", p));
  if (!(r.workload.zipf_s >= 0.0))
    fail(where, "workload.zipf_s", fmt::format("must be >= 0, got {}", r.workload.zipf_s));
}

}  // namespace detail

void validate_run(const RunConfig& r, const ModelConfig& m, const std::string& where) {
  detail::validate_run_alone(r, where);
  for (std::size_t i = 0; i < r.context_tokens.size(); ++i)
    if (r.context_tokens[i] > m.max_context)
      detail::fail(where, fmt::format("context_tokens[{}]", i),
                   fmt::format("is {}, beyond the model's max_context {}", r.context_tokens[i],
                               m.max_context));
  const auto& s = m.sparse;
  const std::int64_t forced = s.sink_blocks + s.window_blocks;
  if (r.topk_blocks <= forced)
    detail::fail(where, "topk_blocks",
                 fmt::format("must exceed the forced blocks (sink {} + window {} = {}), got {}",
                             s.sink_blocks, s.window_blocks, forced, r.topk_blocks));
  const std::int64_t max_blocks = (m.max_context + s.block_tokens - 1) / s.block_tokens;
  if (r.topk_blocks > max_blocks)
    detail::fail(where, "topk_blocks",
                 fmt::format("must be at most max_context / block_tokens = {}, got {}", max_blocks,
                             r.topk_blocks));
}

namespace {
struct WorkloadPreset {
  const char* name;
  WorkloadConfig workload;
};
const WorkloadPreset kWorkloadPresets[] = {
    {"smollm2-8k", WorkloadConfig{}},
    {"assumed", WorkloadConfig{0.85, 0.7, 1.0}},
    {"dsa-public", WorkloadConfig{0.89, 0.85, 1.0}},
};
}  // namespace

WorkloadConfig workload_preset(const std::string& name, const std::string& option) {
  for (const auto& p : kWorkloadPresets)
    if (name == p.name) return p.workload;
  std::string names;
  for (const auto& n : workload_preset_names()) names += (names.empty() ? "" : ", ") + n;
  throw ConfigError(option + ": unknown workload preset '" + name + "' (known: " + names + ")");
}

const char* default_workload_preset(Mode mode) {
  return mode_traits(mode).selects_tokens() ? "dsa-public" : "smollm2-8k";
}

std::vector<std::string> workload_preset_names() {
  std::vector<std::string> out;
  for (const auto& p : kWorkloadPresets) out.emplace_back(p.name);
  return out;
}

}  // namespace foresight::config

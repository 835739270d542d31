// Replay of a trace under a what-if scenario (see replay.hpp, docs/simulator.md).
#include "foresight/sim/replay.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <stdexcept>

#include <fmt/core.h>

#include "foresight/config/load.hpp"
#include "foresight/sim/calibrated_costs.hpp"
#include "foresight/sim/engine.hpp"
#include "foresight/sim/memory_model.hpp"
#include "foresight/sim/schedule.hpp"
#include "foresight/sim/timeline.hpp"
#include "foresight/trace/stages.hpp"
#include "foresight/workload/splitmix64.hpp"
#include "replay_l2.hpp"

namespace foresight::sim {

namespace st = trace::stage;

struct Replayer::MemoEntry {
  std::once_flag once;
  std::shared_ptr<const StreamOutcomes> value;
};

struct Replayer::Skeleton {
  std::uint64_t id = 0;             // unique per process (RunScratch::graph_of)
  ScheduleSkeleton sk;
  SimGraph graph;                   // sk's ops for the engine, durations 0
  std::vector<std::uint64_t> bytes;  // per op (gathers 0)
  LayoutPlan plan;                   // what the metrics read of sk's layout
};

struct Replayer::SkeletonEntry {
  std::once_flag once;
  std::shared_ptr<const Skeleton> value;
};

std::uint16_t canonical_stage_id(std::string_view name) {
  static const std::string_view names[] = {
      st::embed,  st::rmsnorm,   st::qkvf_gemm,  st::rope,      st::compress,
      st::score,  st::pool_topk, st::ws_update,  st::h2d_gather, st::d2d_gather,
      st::wait_kv, st::kv_write, st::attention,  st::o_proj,    st::mlp,
      st::lm_head, st::argmax,   st::kv_writeback, st::prefill_attention,
      st::prefill_kv_offload, st::host, st::index_score, st::token_topk, st::prefill_estimate,
      st::prefill_choose, st::prefill_sparse_attention};
  for (std::size_t i = 0; i < std::size(names); ++i)
    if (names[i] == name) return static_cast<std::uint16_t>(i);
  return 4095;
}

std::uint64_t pack_op_key(trace::Phase phase, std::int32_t step, std::int16_t layer,
                          std::uint16_t stage_id, std::uint8_t occurrence) {
  return (static_cast<std::uint64_t>(phase) << 63) |
         (static_cast<std::uint64_t>(static_cast<std::uint32_t>(step) & 0x7FFFFFFFu) << 32) |
         (static_cast<std::uint64_t>(static_cast<std::uint16_t>(layer + 1) & 0xFFFu) << 20) |
         (static_cast<std::uint64_t>(stage_id & 0xFFFu) << 8) | occurrence;
}

namespace {
std::uint64_t mix(std::uint64_t x) {  // stateless splitmix64
  return workload::splitmix64_mix(x + workload::kSplitMix64Golden);
}
void scale_pcie(config::HardwareConfig& hw, double f) {
  for (auto& g : hw.h2d_memcpy_by_size.gbps) g *= f;
  for (auto& g : hw.gather_by_ctas_16k.gbps) g *= f;
  for (auto& g : hw.bulk_gather_by_ctas_16k.gbps) g *= f;
  hw.h2d_gbps *= f;
  hw.d2h_gbps *= f;
}
}  // namespace

namespace {
constexpr std::size_t kStageSlots = 26, kOccSlots = 4;  // canonical stages, occurrences
}  // namespace

std::size_t Replayer::slot(trace::Phase phase, std::int32_t step, std::int16_t layer,
                           std::uint16_t sid, std::uint8_t occ) const {
  return (((static_cast<std::size_t>(phase) * static_cast<std::size_t>(rec_steps_) +
            static_cast<std::size_t>(step)) * static_cast<std::size_t>(rec_layers_) +
           static_cast<std::size_t>(layer + 1)) * kStageSlots + sid) * kOccSlots + occ;
}

std::int64_t Replayer::recorded_ns(const OpKey& k) const {
  if (k.step < 0 || k.step >= rec_steps_ || k.layer + 1 < 0 || k.layer + 1 >= rec_layers_ ||
      k.canonical_stage >= kStageSlots || k.occurrence >= kOccSlots)
    return -1;
  return recorded_[slot(k.phase, k.step, k.layer, k.canonical_stage, k.occurrence)];
}

Replayer::Replayer(trace::Trace t, std::string where, HardwareLoader load_hw, bool default_calibration)
    : t_(std::move(t)), where_(std::move(where)), load_hw_(std::move(load_hw)) {
  if (t_.ops.empty()) throw std::invalid_argument(where_ + ": /ops is empty: nothing to replay");
  sel_ = SelectionIndex::build(t_);
  try {
    tok_ = TokenIndex::build(t_);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(where_ + ": " + e.what());
  }
  // Remove the recorded gather interference from compute durations.
  clean_ns_.resize(t_.ops.size());
  const auto& hw = t_.header.hardware;
  const double per_cta = hw.sm_count > 0 ? hw.gather_compute_slowdown / static_cast<double>(hw.sm_count) : 0;
  std::size_t i = 0;
  std::unordered_map<std::uint64_t, std::uint8_t> occ;
  std::int32_t max_step = 0;
  for (const auto& op : t_.ops) max_step = std::max(max_step, op.step);
  rec_steps_ = max_step + 1;
  rec_layers_ = static_cast<std::int32_t>(t_.header.model.n_layers) + 1;
  recorded_.assign(static_cast<std::size_t>(2) * rec_steps_ * rec_layers_ * kStageSlots * kOccSlots, -1);
  std::vector<std::int64_t> host_ns;
  while (i < t_.ops.size()) {
    std::size_t j = i;
    while (j < t_.ops.size() && t_.ops[j].phase == t_.ops[i].phase && t_.ops[j].step == t_.ops[i].step) ++j;
    for (std::size_t k = i; k < j; ++k) {
      const trace::Op& op = t_.ops[k];
      double d = static_cast<double>(op.end_ns - op.start_ns);
      if (op.kind == trace::OpKind::compute && per_cta > 0) {
        std::int64_t ctas = 0;
        for (std::size_t g = i; g < j; ++g) {
          const trace::Op& x = t_.ops[g];
          if (trace::holds_ctas(x.engine) && x.start_ns <= op.start_ns &&
              op.start_ns < x.end_ns && g != k)
            ctas += x.ctas;
        }
        d /= 1.0 + per_cta * static_cast<double>(ctas);
      }
      clean_ns_[k] = std::llround(d);
      if (op.phase == trace::Phase::decode) decode_steps_ = std::max(decode_steps_, op.step + 1);
      if (op.phase == trace::Phase::prefill) has_prefill_ = true;
      const std::string& stage = t_.stages.at(op.stage);
      if (op.kind == trace::OpKind::host && stage == st::host) host_ns.push_back(clean_ns_[k]);
      if (!op_timed_by_cost(op.kind, stage)) continue;
      const std::uint16_t sid = canonical_stage_id(stage);
      if (op.phase == trace::Phase::decode) {
        has_layer_norm_ |= t_.stages.at(op.stage) == st::rmsnorm && op.layer >= 0;
        has_kv_write_ |= t_.stages.at(op.stage) == st::kv_write;
      }
      const std::uint64_t base = pack_op_key(op.phase, op.step, op.layer, sid, 0);
      const std::uint8_t n = occ[base]++;
      if (sid < kStageSlots && n < kOccSlots && op.step >= 0 && op.layer + 1 >= 0 &&
          op.layer + 1 < rec_layers_)
        recorded_[slot(op.phase, op.step, op.layer, sid, n)] = clean_ns_[k];
    }
    i = j;
  }
  if (!host_ns.empty()) {
    std::sort(host_ns.begin(), host_ns.end());
    host_step_ns_ = host_ns[host_ns.size() / 2];
  }
  fit_ = std::make_unique<CostFit>(t_, clean_ns_);
  if (!default_calibration) return;
  if (auto p = config::default_calibration_path(t_.header.hardware.name)) cal_ = config::load_calibration(*p);
}

void Replayer::set_calibration(std::optional<config::Calibration> c) { cal_ = std::move(c); }

const config::Calibration* Replayer::calibration_for(const std::string& hardware) const {
  if (hardware == t_.header.hardware.name) return cal_ ? &*cal_ : nullptr;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = cal_cache_.find(hardware);
  if (it == cal_cache_.end()) {
    std::optional<config::Calibration> c;
    if (auto p = config::default_calibration_path(hardware)) c = config::load_calibration(*p);
    it = cal_cache_.emplace(hardware, std::move(c)).first;
  }
  return it->second ? &*it->second : nullptr;
}

const config::ModelConfig& Replayer::calibration_model(const config::Calibration& c) const {
  if (c.model == t_.header.model.name) return t_.header.model;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = cal_models_.find(c.model);
  if (it == cal_models_.end()) it = cal_models_.emplace(c.model, config::load_model(c.model)).first;
  return it->second;
}

config::HardwareConfig Replayer::hardware(const std::string& spec) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = hw_cache_.find(spec);
  if (it != hw_cache_.end()) return it->second;
  config::HardwareConfig hw = load_hw_ ? load_hw_(spec) : config::load_hardware(spec);
  hw_cache_.emplace(spec, hw);
  return hw;
}

std::shared_ptr<const StreamOutcomes> Replayer::outcomes(config::Eviction asked,
                                                         std::int64_t capacity) const {
  const config::Eviction policy = replay_equivalent(asked, capacity, t_.header.run.topk_blocks);
  std::shared_ptr<MemoEntry> e;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& slot = memo_[{static_cast<int>(policy), capacity}];
    if (!slot) slot = std::make_shared<MemoEntry>();
    e = slot;
  }
  std::call_once(streams_once_, [&] {
    streams_ = std::make_unique<const SelectionStreams>(SelectionStreams::build(t_, sel_));
  });
  std::call_once(e->once, [&] {
    const std::vector<bool> layers = cache_layers(t_.header.run.mode, t_.header.model.n_layers);
    e->value = std::make_shared<StreamOutcomes>(
        replay_selections(sel_, *streams_, t_, policy, capacity, layers));
  });
  return e->value;
}

std::shared_ptr<const Replayer::Skeleton> Replayer::skeleton(const ScheduleConfig& sc) const {
  auto build = [&] {
    static std::atomic<std::uint64_t> next_id{1};
    auto k = std::make_shared<Skeleton>();
    k->id = next_id++;
    k->sk = build_skeleton(sc);
    k->graph = graph_from_trace(k->sk.trace);
    k->bytes.reserve(k->sk.trace.ops.size());
    for (const auto& op : k->sk.trace.ops) k->bytes.push_back(op.bytes);
    k->plan = plan_layout(k->sk.trace);
    return k;
  };
  std::shared_ptr<SkeletonEntry> e;
  {
    std::lock_guard<std::mutex> lock(mu_);
    const SkeletonKey key{static_cast<int>(sc.prefetch), sc.eager, static_cast<int>(sc.mode), sc.context_tokens,
                          sc.prefill_tiles};
    auto it = skeletons_.find(key);
    if (it == skeletons_.end()) {
      if (skeletons_.size() >= kMaxSkeletons) return build();
      it = skeletons_.emplace(key, std::make_shared<SkeletonEntry>()).first;
    }
    e = it->second;
  }
  std::call_once(e->once, [&] { e->value = build(); });
  return e->value;
}

namespace {

// Per-thread buffers of Replayer::run, reused across scenarios.
struct RunScratch {
  Engine engine;
  SimGraph graph;
  std::uint64_t graph_of = 0;  // Skeleton::id whose structure `graph` holds
  ScheduleTiming timing;
  std::vector<std::uint64_t> bytes;
};

// `g` = `base` (a skeleton's graph) with the timing's durations and gather
// CTAs; copies `base` only when `g` does not hold its structure yet.
void retime_graph(const SimGraph& base, const ScheduleSkeleton& sk, const ScheduleTiming& tm,
                  SimGraph& g, bool same_structure) {
  if (!same_structure) g = base;
  for (std::size_t i = 0; i < g.ops.size(); ++i) g.ops[i].duration_ns = tm.duration_ns[i];
  for (auto i : sk.gather_ops)
    if (trace::holds_ctas(sk.trace.ops[i].engine))
      g.ops[i].gather_ctas = sk.trace.ops[i].kind == trace::OpKind::h2d ? tm.gather_ctas : 0;
}

}  // namespace

// A scenario's what-ifs applied to the recorded run, checked (replay.hpp).
struct ResolvedScenario {
  config::Mode mode = config::Mode::dense;
  config::HardwareConfig hw;          // the scenario's hardware, PCIe scaled
  bool hw_changed = false;            // --hardware given: compute re-timed by roofline ratio
  double pcie_factor = 1.0;           // --pcie-gbps over the hardware's h2d_gbps
  config::Prefetch prefetch{};
  ModeShape ms;                       // of mode and prefetch
  std::int64_t topk = 0;              // blocks
  std::int64_t rec_batch = 0, batch = 0;  // sequences: recorded, simulated
  std::int64_t gather_ctas = 0;
  std::int64_t cache_blocks = 0;      // GPU slots incl. the tail slot
  config::Eviction policy{};
  std::vector<std::int32_t> seq_map;  // [batch] recorded sequence each simulated one replays
  std::vector<std::int64_t> ctx;      // [batch] context tokens
  bool same_shape = false;            // recorded batch and contexts: recorded compute times apply
  bool needs_replay = false;          // cache outcomes re-run on the recorded selections
  std::int64_t l2_reserve_bytes = 0;  // L2 set aside for KV (0: none; replay_l2.hpp)
  config::L2Policy l2_policy = config::L2Policy::lru;
  config::PrefillGrowth prefill_growth = config::PrefillGrowth::share;  // sparse prefill at another context
};

namespace {

// Throws std::invalid_argument "<where>: <msg>" (the trace named first).
[[noreturn]] void fail_at(const std::string& where, const std::string& msg) {
  throw std::invalid_argument(where + ": " + msg);
}

// Throws unless a --mode what-if keeps selections of one granularity on both
// sides (blocks, or DSA's tokens).
void check_mode_what_if(const trace::Header& h, const config::Scenario& s, config::Mode mode, const std::string& where) {
  const auto& from = config::mode_traits(h.run.mode);
  const auto& to = config::mode_traits(mode);
  const bool blocks = from.selects_blocks() && to.selects_blocks(), tokens = from.selects_tokens() && to.selects_tokens();
  if (s.mode && mode != h.run.mode && !blocks && !tokens)
    fail_at(where, fmt::format("--mode {} from a {} trace: a mode what-if needs selections of one granularity on "
                               "both sides: block selections (sparse, sparse-offload, sparda-no-prefetch, sparda, "
                               "sparda-no-offload) or token selections (dsa, dsa-offload)",
                               config::to_string(mode), config::to_string(h.run.mode)));
}

// Scales `hw`'s PCIe bandwidths to --pcie-gbps; returns the factor (1: none asked).
double apply_pcie_what_if(const config::Scenario& s, config::HardwareConfig& hw, const std::string& where) {
  if (!s.pcie_gbps) return 1.0;
  if (!(hw.h2d_gbps > 0)) fail_at(where, "hardware '" + hw.name + "' has no h2d_gbps to scale for --pcie-gbps");
  const double f = *s.pcie_gbps / hw.h2d_gbps;
  scale_pcie(hw, f);
  return f;
}

// A CPU-backend trace timed the host CPU on one stream (its header's hardware
// is the host, runtime::host_cpu_hardware): what-ifs that re-time it onto a
// GPU or its PCIe link have nothing GPU-shaped to start from.
void refuse_gpu_what_ifs_on_cpu_trace(const trace::Header& h, const config::Scenario& s, const std::string& where) {
  if (h.run.backend != "cpu") return;
  const std::string ran = fmt::format("this trace ran on the CPU backend (hardware '{}', one stream), so its op "
                                      "times are the host CPU's", h.hardware.name);
  if (s.hardware)
    fail_at(where, fmt::format("--hardware {}: {} and do not re-time to a GPU; replay a trace of the cuda "
                               "backend, or model the GPU with `foresight synth --hardware {}`",
                               *s.hardware, ran, *s.hardware));
  if (s.pcie_gbps || s.gather_ctas)
    fail_at(where, fmt::format("--pcie-gbps and --gather-ctas: {}; its copies were memcpy with no PCIe link "
                               "or gather kernel", ran));
}

// Simulated sequence i replays recorded sequence seq_map[i]: itself below the
// recorded batch, else a seeded draw. Returns [batch].
std::vector<std::int32_t> map_sequences(std::int64_t batch, std::int64_t rec_batch, std::uint64_t seed) {
  std::vector<std::int32_t> seq_map(static_cast<std::size_t>(batch));
  for (std::int64_t i = 0; i < batch; ++i)
    seq_map[i] = i < rec_batch ? static_cast<std::int32_t>(i)
                               : static_cast<std::int32_t>(mix(seed * 0x100000001B3ull + i) %
                                                           static_cast<std::uint64_t>(rec_batch));
  return seq_map;
}

// Cache misses (blocks) per [decode step][layer], flattened; 0 where no outcome.
std::vector<std::uint64_t> miss_loads(const std::vector<trace::CacheOutcome>& cache, std::int32_t layers,
                                      std::int32_t decode_steps) {
  std::vector<std::uint64_t> loads(static_cast<std::size_t>(layers) * std::max(1, decode_steps), 0);
  for (const auto& c : cache)
    if (c.step >= 0 && c.step < decode_steps && c.layer >= 0 && c.layer < layers)
      loads[static_cast<std::size_t>(c.step) * layers + c.layer] = c.misses;
  return loads;
}

// The recorded run config with the what-ifs applied (for the memory plan and graph choice).
config::RunConfig as_run_config(const config::RunConfig& recorded, const ResolvedScenario& v) {
  config::RunConfig as_run = recorded;
  as_run.mode = v.mode;
  as_run.batch = v.batch;
  as_run.context_tokens = v.ctx;
  as_run.cache_blocks = v.cache_blocks;
  as_run.gather_ctas = v.gather_ctas;
  as_run.prefetch = v.prefetch;
  return as_run;
}

// scenario.json's resolved settings (calibration, memory and status added later).
nlohmann::json describe_scenario(const std::string& where, const config::Scenario& s, const ResolvedScenario& v,
                                 std::int32_t decode_steps) {
  return {{"trace", where},
          {"what_if", config::to_json(s)},
          {"mode", config::to_string(v.mode)},
          {"prefetch", config::to_string(v.prefetch)},
          {"hardware", v.hw.name},
          {"h2d_gbps", v.hw.h2d_gbps},
          {"gather_ctas", v.gather_ctas},
          {"compute_scale", s.compute_scale.value_or(1.0)},
          {"cache_blocks", v.cache_blocks},
          {"policy", config::to_string(v.policy)},
          {"cache_source", v.needs_replay ? "replayed selections" : "recorded outcomes"},
          {"batch", v.batch},
          {"context_tokens", v.ctx},
          {"decode_steps", decode_steps},
          {"seed", s.seed.value_or(1)},
          {"compute_times", v.same_shape ? (v.hw_changed ? "recorded x roofline ratio of the new hardware"
                                                         : "recorded")
                                         : "cost model fitted on the trace"}};
}

// scenario.json's calibration (or roofline cost fit) entries.
void describe_costs(nlohmann::json& scenario, const config::Calibration* cal, const std::string& hw_name,
                    bool same_shape, const CostFit& fit) {
  if (cal) {
    scenario["compute_times"] = "calibrated on the GPU";
    scenario["calibration"] = {{"file", cal->source.string()}, {"hardware", cal->hardware},
                               {"gpu", cal->gpu_name}, {"created_utc", cal->created_utc}};
    if (!cal->fidelity.is_null()) scenario["calibration"]["fidelity"] = cal->fidelity;
  } else {
    scenario["calibration"] = fmt::format("none for hardware '{}': roofline-based costs", hw_name);
    if (!same_shape) scenario["cost_fit"] = fit.describe();
  }
}

// Memory plan bytes by "<location>.<category>".
nlohmann::json memory_breakdown(const MemoryPlan& mem) {
  nlohmann::json membreak = nlohmann::json::object();
  for (const auto& e : mem.entries)
    membreak[std::string(trace::to_string(e.location)) + "." + e.category] = e.bytes;
  return membreak;
}

// The simulated run as a trace (ops with simulated times; --timeline): header
// with the what-ifs, cache outcomes and memory plan. Takes `cache`.
trace::Trace simulated_trace(const trace::Header& h, const ResolvedScenario& v, const ScheduleSkeleton& sk,
                             const ScheduleTiming& tm, std::uint64_t block_bytes,
                             std::vector<trace::CacheOutcome>&& cache, const MemoryPlan& mem,
                             const SimTimes& times) {
  trace::Trace out;
  out.header = h;
  out.header.hardware = v.hw;
  out.header.clock = "synthetic";
  out.header.run.batch = v.batch;
  out.header.run.context_tokens = v.ctx;
  out.header.run.gather_ctas = v.gather_ctas;
  out.header.run.cache_blocks = v.cache_blocks;
  out.header.run.eviction = v.policy;
  out.header.run.prefetch = v.prefetch;
  materialize(sk, tm, block_bytes, out);
  out.cache = std::move(cache);
  out.memory = mem.entries;
  apply_times(out, times);
  return out;
}

// Metrics straight from the engine's times (no trace built): `bytes` is the
// skeleton's per-op bytes with gathers filled in (scratch, [ops]).
Metrics simulated_metrics(const config::RunConfig& rec_run, const ResolvedScenario& v, const ScheduleSkeleton& sk,
                          const std::vector<std::uint64_t>& skel_bytes, const LayoutPlan& plan,
                          const ScheduleTiming& tm, std::uint64_t block_bytes,
                          const std::vector<trace::CacheOutcome>& cache, const MemoryPlan& mem,
                          const SimTimes& times, std::vector<std::uint64_t>& bytes) {
  bytes = skel_bytes;
  for (std::size_t k = 0; k < sk.gather_ops.size(); ++k) bytes[sk.gather_ops[k]] = tm.gather_blocks[k] * block_bytes;
  thread_local std::vector<trace::StepSpan> steps;
  step_spans(plan.spans, times.start_ns, times.end_ns, steps);
  TimedRun run;
  run.layout = &sk.trace;
  run.start_ns = times.start_ns;
  run.end_ns = times.end_ns;
  run.bytes = bytes;
  run.steps = steps;
  run.cache = cache;
  run.batch = v.batch;
  run.decode_steps = rec_run.decode_steps;
  run.warmup_steps = rec_run.warmup_steps;
  run.context_tokens = v.ctx;
  run.plan = &plan;
  return compute_metrics(run, mem);
}

}  // namespace

// Checks every what-if against the trace (in the order errors are reported) and fills a ResolvedScenario.
ResolvedScenario Replayer::resolve(const config::Scenario& s) const {
  const auto& h = t_.header;
  const auto& m = h.model;
  ResolvedScenario v;
  if (s.reuse)
    fail_at(where_, "reuse is a plan knob (it shapes synthesized selections); a replay keeps the trace's "
                    "recorded selections");
  v.mode = s.mode.value_or(h.run.mode);
  check_mode_what_if(h, s, v.mode, where_);
  refuse_gpu_what_ifs_on_cpu_trace(h, s, where_);
  v.hw = s.hardware ? hardware(*s.hardware) : h.hardware;
  v.hw_changed = s.hardware.has_value();
  v.pcie_factor = apply_pcie_what_if(s, v.hw, where_);
  const ModeShape base = mode_shape(v.mode);
  if (s.prefetch && !base.kv_on_host)
    fail_at(where_, fmt::format("--prefetch needs a trace whose KV is offloaded (sparse-offload, "
                                "sparda-no-prefetch or sparda); this trace's mode is {}",
                                config::to_string(v.mode)));
  if ((s.policy || s.cache_blocks) && !base.select)
    fail_at(where_, fmt::format("--policy and --cache-blocks need a block-sparse trace (a GPU block cache); this "
                                "trace's mode is {}", config::to_string(v.mode)));
  v.prefetch = s.prefetch.value_or(mode_prefetch(v.mode));
  v.ms = base;
  v.topk = h.run.topk_blocks;
  v.rec_batch = h.run.batch;
  v.batch = s.batch.value_or(v.rec_batch);
  // A trace that ran the runtime's default CTAs keeps following that default.
  const auto& k = h.run.kernels;
  const bool default_ctas = h.run.gather_ctas == config::default_gather_ctas(v.rec_batch, k);
  v.gather_ctas = s.gather_ctas.value_or(default_ctas ? config::default_gather_ctas(v.batch, k) : h.run.gather_ctas);
  v.cache_blocks = s.cache_blocks.value_or(h.run.cache_blocks == 0 ? v.topk + 1 : h.run.cache_blocks);
  if (v.cache_blocks < v.topk + 1)
    fail_at(where_, fmt::format("--cache-blocks must be >= topk_blocks + 1 = {} (top-k slots plus the tail "
                                "slot), got {}", v.topk + 1, v.cache_blocks));
  v.policy = s.policy.value_or(h.run.eviction);
  if (s.context && *s.context > m.max_context)
    fail_at(where_, fmt::format("--context {} exceeds the model's max_context {}", *s.context, m.max_context));
  if (s.context && *s.context < v.topk * m.sparse.block_tokens && v.ms.select)
    fail_at(where_, fmt::format("--context {} is shorter than top-k ({} blocks of {} tokens)", *s.context, v.topk,
                                m.sparse.block_tokens));
  if (v.ms.tokens && (s.policy || s.cache_blocks))
    fail_at(where_, fmt::format("--policy and --cache-blocks act on a block cache; mode {} gathers its top-k "
                                "tokens every step and has none",
                                config::to_string(v.mode)));
  if (s.context && *s.context < m.dsa.topk_tokens && v.ms.tokens)
    fail_at(where_, fmt::format("--context {} is shorter than the DSA top-k ({} tokens)", *s.context,
                                m.dsa.topk_tokens));
  v.seq_map = map_sequences(v.batch, v.rec_batch, s.seed.value_or(1));
  v.ctx.resize(static_cast<std::size_t>(v.batch));
  for (std::int64_t i = 0; i < v.batch; ++i) v.ctx[i] = s.context ? *s.context : h.run.context_tokens.at(v.seq_map[i]);
  v.same_shape = v.batch == v.rec_batch && !s.context;
  v.l2_reserve_bytes = l2_reserve_bytes(s, v.hw, v.mode, v.ms.tokens ? !tok_.empty() : !sel_.empty(), where_);
  v.l2_policy = s.l2_policy.value_or(config::L2Policy::lru);
  if (s.prefill_growth && t_.prefill_patterns.empty())
    fail_at(where_, "--prefill-growth: the trace recorded no sparse prefill (/prefill_patterns is empty)");
  v.prefill_growth = s.prefill_growth.value_or(config::PrefillGrowth::share);
  v.needs_replay = v.ms.select && (s.cache_blocks || s.policy || v.batch != v.rec_batch || t_.cache.empty() ||
                                   v.mode != h.run.mode);
  return v;
}

// Per (decode step, layer): re-run on the recorded selections when a what-if
// changes the cache, else the recorded outcomes (none for dense).
std::vector<trace::CacheOutcome> Replayer::cache_outcomes(const ResolvedScenario& v) const {
  const auto& m = t_.header.model;
  const auto L = static_cast<std::int32_t>(m.n_layers);
  if (v.ms.tokens) {
    if (tok_.empty()) fail_at(where_, "a DSA trace without recorded token selections (/token_selections): nothing to gather");
    return token_gather_outcomes(t_, tok_, v.seq_map, static_cast<std::uint64_t>(token_bytes(m)));
  }
  if (!v.needs_replay) return v.ms.select ? t_.cache : std::vector<trace::CacheOutcome>{};
  if (sel_.empty())
    fail_at(where_, "the trace has no recorded selections (/selections): --policy, --cache-blocks and "
                    "--batch re-run the block cache on them");
  if (sel_.layers != L || sel_.seqs < v.rec_batch || sel_.steps < decode_steps_)
    fail_at(where_, fmt::format("/selections cover {} layers, {} sequences, {} steps; the run has {}, {}, {}",
                                sel_.layers, sel_.seqs, sel_.steps, L, v.rec_batch, decode_steps_));
  try {
    auto so = outcomes(v.policy, v.cache_blocks - 1);
    return aggregate_outcomes(*so, v.seq_map, cache_layers(v.mode, m.n_layers),
                              static_cast<std::uint64_t>(gather_unit_bytes(m, v.mode)));
  } catch (const std::invalid_argument& e) {
    fail_at(where_, std::string("cache replay: ") + e.what());
  }
}

// Op duration (ns): calibrated decode cost, else recorded (same shape) or fitted,
// re-timed by the roofline ratio of new hardware, divided by compute_scale.
// Holds `v` and `cc` by reference.
namespace {
// The duration op_duration gives a decode op of each canonical stage when it
// depends on the stage alone (calibrated), else -1 (ScheduleConfig::decode_stage_ns).
std::vector<std::int64_t> calibrated_stage_ns(const CalibratedCosts* cc, double compute_scale) {
  std::vector<std::int64_t> ns(cc ? kStageSlots : 0, -1);
  for (std::uint16_t id = 0; id < ns.size(); ++id)
    if (auto d = cc->decode_op_ns(id)) ns[id] = std::llround(*d / compute_scale);
  return ns;
}
}  // namespace

DurationFn Replayer::op_duration(const ResolvedScenario& v, const config::Scenario& s, const CalibratedCosts* cc) const {
  const double scale = s.compute_scale.value_or(1.0);
  return [this, &v, scale, cc](const OpKey& k, const OpCost& c) -> std::int64_t {
    const auto& old_hw = t_.header.hardware;
    if (cc && k.phase == trace::Phase::decode)
      if (auto d = cc->decode_op_ns(k.canonical_stage)) return std::llround(*d / scale);
    double ns;
    if (v.same_shape) {
      const std::int64_t rec = recorded_ns(k);
      ns = rec >= 0 ? static_cast<double>(rec) : static_cast<double>(fit_->predict_ns(k.stage, c, old_hw));
    } else {
      ns = static_cast<double>(fit_->predict_ns(k.stage, c, old_hw));
    }
    if (v.hw_changed && stage_runs_on_gpu(k.stage)) {
      const bool tc = stage_uses_tensor_cores(k.stage);
      const auto before = roofline_ns(old_hw, c, tc);
      if (before > 0) ns *= static_cast<double>(roofline_ns(v.hw, c, tc)) / static_cast<double>(before);
    }
    return std::llround(ns / scale);
  };
}

// The op-graph settings of the resolved scenario (structure, host and launch costs).
ScheduleConfig Replayer::schedule_config(const ResolvedScenario& v, const config::RunConfig& as_run,
                                         const CalibratedCosts* cc) const {
  const auto& h = t_.header;
  ScheduleConfig sc;
  sc.model = h.model;
  sc.hardware = v.hw;
  sc.mode = v.mode;
  sc.prefetch = v.prefetch;
  sc.batch = v.batch;
  sc.context_tokens = v.ctx;
  sc.decode_steps = decode_steps_;
  sc.topk_blocks = v.topk;
  sc.gather_ctas = v.gather_ctas;
  sc.h2d_engine = trace::host_gather_engine(h.run.kernels);
  sc.prefill = has_prefill_;
  sc.host_step_ns = cc ? cc->host_step_ns() : host_step_ns_;
  sc.eager = h.run.backend == "cuda" && !config::decode_uses_graph(as_run);
  sc.eager_launch_ns = cc ? cc->eager_launch_ns() : std::llround(v.hw.kernel_launch_us * 1e3);
  if (cc) {
    sc.gather_model = &cc->gather();
    sc.d2d_by_duration = cc->decode_op_ns(canonical_stage_id(st::d2d_gather)).has_value();
    sc.h2d_by_duration = v.ms.tokens && cc->decode_op_ns(canonical_stage_id(st::h2d_gather)).has_value();
  }
  sc.fused_layer_norms = decode_steps_ > 0 && !has_layer_norm_;
  sc.fused_kv_write = decode_steps_ > 0 && !has_kv_write_;
  if (has_prefill_ && config::prefill_is_sparse(h.run.prefill_attention)) sc.prefill_tiles = prefill_tiles(v);
  return sc;
}

// Per layer, the tiles the scenario's sparse prefill computes: each simulated
// sequence's recorded heads (its seq_map entry) at its own prompt length
// (config::scaled_prefill_tiles, as the scenario's prefill_growth says), summed.
std::vector<std::uint64_t> Replayer::prefill_tiles(const ResolvedScenario& v) const {
  std::vector<std::uint64_t> tiles(static_cast<std::size_t>(t_.header.model.n_layers), 0);
  for (std::int64_t i = 0; i < v.batch; ++i) {
    const std::int32_t rec = v.seq_map[static_cast<std::size_t>(i)];
    const std::int64_t prompt = std::max<std::int64_t>(v.ctx[static_cast<std::size_t>(i)] - 1, 1);
    for (const auto& p : t_.prefill_patterns)
      if (p.seq == rec)
        tiles[static_cast<std::size_t>(p.layer)] +=
            config::scaled_prefill_tiles(p.tiles, p.full != 0, p.tokens, prompt, v.prefill_growth);
  }
  return tiles;
}

// Resolve the what-ifs, replay the block cache, plan memory, cost the ops,
// build and simulate the op graph, then measure it.
namespace {
// The L2 reservation's metrics and its model's parameters (scenario.json "l2").
void add_l2_results(ReplayResult& r, const L2Effect& l2, std::int64_t warmup_steps, const L2TimeTally& tally,
                    std::int32_t decode_steps) {
  const auto lm = trace::l2_metrics(l2.outcomes, l2.reserve_bytes, warmup_steps);
  r.metrics.insert(r.metrics.end(), lm.begin(), lm.end());
  const double timed = std::max<double>(1, decode_steps - tally.first_step);
  r.metrics.emplace_back("l2.kv_ms_saved_per_step", tally.kv_saved_ns * 1e-6 / timed);
  r.metrics.emplace_back("l2.other_ms_added_per_step", tally.other_added_ns * 1e-6 / timed);
  r.scenario["l2"] = describe_l2(l2);
}
}  // namespace

// The calibrated op costs of scenario `v`, or none without a calibration.
std::optional<CalibratedCosts> Replayer::scenario_costs(const ResolvedScenario& v,
                                                        const config::Calibration* cal) const {
  if (!cal) return std::nullopt;
  double tokens = 0;
  for (auto n : v.ctx) tokens += static_cast<double>(n);
  return std::optional<CalibratedCosts>(
      std::in_place, *cal, t_.header.model, calibration_model(*cal), v.hw,
      CostScenario{v.ms, v.batch, tokens / static_cast<double>(v.batch), v.topk, v.pcie_factor});
}

ReplayResult Replayer::run(const config::Scenario& s, bool keep_timeline) const {
  const auto& h = t_.header;
  const auto& m = h.model;
  const ResolvedScenario v = resolve(s);
  std::vector<trace::CacheOutcome> cache = cache_outcomes(v);
  const auto L = static_cast<std::int32_t>(m.n_layers);
  const std::vector<std::uint64_t> loads = miss_loads(cache, L, decode_steps_);

  ReplayResult r;
  const config::RunConfig as_run = as_run_config(h.run, v);
  const MemoryPlan mem = plan_memory(m, v.hw, as_run);
  r.scenario = describe_scenario(where_, s, v, decode_steps_);
  const config::Calibration* cal = calibration_for(v.hw.name);
  const std::optional<CalibratedCosts> cc = scenario_costs(v, cal);
  describe_costs(r.scenario, cal, v.hw.name, v.same_shape, *fit_);
  r.scenario["memory"] = memory_breakdown(mem);
  if (!mem.fits) {
    r.status = "out_of_memory";
    r.scenario["status"] = r.status;
    r.scenario["status_reason"] = mem.reason;
    r.metrics = out_of_memory_metrics(mem);
    return r;
  }
  r.scenario["status"] = r.status;

  const CalibratedCosts* costs = cc ? &*cc : nullptr;
  std::optional<L2Effect> l2;
  if (v.l2_reserve_bytes > 0) {
    const double at_max = l2_slowdown_at_max(cal, v.hw, v.mode);
    l2 = v.ms.tokens ? l2_token_effect(t_, tok_, v.seq_map, v.l2_reserve_bytes, v.l2_policy, v.hw, at_max)
                     : l2_effect(t_, sel_, v.seq_map, cache_layers(v.mode, m.n_layers), v.l2_reserve_bytes,
                                 v.l2_policy, v.hw, at_max);
  }
  L2TimeTally tally{static_cast<std::int32_t>(h.run.warmup_steps)};
  const DurationFn dur = l2 ? with_l2(op_duration(v, s, costs), *l2, &tally) : op_duration(v, s, costs);
  ScheduleConfig sc = schedule_config(v, as_run, costs);
  // Calibrated stage times looked up, not called, per op; not with an L2
  // reservation, whose effect re-times ops through the DurationFn.
  if (!l2) sc.decode_stage_ns = calibrated_stage_ns(costs, s.compute_scale.value_or(1.0));
  const auto skel = skeleton(sc);
  thread_local RunScratch rs;
  time_skeleton(skel->sk, sc, dur, [&](std::int32_t st_, std::int32_t l) {
    return loads[static_cast<std::size_t>(st_) * L + l];
  }, rs.timing);
  const bool same_graph = rs.graph_of == skel->id;
  retime_graph(skel->graph, skel->sk, rs.timing, rs.graph, same_graph);
  rs.graph_of = 0;
  if (!same_graph) rs.engine.plan(rs.graph);  // once per op graph structure
  rs.graph_of = skel->id;
  const SimTimes& times = rs.engine.run_planned(
      rs.graph, {v.hw.gather_compute_slowdown, v.hw.sm_count, cc ? &cc->slowdown_by_ctas() : nullptr});
  r.events = times.events;
  const auto block_bytes = static_cast<std::uint64_t>(gather_unit_bytes(m, v.mode));
  if (keep_timeline) {
    trace::Trace out = simulated_trace(h, v, skel->sk, rs.timing, block_bytes, std::move(cache), mem, times);
    r.metrics = compute_metrics(out, mem);
    const trace::Metrics stages = trace::stage_metrics(out);
    r.metrics.insert(r.metrics.end(), stages.begin(), stages.end());
    r.timeline = std::move(out);
  } else {
    r.metrics = simulated_metrics(h.run, v, skel->sk, skel->bytes, skel->plan, rs.timing, block_bytes, cache, mem,
                                  times, rs.bytes);
  }
  if (l2) add_l2_results(r, *l2, h.run.warmup_steps, tally, decode_steps_);
  r.metrics.emplace_back("sim.events", static_cast<double>(r.events));
  if (!v.same_shape && !cc) r.metrics.emplace_back("cost_fit.mean_rel_error", fit_->mean_rel_error());
  return r;
}

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Recorded steps paired with their simulated spans, each tagged with its group.
std::vector<ValidateResult::Step> pair_steps(const trace::Trace& rec_t, const trace::Trace& sim) {
  std::map<std::pair<int, std::int32_t>, const trace::StepSpan*> by_key;
  for (const auto& x : sim.steps) by_key.emplace(std::make_pair(static_cast<int>(x.phase), x.step), &x);
  std::vector<ValidateResult::Step> out;
  for (const auto& rs : rec_t.steps.empty() ? step_spans(rec_t) : rec_t.steps) {
    auto it = by_key.find({static_cast<int>(rs.phase), rs.step});
    if (it == by_key.end()) continue;
    out.push_back({rs.phase, rs.step, rs.end_ns - rs.start_ns, it->second->end_ns - it->second->start_ns,
                   trace::step_group(rec_t.header, rs.phase, rs.step)});
  }
  return out;
}

// Error summary of the steps of group `g` (all steps when `g` is empty).
ValidateResult::Group group_error(const std::vector<ValidateResult::Step>& steps,
                                  std::optional<trace::StepGroup> g) {
  ValidateResult::Group r;
  double rel_sum = 0, rel_max = 0;
  std::size_t rel_n = 0;
  for (const auto& s : steps) {
    if (g && s.group != *g) continue;
    ++r.steps;
    r.recorded_ns += s.recorded_ns;
    r.simulated_ns += s.simulated_ns;
    if (s.recorded_ns <= 0) continue;
    const double rel = static_cast<double>(std::llabs(s.simulated_ns - s.recorded_ns)) /
                       static_cast<double>(s.recorded_ns);
    rel_sum += rel;
    rel_max = std::max(rel_max, rel);
    ++rel_n;
  }
  r.mean_step_rel_error = r.recorded_ns > 0 ? static_cast<double>(std::llabs(r.simulated_ns - r.recorded_ns)) /
                                                  static_cast<double>(r.recorded_ns)
                                            : kNaN;
  r.mean_rel_error = rel_n > 0 ? rel_sum / static_cast<double>(rel_n) : kNaN;
  r.max_rel_error = rel_n > 0 ? rel_max : kNaN;
  return r;
}

// validate.<group>.* metrics (docs/metrics.md), steady first, then the old
// validate.* over all steps.
void add_validate_metrics(Metrics& m, const ValidateResult& v) {
  for (auto g : {trace::StepGroup::steady, trace::StepGroup::warmup, trace::StepGroup::prefill}) {
    const ValidateResult::Group& x = v.group(g);
    const std::string p = std::string("validate.") + trace::to_string(g) + ".";
    m.emplace_back(p + "steps", static_cast<double>(x.steps));
    m.emplace_back(p + "recorded_ms", static_cast<double>(x.recorded_ns) * 1e-6);
    m.emplace_back(p + "simulated_ms", static_cast<double>(x.simulated_ns) * 1e-6);
    m.emplace_back(p + "mean_step_rel_error", x.mean_step_rel_error);
    m.emplace_back(p + "mean_rel_error", x.mean_rel_error);
    m.emplace_back(p + "max_rel_error", x.max_rel_error);
  }
  m.emplace_back("validate.max_abs_error_ns", static_cast<double>(v.max_abs_error_ns));
  m.emplace_back("validate.mean_rel_error", v.mean_rel_error);
  m.emplace_back("validate.total_rel_error", v.total_rel_error);
  m.emplace_back("validate.exact", v.exact ? 1.0 : 0.0);
}

// The JSON value of a ratio: null when undefined (NaN).
nlohmann::json ratio_json(double x) { return std::isnan(x) ? nlohmann::json(nullptr) : nlohmann::json(x); }
}  // namespace

const ValidateResult::Group& ValidateResult::group(trace::StepGroup g) const {
  return g == trace::StepGroup::steady ? steady : g == trace::StepGroup::warmup ? warmup : prefill;
}

ValidateResult Replayer::validate(bool keep_timeline) const {
  ValidateResult v;
  trace::Trace sim = t_;
  SimGraph g = graph_from_trace(t_, where_.c_str());
  keep_recorded_gaps(t_, g);
  const SimTimes times = simulate(g, EngineParams{0.0, 1}, t_.ops.front().start_ns);
  apply_times(sim, times);
  v.steps = pair_steps(t_, sim);
  v.warmup_steps = t_.header.run.warmup_steps;
  v.steady = group_error(v.steps, trace::StepGroup::steady);
  v.warmup = group_error(v.steps, trace::StepGroup::warmup);
  v.prefill = group_error(v.steps, trace::StepGroup::prefill);
  const ValidateResult::Group all = group_error(v.steps, std::nullopt);
  for (const auto& s : v.steps)
    v.max_abs_error_ns = std::max<std::int64_t>(v.max_abs_error_ns, std::llabs(s.simulated_ns - s.recorded_ns));
  v.mean_rel_error = std::isnan(all.mean_rel_error) ? 0 : all.mean_rel_error;
  v.total_rel_error = std::isnan(all.mean_step_rel_error) ? 0 : all.mean_step_rel_error;
  v.exact = v.max_abs_error_ns == 0 && !v.steps.empty();
  v.result.scenario = {{"trace", where_}, {"validate", true}, {"mode", config::to_string(t_.header.run.mode)},
                       {"hardware", t_.header.hardware.name}, {"batch", t_.header.run.batch},
                       {"status", "ok"}};
  v.result.events = times.events;
  v.result.metrics = trace::compute_metrics(sim, trace::recorded_memory(t_));  // what the run allocated
  add_validate_metrics(v.result.metrics, v);
  if (keep_timeline) v.result.timeline = std::move(sim);
  return v;
}

nlohmann::json ValidateResult::Group::to_json() const {
  return {{"steps", steps}, {"recorded_ns", recorded_ns}, {"simulated_ns", simulated_ns},
          {"mean_step_rel_error", ratio_json(mean_step_rel_error)},
          {"mean_rel_error", ratio_json(mean_rel_error)}, {"max_rel_error", ratio_json(max_rel_error)}};
}

nlohmann::json ValidateResult::to_json() const {
  nlohmann::json steps_j = nlohmann::json::array();
  for (const auto& s : steps)
    steps_j.push_back({{"phase", trace::to_string(s.phase)}, {"step", s.step},
                       {"group", trace::to_string(s.group)},
                       {"recorded_ns", s.recorded_ns}, {"simulated_ns", s.simulated_ns},
                       {"error_ns", s.simulated_ns - s.recorded_ns}});
  return {{"steady", steady.to_json()}, {"warmup", warmup.to_json()}, {"prefill", prefill.to_json()},
          {"warmup_steps", warmup_steps},
          {"max_abs_error_ns", max_abs_error_ns}, {"mean_rel_error", mean_rel_error},
          {"total_rel_error", total_rel_error}, {"exact", exact}, {"steps", steps_j}};
}

}  // namespace foresight::sim

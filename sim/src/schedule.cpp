// Emits the per-mode op graph of a run. See schedule.hpp and docs/simulator.md.
#include "foresight/sim/schedule.hpp"

#include <algorithm>
#include <initializer_list>
#include <stdexcept>
#include <string>

#include "foresight/config/decode_plan.hpp"
#include "foresight/config/sparse_prefill.hpp"
#include "foresight/trace/stages.hpp"
#include "foresight/sim/rounding.hpp"

namespace foresight::sim {

namespace st = trace::stage;
using config::Mode;
using trace::Engine;
using trace::OpKind;
using trace::Phase;

ModeShape mode_shape(Mode mode) {
  const config::ModeTraits& t = config::mode_traits(mode);
  ModeShape s;
  s.select = t.selects_blocks();
  s.forecast = t.forecast();
  s.kv_on_host = t.kv_on_host();
  s.tokens = t.selects_tokens();
  return s;
}

DurationFn roofline_durations(const config::HardwareConfig& hw, double compute_scale) {
  return [hw, compute_scale](const OpKey& k, const OpCost& c) {
    // A GPU-to-GPU gather reads and writes its bytes (transfer_ns).
    const auto ns = k.stage == st::d2d_gather ? transfer_ns(hw, OpKind::d2d, Engine::none, c.bytes, 0, 0, 1.0)
                                               : roofline_ns(hw, c, stage_uses_tensor_cores(k.stage));
    return static_cast<std::int64_t>(static_cast<double>(ns) / compute_scale + 0.5);
  };
}

namespace {

enum Stream : std::uint8_t { kHost = 0, kMain = 1, kSide = 2, kD2h = 3 };

class Emitter {
 public:
  Emitter(const ScheduleConfig& c, ScheduleSkeleton& sk) : c_(c), sk_(sk), t_(sk.trace) {
    t_.streams = {{"host", trace::StreamKind::host},
                  {"main", trace::StreamKind::compute},
                  {"side", trace::StreamKind::copy},
                  {"d2h", trace::StreamKind::copy}};
  }

  // Stage names come from trace/stages.hpp constants: look up by address first.
  std::uint16_t stage_id(std::string_view name) {
    for (const auto& [ptr, id] : by_ptr_)
      if (ptr == name.data()) return id;
    std::uint16_t id = static_cast<std::uint16_t>(t_.stages.size());
    for (std::size_t i = 0; i < t_.stages.size(); ++i)
      if (t_.stages[i] == name) id = static_cast<std::uint16_t>(i);
    if (id == t_.stages.size()) {
      t_.stages.emplace_back(name);
      canonical_.push_back(canonical_stage_id(name));
    }
    by_ptr_.emplace_back(name.data(), id);
    return id;
  }

  // Appends an op of `duration_ns` and returns its id.
  std::uint64_t add(OpKind kind, Engine engine, std::string_view stage, std::uint8_t stream,
                    std::int16_t layer, std::int64_t duration_ns, OpCost cost,
                    std::initializer_list<std::uint64_t> deps, std::uint32_t chunks = 0,
                    std::uint16_t ctas = 0) {
    trace::Op op;
    op.id = t_.ops.size();
    op.kind = kind;
    op.engine = engine;
    op.phase = phase_;
    op.stage = stage_id(stage);
    op.stream = stream;
    op.step = step_;
    op.layer = layer;
    op.start_ns = 0;
    op.end_ns = duration_ns;
    op.bytes = cost.bytes;
    op.flops = cost.flops;
    op.chunks = chunks;
    op.ctas = ctas;
    op.dep_offset = t_.deps.size();
    for (auto d : deps)
      if (d != kNoDep) t_.deps.push_back(d);
    op.dep_count = static_cast<std::uint32_t>(t_.deps.size() - op.dep_offset);
    t_.ops.push_back(op);
    return op.id;
  }

  // A compute op on the main stream timed by the duration source.
  std::uint64_t compute(std::string_view stage, std::int16_t layer, const StepShape& shape,
                        std::initializer_list<std::uint64_t> deps = {}) {
    return compute_op(stage, layer, stage_cost(c_.model, stage, shape), deps);
  }

  // A compute op of roofline cost `cost` on the main stream.
  std::uint64_t compute_op(std::string_view stage, std::int16_t layer, const OpCost& cost,
                           std::initializer_list<std::uint64_t> deps = {}) {
    const std::uint16_t sid = stage_id(stage);
    std::uint8_t occ = 0;
    for (std::size_t i = layer_first_op_; i < t_.ops.size(); ++i)
      if (t_.ops[i].layer == layer && t_.ops[i].stage == sid) ++occ;
    const std::uint64_t launch = launch_for(OpKind::compute, kMain, layer);
    sk_.compute_ops.push_back(static_cast<std::uint32_t>(t_.ops.size()));
    sk_.keys.push_back(OpKey{phase_, step_, layer, stage, occ, canonical_[sid]});
    sk_.costs.push_back(cost);
    const std::uint64_t id = add(OpKind::compute, Engine::none, stage, kMain, layer, 0, cost, deps);
    if (launch != kNoDep) t_.deps.push_back(launch), ++t_.ops.back().dep_count;
    return id;
  }

  // An op whose duration (and, for gathers, bytes) time_skeleton fills in.
  std::uint64_t timed(std::vector<std::uint32_t>& list, OpKind kind, Engine engine,
                      std::string_view stage, std::uint8_t stream, std::int16_t layer, OpCost cost,
                      std::initializer_list<std::uint64_t> deps, std::uint32_t chunks = 0) {
    const std::uint64_t launch = launch_for(kind, stream, layer);
    list.push_back(static_cast<std::uint32_t>(t_.ops.size()));
    const std::uint64_t id = add(kind, engine, stage, stream, layer, 0, cost, deps, chunks);
    if (launch != kNoDep) t_.deps.push_back(launch), ++t_.ops.back().dep_count;
    return id;
  }

  // Without a CUDA graph every GPU op is launched on its own: its stream sits
  // idle for the launch first (measured on the H200: eager steps lose a few
  // us per op, more than the host's issue rate explains). An op on the GPU
  // op's stream before it (kNoDep when not eager).
  std::uint64_t launch_for(OpKind kind, std::uint8_t stream, std::int16_t layer) {
    if (!c_.eager || stream == kHost || kind == OpKind::wait || kind == OpKind::host) return kNoDep;
    sk_.launch_ops.push_back(static_cast<std::uint32_t>(t_.ops.size()));
    return add(OpKind::host, Engine::none, st::launch, stream, layer, 0, {}, {});
  }

  void begin(Phase p, std::int32_t step) {
    phase_ = p;
    step_ = step;
  }
  void begin_layer() { layer_first_op_ = t_.ops.size(); }

  static constexpr std::uint64_t kNoDep = ~0ull;

 private:
  const ScheduleConfig& c_;
  ScheduleSkeleton& sk_;
  trace::Trace& t_;
  Phase phase_ = Phase::decode;
  std::int32_t step_ = 0;
  std::size_t layer_first_op_ = 0;
  std::vector<std::pair<const char*, std::uint16_t>> by_ptr_;
  std::vector<std::uint16_t> canonical_;  // per interned stage
};

constexpr std::uint64_t kNoDep = Emitter::kNoDep;
using LayerPlans = std::vector<std::vector<config::LayerStep>>;  // per layer

// Prompt totals over all sequences (tokens): sum of contexts, and sum of
// causal attention pairs n (n + 1) / 2.
struct ContextSums {
  std::int64_t ctx = 0, causal = 0;
};
ContextSums context_sums(const ScheduleConfig& c) {
  ContextSums s;
  for (auto n : c.context_tokens) {
    s.ctx += n;
    s.causal += n * (n + 1) / 2;
  }
  return s;
}

// A layer's sparse prefill attention (config/sparse_prefill.hpp): estimate,
// choose (host work the main stream waits for) and block-sparse attention,
// costed per sequence by the contract and summed. Returns the last op.
std::uint64_t emit_sparse_prefill_attention(Emitter& e, const ScheduleConfig& c, std::int16_t layer) {
  const std::uint64_t tiles = c.prefill_tiles.at(static_cast<std::size_t>(layer));
  OpCost est, choose, att;
  auto add = [](OpCost& to, const config::PrefillOpCost& x) { to.bytes += x.bytes, to.flops += x.flops; };
  for (const std::int64_t ctx : c.context_tokens) {
    const std::int64_t prompt = std::max<std::int64_t>(ctx - 1, 1);
    add(est, config::prefill_estimate_cost(c.model, prompt));
    add(choose, config::prefill_choose_cost(c.model, prompt, 0));
    add(att, config::prefill_sparse_attention_cost(c.model, prompt, 0));
  }
  add(choose, config::prefill_choose_cost(c.model, 0, tiles));  // the tile terms, linear in tiles
  add(att, config::prefill_sparse_attention_cost(c.model, 0, tiles));
  e.compute_op(st::prefill_estimate, layer, est);
  e.compute_op(st::prefill_choose, layer, choose);
  return e.compute_op(st::prefill_sparse_attention, layer, att);
}

// The prefill step: host, embed, every layer's config::prefill_layer_plan
// over the whole prompt as one chunk, the KV of the host layers offloaded as
// config::prefill_offload says, then (selecting modes) every layer's keys
// compressed. The runtime offloads after each chunk; one chunk here, so a
// side-stream offload is issued per layer (overlapping the later layers, as
// the runtime's overlaps the next chunk) and an inline one per layer on the
// main stream. Returns the step's last main-stream op; sets `last_offload`.
std::uint64_t emit_prefill(Emitter& e, const ScheduleConfig& c, const ModeShape& ms, ScheduleSkeleton& sk,
                           const ContextSums& sums, std::uint64_t& last_offload) {
  const auto L = static_cast<std::int32_t>(c.model.n_layers);
  const config::ModeTraits& t = config::mode_traits(c.mode);
  const config::PrefillOffload offload = config::prefill_offload(t);
  e.begin(Phase::prefill, 0);
  StepShape sh{c.batch, sums.ctx, sums.ctx, sums.causal, c.topk_blocks, ms.forecast, true, ms.tokens};
  auto host = e.timed(sk.host_ops, OpKind::host, Engine::none, st::host, kHost, -1, {}, {});
  std::uint64_t last = e.compute(st::embed, -1, sh, {host});
  for (std::int32_t l = 0; l < L; ++l) {
    e.begin_layer();
    const auto ll = static_cast<std::int16_t>(l);
    std::uint64_t kv = kNoDep;
    for (const config::PrefillWork w : config::prefill_layer_plan()) {
      switch (w) {
        case config::PrefillWork::project:
          if (!c.fused_layer_norms) e.compute(st::rmsnorm, ll, sh);
          last = e.compute(st::qkvf_gemm, ll, sh);
          break;
        case config::PrefillWork::rope: last = e.compute(st::rope, ll, sh); break;
        case config::PrefillWork::kv_write: last = kv = e.compute(st::kv_write, ll, sh); break;
        case config::PrefillWork::attention:
          last = c.prefill_tiles.empty() ? e.compute(st::prefill_attention, ll, sh) : emit_sparse_prefill_attention(e, c, ll);
          break;
        case config::PrefillWork::o_proj: last = e.compute(st::o_proj, ll, sh); break;
        case config::PrefillWork::mlp: last = e.compute(st::mlp, ll, sh); break;
      }
    }
    if (offload == config::PrefillOffload::none || !config::layer_kv_on_host(t, l)) continue;
    const OpCost cost{static_cast<std::uint64_t>(sums.ctx * c.model.kv_bytes_per_token_layer()), 0};
    const bool side = offload == config::PrefillOffload::side_copy;
    last_offload = e.timed(sk.transfer_ops, OpKind::d2h, Engine::memcpy_bulk, st::prefill_kv_offload,
                           side ? kD2h : kMain, ll, cost, {kv}, 1);
    if (!side) last = last_offload;
  }
  if (config::prefill_compresses(t))
    for (std::int32_t l = 0; l < L; ++l) last = e.compute(st::compress, static_cast<std::int16_t>(l), sh);
  return last;
}

// The simulator's op for each entry of the contract's decode layer plan
// (config::decode_layer_plan): the same graph the runtime's engine runs.
// Old traces' unfused RMSNorm and kv_write ops are added where they stood.
class LayerEmitter {
 public:
  LayerEmitter(Emitter& e, const ScheduleConfig& c, ScheduleSkeleton& sk, const StepShape& sh)
      : e_(e), c_(c), sk_(sk), sh_(sh) {}

  // Emits layer `l`'s entries. `ready`: the latest selection's working-set
  // update (or the step's start), which a prefetch follows; updated here.
  void emit(const std::vector<config::LayerStep>& plan, std::int32_t l, std::uint64_t& ready) {
    const auto ll = static_cast<std::int16_t>(l);
    for (const config::LayerStep& s : plan) {
      const auto target = static_cast<std::int16_t>(s.layer);
      switch (s.work) {
        case config::LayerWork::project:
          if (!c_.fused_layer_norms) e_.compute(st::rmsnorm, ll, sh_);
          e_.compute(st::qkvf_gemm, ll, sh_);
          break;
        case config::LayerWork::rope_append: e_.compute(st::rope, ll, sh_); break;
        case config::LayerWork::compress: e_.compute(st::compress, ll, sh_); break;
        case config::LayerWork::self_project:  // recorded as a second qkvf_gemm of layer 0
          e_.compute_op(st::qkvf_gemm, ll, selector_cost(c_.model, sh_));
          break;
        case config::LayerWork::select:  // traced as the target layer's, like the runtime's
          e_.compute(st::score, target, sh_);
          e_.compute(st::pool_topk, target, sh_);
          ready = e_.compute(st::ws_update, target, sh_);
          break;
        case config::LayerWork::fetch: fetch(target); break;
        case config::LayerWork::prefetch:
          side_[static_cast<std::size_t>(s.layer)] =
              e_.timed(sk_.gather_ops, OpKind::h2d, c_.h2d_engine, st::h2d_gather, kSide, target, {}, {ready});
          break;
        case config::LayerWork::wait_fetch:
          e_.add(OpKind::wait, Engine::none, st::wait_kv, kMain, ll, 0, {}, {side_[static_cast<std::size_t>(s.layer)]});
          break;
        case config::LayerWork::dense_attention:
        case config::LayerWork::sparse_attention:
        case config::LayerWork::token_attention:
          if (!c_.fused_kv_write) e_.compute(st::kv_write, ll, sh_);
          e_.compute(st::attention, ll, sh_);
          break;
        case config::LayerWork::index_select:
          e_.compute(st::index_score, ll, sh_);
          e_.compute(st::token_topk, ll, sh_);
          break;
        case config::LayerWork::token_gather: fetch(ll); break;
        case config::LayerWork::o_proj: e_.compute(st::o_proj, ll, sh_); break;
        case config::LayerWork::mlp: e_.compute(st::mlp, ll, sh_); break;
      }
    }
  }

  std::vector<std::uint64_t> side_;  // per layer: its prefetch op

 private:
  // A gather on the main stream: over PCIe when the layer's KV is on the host.
  void fetch(std::int16_t layer) {
    if (config::layer_kv_on_host(config::mode_traits(c_.mode), layer)) {
      e_.timed(sk_.gather_ops, OpKind::h2d, c_.h2d_engine, st::h2d_gather, kMain, layer, {}, {});
    } else {
      e_.timed(sk_.gather_ops, OpKind::d2d, Engine::none, st::d2d_gather, kMain, layer, {}, {});
    }
  }

  Emitter& e_;
  const ScheduleConfig& c_;
  ScheduleSkeleton& sk_;
  const StepShape& sh_;
};

// Decode step `s`: host work after the previous step's tail and the prefill's
// last offload, embed, every layer, LM head. Returns the step's last op (argmax).
std::uint64_t emit_decode_step(Emitter& e, const ScheduleConfig& c, const ModeShape& ms, const LayerPlans& plans,
                               ScheduleSkeleton& sk, std::int32_t s, std::int64_t ctx_sum, std::uint64_t prev_tail,
                               std::uint64_t prev_offload) {
  const auto L = static_cast<std::int32_t>(c.model.n_layers);
  e.begin(Phase::decode, s);
  const std::int64_t tokens = ctx_sum + c.batch * (s + 1);  // incl. this step's token
  const std::int64_t slot_tokens =
      std::min<std::int64_t>((c.topk_blocks + 1) * c.model.sparse.block_tokens, tokens / c.batch) * c.batch;
  const std::int64_t picked_tokens = std::min<std::int64_t>(c.model.dsa.topk_tokens, tokens / c.batch) * c.batch;
  StepShape sh{c.batch, tokens, c.batch, ms.select ? slot_tokens : ms.tokens ? picked_tokens : tokens,
               c.topk_blocks, ms.forecast, false, ms.tokens};
  auto host = e.timed(sk.host_ops, OpKind::host, Engine::none, st::host, kHost, -1, {}, {prev_tail, prev_offload});
  e.compute(st::embed, -1, sh, {host});
  std::uint64_t ready = host;  // the latest selection, which a prefetch follows
  LayerEmitter layers(e, c, sk, sh);
  layers.side_.assign(static_cast<std::size_t>(L), kNoDep);
  for (std::int32_t l = 0; l < L; ++l) layers.emit(plans[static_cast<std::size_t>(l)], l, ready);
  e.compute(st::rmsnorm, -1, sh);
  e.compute(st::lm_head, -1, sh);
  return e.compute(st::argmax, -1, sh);
}

}  // namespace

// The op graph of a run without durations: prefill (optional), then the
// decode steps, each chained to the previous one's tail.
ScheduleSkeleton build_skeleton(const ScheduleConfig& c) {
  ScheduleSkeleton sk;
  trace::Trace& out = sk.trace;
  if (c.batch < 1 || static_cast<std::int64_t>(c.context_tokens.size()) != c.batch)
    throw std::invalid_argument("build_schedule: context_tokens must have `batch` entries");
  const ModeShape ms = mode_shape(c.mode);
  const auto L = static_cast<std::int32_t>(c.model.n_layers);
  LayerPlans plans;
  for (std::int32_t l = 0; l < L; ++l)
    plans.push_back(config::decode_layer_plan(config::mode_traits(c.mode), c.prefetch, l, L));
  Emitter e(c, sk);
  const auto per_step = static_cast<std::size_t>(L) * 18 + 8;
  out.ops.reserve(per_step * static_cast<std::size_t>(c.decode_steps + (c.prefill ? 1 : 0)));
  out.deps.reserve(static_cast<std::size_t>(L + 4) * 2 * static_cast<std::size_t>(c.decode_steps + 1));

  const ContextSums sums = context_sums(c);
  std::uint64_t prev_tail = kNoDep, prev_offload = kNoDep;
  if (c.prefill) prev_tail = emit_prefill(e, c, ms, sk, sums, prev_offload);
  for (std::int32_t s = 0; s < static_cast<std::int32_t>(c.decode_steps); ++s) {
    prev_tail = emit_decode_step(e, c, ms, plans, sk, s, sums.ctx, prev_tail, prev_offload);
    prev_offload = kNoDep;
  }
  return sk;
}

namespace {

// Duration (ns) of transfer `op` moving `bytes` in `chunks` pieces with `ctas`
// gather CTAs on the config's hardware.
void time_transfer(const ScheduleConfig& c, const trace::Op& op, std::uint64_t bytes,
                   std::uint32_t chunks, std::uint16_t ctas, std::int64_t& ns) {
  const double scale = op.kind == OpKind::d2d ? 1.0 : c.pcie_scale;
  ns = transfer_ns(c.hardware, op.kind, op.engine, bytes, chunks, ctas, scale);
}

}  // namespace

void time_skeleton(const ScheduleSkeleton& sk, const ScheduleConfig& c, const DurationFn& duration,
                   const LoadFn& loads, ScheduleTiming& out) {
  const auto& ops = sk.trace.ops;
  out.duration_ns.assign(ops.size(), 0);
  const auto& fixed = c.decode_stage_ns;
  for (std::size_t k = 0; k < sk.compute_ops.size(); ++k) {
    const OpKey& key = sk.keys[k];
    const bool by_stage = key.phase == Phase::decode && key.canonical_stage < fixed.size() &&
                          fixed[key.canonical_stage] >= 0;
    out.duration_ns[sk.compute_ops[k]] = by_stage ? fixed[key.canonical_stage] : duration(key, sk.costs[k]);
  }
  for (auto i : sk.host_ops) out.duration_ns[i] = c.host_step_ns;
  for (auto i : sk.launch_ops) out.duration_ns[i] = c.eager_launch_ns;
  for (auto i : sk.transfer_ops)
    time_transfer(c, ops[i], ops[i].bytes, ops[i].chunks, 0, out.duration_ns[i]);
  const auto block_bytes = static_cast<std::uint64_t>(gather_unit_bytes(c.model, c.mode));
  // DSA's token gathers are timed through `duration` (which an L2
  // reservation re-times: replay_l2.hpp); block gathers as configured.
  const bool d2d_by_duration = c.d2d_by_duration || config::mode_traits(c.mode).selects_tokens();
  out.gather_ctas = static_cast<std::uint16_t>(trace::holds_ctas(c.h2d_engine) ? c.gather_ctas : 0);
  out.gather_blocks.resize(sk.gather_ops.size());
  // The calibrated gather at this scenario's CTAs (the same for every gather):
  // time_ns(bytes) = latency + bytes / gbps, plus the wait beside compute on `side`.
  const bool calibrated = out.gather_ctas > 0 && c.gather_model && !c.gather_model->ctas.empty();
  const double ctas_d = out.gather_ctas;
  const double latency = calibrated ? c.gather_model->latency_at(ctas_d) : 0.0;
  const double gbps = calibrated ? c.gather_model->gbps_at(ctas_d) : 0.0;
  const double beside_side = calibrated ? c.gather_model->beside_at(ctas_d) : 0.0;
  for (std::size_t k = 0; k < sk.gather_ops.size(); ++k) {
    const trace::Op& op = ops[sk.gather_ops[k]];
    const std::uint64_t blocks = loads(op.step, op.layer);
    out.gather_blocks[k] = blocks;
    const std::uint16_t ctas = op.kind == OpKind::h2d ? out.gather_ctas : 0;
    const std::uint64_t bytes = blocks * block_bytes;
    std::int64_t& ns = out.duration_ns[sk.gather_ops[k]];
    if (op.kind == OpKind::d2d && d2d_by_duration) {
      const OpKey key{op.phase, op.step, op.layer, st::d2d_gather, 0, canonical_stage_id(st::d2d_gather)};
      ns = duration(key, OpCost{bytes, 0});
    } else if (op.kind == OpKind::h2d && c.h2d_by_duration) {
      const OpKey key{op.phase, op.step, op.layer, st::h2d_gather, 0, canonical_stage_id(st::h2d_gather)};
      ns = duration(key, OpCost{bytes, 0});
    } else if (op.kind == OpKind::h2d && calibrated) {
      // Calibrated zero-copy gather: latency + bytes / bandwidth(ctas).
      const double beside = op.stream == kSide ? beside_side : 0.0;
      ns = round_half_away((latency + static_cast<double>(bytes) / gbps) + beside);
    } else {
      time_transfer(c, op, bytes, static_cast<std::uint32_t>(blocks), ctas, ns);
    }
  }
}

void materialize(const ScheduleSkeleton& sk, const ScheduleTiming& tm,
                 std::uint64_t block_bytes, trace::Trace& out) {
  if (!out.ops.empty()) throw std::invalid_argument("build_schedule: output trace already has ops");
  out.streams = sk.trace.streams;
  out.stages = sk.trace.stages;
  out.ops = sk.trace.ops;
  out.deps = sk.trace.deps;
  for (std::size_t i = 0; i < out.ops.size(); ++i) out.ops[i].end_ns = tm.duration_ns[i];
  for (std::size_t k = 0; k < sk.gather_ops.size(); ++k) {
    trace::Op& op = out.ops[sk.gather_ops[k]];
    op.bytes = tm.gather_blocks[k] * block_bytes;
    op.chunks = static_cast<std::uint32_t>(tm.gather_blocks[k]);
    op.ctas = op.kind == OpKind::h2d ? tm.gather_ctas : 0;
  }
}

void build_schedule(const ScheduleConfig& c, const DurationFn& duration, const LoadFn& loads,
                    trace::Trace& out) {
  if (!out.ops.empty()) throw std::invalid_argument("build_schedule: output trace already has ops");
  const ScheduleSkeleton sk = build_skeleton(c);
  ScheduleTiming tm;
  time_skeleton(sk, c, duration, loads, tm);
  materialize(sk, tm, static_cast<std::uint64_t>(gather_unit_bytes(c.model, c.mode)), out);
}

}  // namespace foresight::sim

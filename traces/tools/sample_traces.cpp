// Synthetic sample traces (see sample_traces.hpp).
#include "sample_traces.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>

#include "foresight/config/footprint.hpp"
#include "foresight/trace/stages.hpp"
#include "foresight/workload/splitmix64.hpp"

namespace foresight::samples {
namespace {

using trace::Engine;
using trace::Op;
using trace::OpKind;
using trace::Phase;
using trace::StreamKind;
namespace stage = trace::stage;

struct Rng : workload::SplitMix64 {
  std::uint32_t below(std::uint32_t n) { return static_cast<std::uint32_t>(next() % n); }
};

// Appends ops to a Trace, keeping per-stream clocks: an op starts when its
// stream is free and its dependencies have ended.
class Timeline {
 public:
  explicit Timeline(trace::Trace& t) : t_(t) {}

  std::uint8_t stream(const std::string& name, StreamKind kind) {
    for (std::size_t i = 0; i < t_.streams.size(); ++i)
      if (t_.streams[i].name == name) return static_cast<std::uint8_t>(i);
    t_.streams.push_back({name, kind});
    free_.push_back(0);
    return static_cast<std::uint8_t>(t_.streams.size() - 1);
  }

  struct Rec {
    OpKind kind = OpKind::compute;
    std::string_view stage;
    std::uint8_t stream = 0;
    Phase phase = Phase::decode;
    std::int32_t step = 0;
    std::int16_t layer = -1;
    std::int32_t seq = -1;
    std::int64_t dur_ns = 0;
    std::uint64_t bytes = 0, flops = 0;
    std::uint32_t chunks = 0;
    std::uint16_t ctas = 0;
    Engine engine = Engine::none;
    std::vector<std::uint64_t> deps;
  };

  // Returns the new op's id. A wait op lasts until its dependencies end.
  std::uint64_t add(const Rec& r) {
    Op op;
    op.id = next_id_++;
    op.kind = r.kind;
    op.engine = r.engine;
    op.phase = r.phase;
    op.stage = stage_index(r.stage);
    op.stream = r.stream;
    op.step = r.step;
    op.layer = r.layer;
    op.seq = r.seq;
    std::int64_t ready = free_[r.stream];
    for (auto d : r.deps) ready = std::max(ready, end_of(d));
    op.start_ns = r.kind == OpKind::wait ? free_[r.stream] : ready;
    op.end_ns = r.kind == OpKind::wait ? ready : op.start_ns + r.dur_ns;
    op.bytes = r.bytes;
    op.flops = r.flops;
    op.chunks = r.chunks;
    op.ctas = r.ctas;
    op.dep_offset = t_.deps.size();
    op.dep_count = static_cast<std::uint32_t>(r.deps.size());
    t_.deps.insert(t_.deps.end(), r.deps.begin(), r.deps.end());
    free_[r.stream] = op.end_ns;
    t_.ops.push_back(op);
    return op.id;
  }

  std::int64_t end_of(std::uint64_t id) const { return t_.ops[id].end_ns; }  // ids == indices
  std::int64_t free_at(std::uint8_t s) const { return free_[s]; }

 private:
  std::uint16_t stage_index(std::string_view name) {
    for (std::size_t i = 0; i < t_.stages.size(); ++i)
      if (t_.stages[i] == name) return static_cast<std::uint16_t>(i);
    t_.stages.emplace_back(name);
    return static_cast<std::uint16_t>(t_.stages.size() - 1);
  }

  trace::Trace& t_;
  std::vector<std::int64_t> free_;
  std::uint64_t next_id_ = 0;
};

// Synthetic durations: launch overhead plus HBM bytes at 3 TB/s plus bf16
// FLOPs at 400 TFLOP/s; PCIe gathers at 50 GB/s plus 3 us.
std::int64_t compute_ns(std::uint64_t bytes, std::uint64_t flops) {
  return 2000 + static_cast<std::int64_t>(bytes / 3000 + flops / 400000);
}
std::int64_t pcie_ns(std::uint64_t bytes) { return 3000 + static_cast<std::int64_t>(bytes / 50); }

// Picks top-k block ids for one (layer, seq, head): sink and window forced,
// a fraction `reuse` of the previous step's other picks kept, the rest random.
std::vector<std::uint32_t> select(const config::ModelConfig& m, std::int64_t topk,
                                  std::int64_t n_blocks, const std::vector<std::uint32_t>& prev,
                                  Rng& rng, double reuse) {
  const auto n = static_cast<std::uint32_t>(n_blocks);
  const auto k = static_cast<std::size_t>(std::min<std::int64_t>(topk, n_blocks));
  std::vector<bool> taken(n, false);
  std::vector<std::uint32_t> out;
  auto take = [&](std::uint32_t b) {
    if (b < n && !taken[b] && out.size() < k) {
      taken[b] = true;
      out.push_back(b);
    }
  };
  for (std::int64_t b = 0; b < m.sparse.sink_blocks; ++b) take(static_cast<std::uint32_t>(b));
  for (std::int64_t b = std::max<std::int64_t>(0, n_blocks - m.sparse.window_blocks); b < n_blocks;
       ++b)
    take(static_cast<std::uint32_t>(b));
  for (auto b : prev)
    if (rng.uniform() < reuse) take(b);
  while (out.size() < k) take(rng.below(n));
  std::sort(out.begin(), out.end());
  return out;
}

std::size_t overlap(const std::vector<std::uint32_t>& a, const std::vector<std::uint32_t>& b) {
  std::size_t i = 0, j = 0, n = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i] == b[j])
      ++n, ++i, ++j;
    else if (a[i] < b[j])
      ++i;
    else
      ++j;
  }
  return n;
}

}  // namespace

trace::Trace build_sample(const SampleSpec& s) {
  using config::Mode;
  if (s.mode != Mode::dense && s.mode != Mode::sparse_offload && s.mode != Mode::sparda)
    throw std::invalid_argument("build_sample: only dense, sparse-offload and sparda are modelled");
  trace::Trace t;
  auto& h = t.header;
  h.tool_version = FORESIGHT_VERSION;
  h.created_utc = "2026-01-01T00:00:00Z";  // fixed: samples are reproducible byte for byte
  h.clock = "synthetic";
  h.model = tiny_model();
  h.hardware = h100_hardware();
  h.run = run_config(s);
  const auto& m = h.model;
  const auto& run = h.run;
  const config::ModeTraits& mt = config::mode_traits(s.mode);
  const bool sparse = mt.selects();  // both selecting modes here offload KV
  const bool sparda = mt.forecast();
  const std::int64_t topk = run.topk_blocks, bt = m.sparse.block_tokens;
  const int L = static_cast<int>(m.n_layers), B = static_cast<int>(run.batch),
            H = static_cast<int>(m.n_kv_heads);
  const auto dt = static_cast<std::uint64_t>(m.dtype_bytes);
  const auto kv_tok = static_cast<std::uint64_t>(m.kv_bytes_per_token_layer());
  const auto block_bytes_head = static_cast<std::uint64_t>(bt * 2 * m.head_dim) * dt;
  const auto qkvf = static_cast<std::uint64_t>(
      m.hidden * (m.n_heads + 2 * m.n_kv_heads + (sparda ? m.n_kv_heads : 0)) * m.head_dim);
  const auto o_w = static_cast<std::uint64_t>(m.n_heads * m.head_dim * m.hidden);
  const auto mlp_w = static_cast<std::uint64_t>(3 * m.hidden * m.intermediate);
  std::uint64_t total_ctx = 0;
  for (auto c : run.context_tokens) total_ctx += static_cast<std::uint64_t>(c);
  t.selection_width = sparse ? static_cast<std::uint32_t>(topk) : 0;

  Timeline tl(t);
  const auto main = tl.stream("main", StreamKind::compute);
  const auto side = sparse ? tl.stream("side", StreamKind::copy) : main;
  const auto d2h = sparse ? tl.stream("d2h", StreamKind::copy) : main;
  const auto host = tl.stream("host", StreamKind::host);
  using Rec = Timeline::Rec;
  auto compute = [&](std::string_view st, Phase ph, int step, int layer, std::uint64_t bytes,
                     std::uint64_t flops, std::vector<std::uint64_t> deps = {}) {
    return tl.add(Rec{OpKind::compute, st, main, ph, step, static_cast<std::int16_t>(layer), -1,
                      compute_ns(bytes, flops), bytes, flops, 0, 0, Engine::none, std::move(deps)});
  };

  // Prefill: one chunk of every prompt; KV copied to pinned host memory.
  for (int l = 0; l < L; ++l) {
    compute(stage::qkvf_gemm, Phase::prefill, 0, l, qkvf * dt, 2 * total_ctx * qkvf);
    std::uint64_t attn_flops = 0;
    for (auto c : run.context_tokens)
      attn_flops += static_cast<std::uint64_t>(2 * m.n_heads * m.head_dim * c * c);
    const auto a =
        compute(stage::prefill_attention, Phase::prefill, 0, l, total_ctx * kv_tok, attn_flops);
    compute(stage::mlp, Phase::prefill, 0, l, mlp_w * dt, 2 * total_ctx * mlp_w);
    if (sparse)
      tl.add(Rec{OpKind::d2h,
                 stage::prefill_kv_offload,
                 d2h,
                 Phase::prefill,
                 0,
                 static_cast<std::int16_t>(l),
                 -1,
                 pcie_ns(total_ctx * kv_tok),
                 total_ctx * kv_tok,
                 0,
                 static_cast<std::uint32_t>(total_ctx / static_cast<std::uint64_t>(bt)),
                 0,
                 Engine::memcpy_bulk,
                 {a}});
  }
  t.steps.push_back({Phase::prefill, 0, 0, tl.free_at(main)});

  // prev[(l * B + seq) * H + head]: last selection, i.e. the GPU working set.
  std::vector<std::vector<std::uint32_t>> prev(static_cast<std::size_t>(L * B * H));
  Rng rng{s.seed};
  // Selects layer `l`'s blocks for `step`; returns the blocks to load.
  auto select_layer = [&](int step, int l) -> std::uint64_t {
    trace::CacheOutcome c{step, static_cast<std::int16_t>(l), 0, 0, 0, 0};
    for (int seq = 0; seq < B; ++seq) {
      const std::int64_t n_blocks =
          (run.context_tokens[static_cast<std::size_t>(seq)] + step + 1 + bt - 1) / bt;
      for (int hd = 0; hd < H; ++hd) {
        auto& p = prev[static_cast<std::size_t>((l * B + seq) * H + hd)];
        auto sel = select(m, topk, n_blocks, p, rng, run.workload.reuse);
        const bool resident = sparda && l == 0;  // SparDA keeps layer 0's KV on the GPU
        c.selected += sel.size();
        c.hits += resident ? sel.size() : overlap(sel, p);
        t.selection_keys.push_back({step, static_cast<std::int16_t>(l), seq,
                                    static_cast<std::uint16_t>(hd),
                                    static_cast<std::uint16_t>(sel.size())});
        auto row = sel;
        row.resize(static_cast<std::size_t>(topk), trace::Trace::kNoBlock);
        t.selection_blocks.insert(t.selection_blocks.end(), row.begin(), row.end());
        p = std::move(sel);
      }
    }
    c.misses = c.selected - c.hits;
    c.loaded_bytes = c.misses * block_bytes_head;
    t.cache.push_back(c);
    return c.misses;
  };
  // Scores, top-k and working-set diff for layer `target` (on main), then the
  // gather of its missing blocks on the side stream; returns the gather's id.
  auto prep = [&](int step, int l, int target) -> std::uint64_t {
    const auto score_bytes = static_cast<std::uint64_t>(B * H) * (total_ctx / 4) *
                             static_cast<std::uint64_t>(m.head_dim) * dt;
    compute(stage::score, Phase::decode, step, l, score_bytes, score_bytes);
    compute(stage::pool_topk, Phase::decode, step, l, score_bytes / 8, 0);
    const std::uint64_t misses = select_layer(step, target);
    const auto ws = compute(stage::ws_update, Phase::decode, step, l, 4096, 0);
    const std::uint64_t bytes = misses * block_bytes_head;
    return tl.add(Rec{OpKind::h2d,
                      stage::h2d_gather,
                      side,
                      Phase::decode,
                      step,
                      static_cast<std::int16_t>(target),
                      -1,
                      pcie_ns(bytes),
                      bytes,
                      0,
                      static_cast<std::uint32_t>(misses),
                      static_cast<std::uint16_t>(run.gather_ctas),
                      Engine::zero_copy_gather,
                      {ws}});
  };

  const std::int64_t n_steps = s.stop_after_steps >= 0 ? s.stop_after_steps : s.decode_steps;
  for (int step = 0; step < n_steps; ++step) {
    const std::int64_t step_start = tl.free_at(main);
    const auto plan = tl.add(Rec{OpKind::host,
                                 stage::host,
                                 host,
                                 Phase::decode,
                                 step,
                                 -1,
                                 -1,
                                 4000,
                                 0,
                                 0,
                                 0,
                                 0,
                                 Engine::none,
                                 {}});
    compute(stage::embed, Phase::decode, step, -1, static_cast<std::uint64_t>(B * m.hidden) * dt, 0,
            {plan});
    std::vector<std::uint64_t> gather_of(static_cast<std::size_t>(L), 0);
    for (int l = 0; l < L; ++l) {
      const auto act = static_cast<std::uint64_t>(B * m.hidden) * dt;
      compute(stage::rmsnorm, Phase::decode, step, l, 2 * act, 4 * act);
      compute(stage::qkvf_gemm, Phase::decode, step, l, qkvf * dt,
              2 * static_cast<std::uint64_t>(B) * qkvf);
      compute(stage::rope, Phase::decode, step, l, act, act);
      if (sparse) compute(stage::compress, Phase::decode, step, l, kv_tok * 32, kv_tok * 16);
      if (sparda) {
        if (l == 0) {
          compute(stage::score, Phase::decode, step, 0, 4096, 4096);
          compute(stage::pool_topk, Phase::decode, step, 0, 512, 0);
          select_layer(step, 0);
        }
        if (l + 1 < L) gather_of[static_cast<std::size_t>(l + 1)] = prep(step, l, l + 1);
      } else if (sparse) {
        gather_of[static_cast<std::size_t>(l)] = prep(step, l, l);
      }
      if (sparse && (l > 0 || !sparda))
        tl.add(Rec{OpKind::wait,
                   stage::wait_kv,
                   main,
                   Phase::decode,
                   step,
                   static_cast<std::int16_t>(l),
                   -1,
                   0,
                   0,
                   0,
                   0,
                   0,
                   Engine::none,
                   {gather_of[static_cast<std::size_t>(l)]}});
      const auto kvw = compute(stage::kv_write, Phase::decode, step, l,
                               static_cast<std::uint64_t>(B) * kv_tok, 0);
      const std::uint64_t attended = sparse ? static_cast<std::uint64_t>(B * topk * bt)
                                            : total_ctx + static_cast<std::uint64_t>(B * step);
      compute(stage::attention, Phase::decode, step, l, attended * kv_tok,
              attended * 4 * static_cast<std::uint64_t>(m.n_heads * m.head_dim) /
                  static_cast<std::uint64_t>(H));
      compute(stage::o_proj, Phase::decode, step, l, o_w * dt,
              2 * static_cast<std::uint64_t>(B) * o_w);
      compute(stage::mlp, Phase::decode, step, l, mlp_w * dt,
              2 * static_cast<std::uint64_t>(B) * mlp_w);
      for (int seq = 0; sparse && seq < B; ++seq) {
        if ((run.context_tokens[static_cast<std::size_t>(seq)] + step + 1) % bt != 0) continue;
        const auto bytes = static_cast<std::uint64_t>(bt) * kv_tok;
        tl.add(Rec{OpKind::d2h,
                   stage::kv_writeback,
                   d2h,
                   Phase::decode,
                   step,
                   static_cast<std::int16_t>(l),
                   seq,
                   pcie_ns(bytes),
                   bytes,
                   0,
                   1,
                   0,
                   Engine::memcpy_bulk,
                   {kvw}});
      }
    }
    const auto head_w = static_cast<std::uint64_t>(m.vocab * m.hidden);
    compute(stage::lm_head, Phase::decode, step, -1, head_w * dt,
            2 * static_cast<std::uint64_t>(B) * head_w);
    compute(stage::argmax, Phase::decode, step, -1, static_cast<std::uint64_t>(B * m.vocab) * 4, 0);
    t.steps.push_back({Phase::decode, step, step_start, tl.free_at(main)});
  }

  // Memory: the run's footprint, as the runtime plans it.
  t.memory = config::footprint(m, run, h.hardware).items;
  if (s.stop_after_steps >= 0) {
    h.status = trace::RunStatus::truncated;
    h.status_reason = "interrupted after " + std::to_string(n_steps) + " of " +
                      std::to_string(s.decode_steps) + " decode steps (synthetic sample)";
  }
  return t;
}
}  // namespace foresight::samples

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

// The trace header of a sample: fixed creation time (samples are reproducible
// byte for byte), synthetic clock, tiny model on H100, the spec's run.
trace::Header sample_header(const SampleSpec& s) {
  trace::Header h;
  h.tool_version = FORESIGHT_VERSION;
  h.created_utc = "2026-01-01T00:00:00Z";
  h.clock = "synthetic";
  h.model = tiny_model();
  h.hardware = h100_hardware();
  h.run = run_config(s);
  return h;
}

// Builds one sample trace: prefill, then decode steps whose layers select
// blocks (sparse modes), gather the misses over PCIe and write KV back.
class SampleBuilder {
 public:
  explicit SampleBuilder(const SampleSpec& s);
  trace::Trace build();

 private:
  using Rec = Timeline::Rec;
  // One op on the main stream; returns its id.
  std::uint64_t compute(std::string_view st, Phase ph, int step, int layer, std::uint64_t bytes,
                        std::uint64_t flops, std::vector<std::uint64_t> deps = {});
  void prefill();                  // one chunk of every prompt; KV copied to pinned host memory
  void decode_step(int step);      // host plan, embed, every layer, LM head
  void decode_layer(int step, int l, std::vector<std::uint64_t>& gather_of);
  void kv_writebacks(int step, int l, std::uint64_t kv_write);  // full blocks to host (sparse)
  std::uint64_t select_layer(int step, int l);      // records selections; returns blocks to load
  std::uint64_t prep(int step, int l, int target);  // score, top-k, gather; returns the gather's id

  const SampleSpec& s_;
  trace::Trace t_;
  const config::ModelConfig& m_ = t_.header.model;
  const config::RunConfig& run_ = t_.header.run;
  Timeline tl_{t_};
  bool sparse_ = false;  // both selecting modes here offload KV
  bool sparda_ = false;
  std::int64_t topk_ = 0, bt_ = 0;  // blocks; tokens per block
  int L_ = 0, B_ = 0, H_ = 0;       // layers, sequences, KV heads
  std::uint64_t dt_ = 0, kv_tok_ = 0, block_bytes_head_ = 0;  // bytes
  std::uint64_t qkvf_ = 0, o_w_ = 0, mlp_w_ = 0;              // weight elements
  std::uint64_t total_ctx_ = 0;                               // tokens over all prompts
  std::uint8_t main_ = 0, side_ = 0, d2h_ = 0, host_ = 0;     // streams
  // prev_[(l * B + seq) * H + head]: last selection, i.e. the GPU working set.
  std::vector<std::vector<std::uint32_t>> prev_;
  Rng rng_;
};

SampleBuilder::SampleBuilder(const SampleSpec& s) : s_(s), rng_{s.seed} {
  using config::Mode;
  if (s.mode != Mode::dense && s.mode != Mode::sparse_offload && s.mode != Mode::sparda)
    throw std::invalid_argument("build_sample: only dense, sparse-offload and sparda are modelled");
  t_.header = sample_header(s);
  const auto& m = m_;
  const config::ModeTraits& mt = config::mode_traits(s.mode);
  sparse_ = mt.selects_blocks();
  sparda_ = mt.forecast();
  topk_ = run_.topk_blocks;
  bt_ = m.sparse.block_tokens;
  L_ = static_cast<int>(m.n_layers);
  B_ = static_cast<int>(run_.batch);
  H_ = static_cast<int>(m.n_kv_heads);
  dt_ = static_cast<std::uint64_t>(m.dtype_bytes);
  kv_tok_ = static_cast<std::uint64_t>(m.kv_bytes_per_token_layer());
  block_bytes_head_ = static_cast<std::uint64_t>(bt_ * 2 * m.head_dim) * dt_;
  qkvf_ = static_cast<std::uint64_t>(m.hidden * (m.n_heads + 2 * m.n_kv_heads + (sparda_ ? m.n_kv_heads : 0)) *
                                     m.head_dim);
  o_w_ = static_cast<std::uint64_t>(m.n_heads * m.head_dim * m.hidden);
  mlp_w_ = static_cast<std::uint64_t>(3 * m.hidden * m.intermediate);
  for (auto c : run_.context_tokens) total_ctx_ += static_cast<std::uint64_t>(c);
  t_.selection_width = sparse_ ? static_cast<std::uint32_t>(topk_) : 0;
  main_ = tl_.stream("main", StreamKind::compute);
  side_ = sparse_ ? tl_.stream("side", StreamKind::copy) : main_;
  d2h_ = sparse_ ? tl_.stream("d2h", StreamKind::copy) : main_;
  host_ = tl_.stream("host", StreamKind::host);
  prev_.resize(static_cast<std::size_t>(L_ * B_ * H_));
}

std::uint64_t SampleBuilder::compute(std::string_view st, Phase ph, int step, int layer, std::uint64_t bytes,
                                     std::uint64_t flops, std::vector<std::uint64_t> deps) {
  return tl_.add(Rec{OpKind::compute, st, main_, ph, step, static_cast<std::int16_t>(layer), -1,
                     compute_ns(bytes, flops), bytes, flops, 0, 0, Engine::none, std::move(deps)});
}

void SampleBuilder::prefill() {
  const auto& m = m_;
  for (int l = 0; l < L_; ++l) {
    compute(stage::qkvf_gemm, Phase::prefill, 0, l, qkvf_ * dt_, 2 * total_ctx_ * qkvf_);
    std::uint64_t attn_flops = 0;
    for (auto c : run_.context_tokens) attn_flops += static_cast<std::uint64_t>(2 * m.n_heads * m.head_dim * c * c);
    const auto a = compute(stage::prefill_attention, Phase::prefill, 0, l, total_ctx_ * kv_tok_, attn_flops);
    compute(stage::mlp, Phase::prefill, 0, l, mlp_w_ * dt_, 2 * total_ctx_ * mlp_w_);
    if (sparse_)
      tl_.add(Rec{OpKind::d2h, stage::prefill_kv_offload, d2h_, Phase::prefill, 0, static_cast<std::int16_t>(l), -1,
                  pcie_ns(total_ctx_ * kv_tok_), total_ctx_ * kv_tok_, 0,
                  static_cast<std::uint32_t>(total_ctx_ / static_cast<std::uint64_t>(bt_)), 0, Engine::memcpy_bulk,
                  {a}});
  }
  t_.steps.push_back({Phase::prefill, 0, 0, tl_.free_at(main_)});
}

std::uint64_t SampleBuilder::select_layer(int step, int l) {
  trace::CacheOutcome c{step, static_cast<std::int16_t>(l), 0, 0, 0, 0};
  for (int seq = 0; seq < B_; ++seq) {
    const std::int64_t n_blocks = (run_.context_tokens[static_cast<std::size_t>(seq)] + step + 1 + bt_ - 1) / bt_;
    for (int hd = 0; hd < H_; ++hd) {
      auto& p = prev_[static_cast<std::size_t>((l * B_ + seq) * H_ + hd)];
      auto sel = select(m_, topk_, n_blocks, p, rng_, run_.workload.reuse);
      const bool resident = sparda_ && l == 0;  // SparDA keeps layer 0's KV on the GPU
      c.selected += sel.size();
      c.hits += resident ? sel.size() : overlap(sel, p);
      t_.selection_keys.push_back({step, static_cast<std::int16_t>(l), seq, static_cast<std::uint16_t>(hd),
                                   static_cast<std::uint16_t>(sel.size())});
      auto row = sel;
      row.resize(static_cast<std::size_t>(topk_), trace::Trace::kNoBlock);
      t_.selection_blocks.insert(t_.selection_blocks.end(), row.begin(), row.end());
      p = std::move(sel);
    }
  }
  c.misses = c.selected - c.hits;
  c.loaded_bytes = c.misses * block_bytes_head_;
  t_.cache.push_back(c);
  return c.misses;
}

// Scores, top-k and working-set diff for layer `target` (on main), then the
// gather of its missing blocks on the side stream.
std::uint64_t SampleBuilder::prep(int step, int l, int target) {
  const auto score_bytes = static_cast<std::uint64_t>(B_ * H_) * (total_ctx_ / 4) *
                           static_cast<std::uint64_t>(m_.head_dim) * dt_;
  compute(stage::score, Phase::decode, step, l, score_bytes, score_bytes);
  compute(stage::pool_topk, Phase::decode, step, l, score_bytes / 8, 0);
  const std::uint64_t misses = select_layer(step, target);
  const auto ws = compute(stage::ws_update, Phase::decode, step, l, 4096, 0);
  const std::uint64_t bytes = misses * block_bytes_head_;
  return tl_.add(Rec{OpKind::h2d, stage::h2d_gather, side_, Phase::decode, step, static_cast<std::int16_t>(target), -1,
                     pcie_ns(bytes), bytes, 0, static_cast<std::uint32_t>(misses),
                     static_cast<std::uint16_t>(run_.gather_ctas), Engine::zero_copy_gather, {ws}});
}

void SampleBuilder::kv_writebacks(int step, int l, std::uint64_t kv_write) {
  for (int seq = 0; sparse_ && seq < B_; ++seq) {
    if ((run_.context_tokens[static_cast<std::size_t>(seq)] + step + 1) % bt_ != 0) continue;
    const auto bytes = static_cast<std::uint64_t>(bt_) * kv_tok_;
    tl_.add(Rec{OpKind::d2h, stage::kv_writeback, d2h_, Phase::decode, step, static_cast<std::int16_t>(l), seq,
                pcie_ns(bytes), bytes, 0, 1, 0, Engine::memcpy_bulk, {kv_write}});
  }
}

// gather_of[l]: the gather op layer l waits for (sparse modes).
void SampleBuilder::decode_layer(int step, int l, std::vector<std::uint64_t>& gather_of) {
  const auto& m = m_;
  const auto B = static_cast<std::uint64_t>(B_);
  const auto act = static_cast<std::uint64_t>(B_ * m.hidden) * dt_;
  compute(stage::rmsnorm, Phase::decode, step, l, 2 * act, 4 * act);
  compute(stage::qkvf_gemm, Phase::decode, step, l, qkvf_ * dt_, 2 * B * qkvf_);
  compute(stage::rope, Phase::decode, step, l, act, act);
  if (sparse_) compute(stage::compress, Phase::decode, step, l, kv_tok_ * 32, kv_tok_ * 16);
  if (sparda_) {
    if (l == 0) {
      compute(stage::score, Phase::decode, step, 0, 4096, 4096);
      compute(stage::pool_topk, Phase::decode, step, 0, 512, 0);
      select_layer(step, 0);
    }
    if (l + 1 < L_) gather_of[static_cast<std::size_t>(l + 1)] = prep(step, l, l + 1);
  } else if (sparse_) {
    gather_of[static_cast<std::size_t>(l)] = prep(step, l, l);
  }
  if (sparse_ && (l > 0 || !sparda_))
    tl_.add(Rec{OpKind::wait, stage::wait_kv, main_, Phase::decode, step, static_cast<std::int16_t>(l), -1, 0, 0, 0,
                0, 0, Engine::none, {gather_of[static_cast<std::size_t>(l)]}});
  const auto kvw = compute(stage::kv_write, Phase::decode, step, l, B * kv_tok_, 0);
  const std::uint64_t attended = sparse_ ? static_cast<std::uint64_t>(B_ * topk_ * bt_)
                                         : total_ctx_ + static_cast<std::uint64_t>(B_ * step);
  compute(stage::attention, Phase::decode, step, l, attended * kv_tok_,
          attended * 4 * static_cast<std::uint64_t>(m.n_heads * m.head_dim) / static_cast<std::uint64_t>(H_));
  compute(stage::o_proj, Phase::decode, step, l, o_w_ * dt_, 2 * B * o_w_);
  compute(stage::mlp, Phase::decode, step, l, mlp_w_ * dt_, 2 * B * mlp_w_);
  kv_writebacks(step, l, kvw);
}

void SampleBuilder::decode_step(int step) {
  const auto& m = m_;
  const std::int64_t step_start = tl_.free_at(main_);
  const auto plan = tl_.add(Rec{OpKind::host, stage::host, host_, Phase::decode, step, -1, -1, 4000, 0, 0, 0, 0,
                                Engine::none, {}});
  compute(stage::embed, Phase::decode, step, -1, static_cast<std::uint64_t>(B_ * m.hidden) * dt_, 0, {plan});
  std::vector<std::uint64_t> gather_of(static_cast<std::size_t>(L_), 0);
  for (int l = 0; l < L_; ++l) decode_layer(step, l, gather_of);
  const auto head_w = static_cast<std::uint64_t>(m.vocab * m.hidden);
  compute(stage::lm_head, Phase::decode, step, -1, head_w * dt_, 2 * static_cast<std::uint64_t>(B_) * head_w);
  compute(stage::argmax, Phase::decode, step, -1, static_cast<std::uint64_t>(B_ * m.vocab) * 4, 0);
  t_.steps.push_back({Phase::decode, step, step_start, tl_.free_at(main_)});
}

trace::Trace SampleBuilder::build() {
  prefill();
  const std::int64_t n_steps = s_.stop_after_steps >= 0 ? s_.stop_after_steps : s_.decode_steps;
  for (int step = 0; step < n_steps; ++step) decode_step(step);
  // Memory: the run's footprint, as the runtime plans it.
  t_.memory = config::footprint(m_, run_, t_.header.hardware).items;
  if (s_.stop_after_steps >= 0) {
    t_.header.status = trace::RunStatus::truncated;
    t_.header.status_reason = "interrupted after " + std::to_string(n_steps) + " of " +
                              std::to_string(s_.decode_steps) + " decode steps (synthetic sample)";
  }
  return std::move(t_);
}

}  // namespace

trace::Trace build_sample(const SampleSpec& s) { return SampleBuilder(s).build(); }
}  // namespace foresight::samples

// DecodeEngine: set-up, the shared layer halves and the decode step.
#include <algorithm>
#include <stdexcept>

#include <fmt/core.h>

#include "engine_state.hpp"
#include "foresight/runtime/memory_plan.hpp"

namespace foresight::runtime {

namespace st = trace::stage;
using config::Mode;

namespace {
template <class T>
DeviceArray<T> upload(Backend& be, const std::vector<T>& v) {
  DeviceArray<T> d(be, v.size());
  if (!v.empty()) d.upload(v.data(), v.size());
  return d;
}
std::uint64_t gemm_flops(std::int64_t rows, std::int64_t in, std::int64_t out) {
  return static_cast<std::uint64_t>(2 * rows * in * out);
}
std::uint64_t gemm_bytes(std::int64_t rows, std::int64_t in, std::int64_t out) {
  return static_cast<std::uint64_t>(2 * (rows * in + in * out + rows * out));
}
}  // namespace

DecodeEngine::State::State(const config::ModelConfig& model, const Weights& w, Backend& backend,
                           Recorder& recorder, EngineOptions options)
    : m(model), be(backend), rec(recorder), o(std::move(options)) {
  if (o.mode != Mode::dense && o.mode != Mode::sparse && o.mode != Mode::sparda_no_offload) {
    throw std::invalid_argument(fmt::format(
        "mode '{}' is not implemented by this runtime yet (dense, sparse, sparda-no-offload)",
        config::to_string(o.mode)));
  }
  if (o.context_tokens.empty()) throw std::invalid_argument("context_tokens: need at least one sequence");
  for (auto c : o.context_tokens) {
    if (c < 1) throw std::invalid_argument("context_tokens: every sequence needs at least 1 token");
  }
  if (o.topk_blocks < 1) throw std::invalid_argument("topk_blocks must be >= 1");
  B = static_cast<int>(o.context_tokens.size());
  H = static_cast<int>(m.hidden);
  nh = static_cast<int>(m.n_heads);
  nkv = static_cast<int>(m.n_kv_heads);
  hd = static_cast<int>(m.head_dim);
  I = static_cast<int>(m.intermediate);
  V = static_cast<int>(m.vocab);
  L = static_cast<int>(m.n_layers);
  R = static_cast<int>(qkvf_rows(m));
  group = nh / nkv;
  q_off = 0;
  k_off = nh * hd;
  v_off = k_off + nkv * hd;
  f_off = v_off + nkv * hd;
  block = static_cast<int>(m.sparse.block_tokens);
  ck = static_cast<int>(m.sparse.compress_kernel);
  cs = static_cast<int>(m.sparse.compress_stride);
  k = static_cast<int>(o.topk_blocks);
  sparse = o.mode != Mode::dense;
  forecast_selects = o.mode == Mode::sparda_no_offload;
  ctx = o.context_tokens;
  std::int64_t longest = 0;
  for (auto c : ctx) longest = std::max(longest, c + std::max<std::int64_t>(o.max_steps, 1));
  max_blocks = (longest + block - 1) / block;
  max_tokens = max_blocks * block;
  max_comp = std::max<std::int64_t>(comp_count(max_tokens), 1);
  act_rows = static_cast<int>(std::max<std::int64_t>(B, o.prefill_chunk_tokens));

  // Weights.
  for (const auto& lw : w.layers) {
    wl.push_back({upload(be, lw.attn_norm), upload(be, lw.wqkvf), upload(be, lw.wo), upload(be, lw.ffn_norm),
                  upload(be, lw.w_gate_up), upload(be, lw.w_down)});
  }
  embed = upload(be, w.embed);
  final_norm = upload(be, w.final_norm);
  if (!w.lm_head.empty()) lm_head = upload(be, w.lm_head);
  lm_head_ptr = w.lm_head.empty() ? embed.get() : lm_head.get();
  selector = upload(be, w.layer0_selector);
  kernels::RopeFrequencies rf;
  rf.theta = m.rope_theta;
  if (m.rope_scaling.type == "llama3") {
    rf.kind = kernels::RopeFrequencies::Kind::kLlama3;
    rf.factor = m.rope_scaling.factor;
    rf.low_freq_factor = m.rope_scaling.low_freq_factor;
    rf.high_freq_factor = m.rope_scaling.high_freq_factor;
    rf.original_max_position = static_cast<double>(m.rope_scaling.original_max_position);
  }
  inv_freq = upload(be, kernels::rope_inv_freq(rf, hd));

  auto rows = static_cast<std::size_t>(act_rows);
  x = DeviceArray<bf16>(be, rows * H);
  xn = DeviceArray<bf16>(be, rows * H);
  qkvf = DeviceArray<bf16>(be, rows * R);
  q = DeviceArray<bf16>(be, static_cast<std::size_t>(B) * nh * hd);
  attn = DeviceArray<bf16>(be, rows * nh * hd);
  tmp = DeviceArray<bf16>(be, rows * H);
  gate_up = DeviceArray<bf16>(be, rows * 2 * I);
  act = DeviceArray<bf16>(be, rows * I);
  logits = DeviceArray<bf16>(be, static_cast<std::size_t>(B) * V);
  sel_q = DeviceArray<bf16>(be, static_cast<std::size_t>(B) * nkv * hd);
  k_tmp = DeviceArray<bf16>(be, static_cast<std::size_t>(max_tokens) * nkv * hd);
  for (auto* a : {&ids, &pos}) *a = DeviceArray<std::int32_t>(be, rows);
  for (auto* a : {&counts, &n_comp, &n_comp_prev, &n_blocks, &out_ids}) *a = DeviceArray<std::int32_t>(be, B);

  const std::size_t store = static_cast<std::size_t>(B) * nkv * max_tokens * hd;
  for (int l = 0; l < L; ++l) {
    k_store.emplace_back(be, store);
    v_store.emplace_back(be, store);
    if (sparse) {
      kc.emplace_back(be, static_cast<std::size_t>(B) * kc_seq_stride());
      ring.emplace_back(be, static_cast<std::size_t>(B) * ck * nkv * hd);
      selected.emplace_back(be, static_cast<std::size_t>(B) * nkv * k);
      block_map.emplace_back(be, static_cast<std::size_t>(B) * nkv * k);
      std::vector<std::int32_t> empty(static_cast<std::size_t>(B) * nkv * k, -1);
      block_map.back().upload(empty.data(), empty.size());
      const std::size_t slots = static_cast<std::size_t>(B) * nkv * (k + 1) * block * hd;
      slots_k.emplace_back(be, slots);
      slots_v.emplace_back(be, slots);
      tail_block.emplace_back(static_cast<std::size_t>(B) * nkv, -1);
    }
  }
  if (sparse) {
    const std::size_t rws = static_cast<std::size_t>(B) * nkv;
    scores = DeviceArray<float>(be, rws * max_comp);
    for (auto* a : {&load_block, &load_slot}) *a = DeviceArray<std::int32_t>(be, rws * k);
    slot_list = DeviceArray<std::int32_t>(be, rws * (k + 1));
    for (auto* a : {&load_count, &list_len, &tail_block_dev}) *a = DeviceArray<std::int32_t>(be, rws);
    tail_tokens = DeviceArray<std::int32_t>(be, B);
    query_selected = DeviceArray<std::int32_t>(be, rws * k);
    recall.assign(o.measure_recall && forecast_selects ? static_cast<std::size_t>(L) : 0, {});
  }
}

void DecodeEngine::State::layer_front(int l, int rows) {
  const auto& w = wl[static_cast<std::size_t>(l)];
  const auto ls = static_cast<std::int16_t>(l);
  rec.op({st::rmsnorm, ls, -1, static_cast<std::uint64_t>(4 * rows * H)}, [&] {
    be.rmsnorm({x.get(), w.attn_norm.get(), xn.get(), rows, H, 0, 0, static_cast<float>(m.rms_eps)});
  });
  rec.op({st::qkvf_gemm, ls, -1, gemm_bytes(rows, H, R), gemm_flops(rows, H, R)}, [&] {
    kernels::GemmParams g;
    g.x = xn.get(); g.w = w.wqkvf.get(); g.y = qkvf.get(); g.rows = rows; g.in = H; g.out = R;
    be.gemm(g);
  });
}

void DecodeEngine::State::layer_back(int l, int rows) {
  const auto& w = wl[static_cast<std::size_t>(l)];
  const auto ls = static_cast<std::int16_t>(l);
  const std::int64_t n = static_cast<std::int64_t>(rows) * H;
  rec.op({st::o_proj, ls, -1, gemm_bytes(rows, nh * hd, H), gemm_flops(rows, nh * hd, H)}, [&] {
    kernels::GemmParams g;
    g.x = attn.get(); g.w = w.wo.get(); g.y = tmp.get(); g.rows = rows; g.in = nh * hd; g.out = H;
    be.gemm(g);
    be.residual_add({x.get(), tmp.get(), x.get(), n});
  });
  rec.op({st::rmsnorm, ls, -1, static_cast<std::uint64_t>(4 * n)}, [&] {
    be.rmsnorm({x.get(), w.ffn_norm.get(), xn.get(), rows, H, 0, 0, static_cast<float>(m.rms_eps)});
  });
  rec.op({st::mlp, ls, -1, gemm_bytes(rows, H, 2 * I) + gemm_bytes(rows, I, H),
          gemm_flops(rows, H, 2 * I) + gemm_flops(rows, I, H)},
         [&] {
           kernels::GemmParams g;
           g.x = xn.get(); g.w = w.w_gate_up.get(); g.y = gate_up.get(); g.rows = rows; g.in = H; g.out = 2 * I;
           be.gemm(g);
           be.swiglu({gate_up.get(), act.get(), rows, I});
           kernels::GemmParams d;
           d.x = act.get(); d.w = w.w_down.get(); d.y = tmp.get(); d.rows = rows; d.in = I; d.out = H;
           be.gemm(d);
           be.residual_add({x.get(), tmp.get(), x.get(), n});
         });
}

void DecodeEngine::State::write_kv_token(int l, int b, std::int64_t token, const bf16* k_row, const bf16* v_row) {
  const std::size_t bytes = static_cast<std::size_t>(hd) * sizeof(bf16);
  for (int g = 0; g < nkv; ++g) {
    be.device_copy(k_store[static_cast<std::size_t>(l)].get() + store_offset(b, g, token), k_row + g * hd, bytes);
    be.device_copy(v_store[static_cast<std::size_t>(l)].get() + store_offset(b, g, token), v_row + g * hd, bytes);
  }
}

void DecodeEngine::State::decode_layer(int l) {
  const auto ls = static_cast<std::int16_t>(l);
  const auto lz = static_cast<std::size_t>(l);
  layer_front(l, B);
  rec.op({st::rope, ls, -1, static_cast<std::uint64_t>(4 * B * (nh + 2 * nkv) * hd)}, [&] {
    kernels::RopeParams r;
    r.q = qkvf.get() + q_off; r.k = qkvf.get() + k_off;
    r.f = forecast_selects ? qkvf.get() + f_off : nullptr;
    r.positions = pos.get(); r.inv_freq = inv_freq.get();
    r.batch = B; r.n_heads = nh; r.n_kv_heads = nkv; r.head_dim = hd;
    r.q_batch_stride = R; r.k_batch_stride = R; r.f_batch_stride = R;
    be.rope(r);
  });
  rec.op({st::kv_write, ls, -1, static_cast<std::uint64_t>(4 * B * nkv * hd) * (sparse ? 2 : 1)}, [&] {
    for (int b = 0; b < B; ++b) {
      const std::int64_t p = ctx[static_cast<std::size_t>(b)] - 1 + step;
      const bf16* row = qkvf.get() + static_cast<std::size_t>(b) * R;
      write_kv_token(l, b, p, row + k_off, row + v_off);
      if (!sparse) continue;
      // The tail slot holds the current block: refill it when a new block starts.
      const auto cur = static_cast<std::int32_t>(p / block);
      for (int g = 0; g < nkv; ++g) {
        auto& tb = tail_block[lz][static_cast<std::size_t>(b * nkv + g)];
        const std::int64_t first = static_cast<std::int64_t>(cur) * block;
        const std::size_t n = tb == cur ? 1 : static_cast<std::size_t>(p - first + 1);
        const std::int64_t from = tb == cur ? p : first;
        for (auto* pair : {&k_store, &v_store}) {
          auto& slots = pair == &k_store ? slots_k[lz] : slots_v[lz];
          be.device_copy(slots.get() + slot_offset(b, g, k) + static_cast<std::size_t>(from - first) * hd,
                         (*pair)[lz].get() + store_offset(b, g, from), n * hd * sizeof(bf16));
        }
        tb = cur;
      }
    }
  });
  if (sparse) {
    rec.op({st::compress, ls, -1, static_cast<std::uint64_t>(2 * B * nkv * hd * 3)}, [&] {
      kernels::KeyCompressDecodeParams c;
      c.k_new = qkvf.get() + k_off; c.ring = ring[lz].get(); c.kc = kc[lz].get();
      c.token_counts = counts.get(); c.batch = B; c.kv_heads = nkv; c.head_dim = hd;
      c.k_new_batch_stride = R; c.kc_batch_stride = static_cast<std::int64_t>(kc_seq_stride());
      c.kernel = ck; c.stride = cs;
      be.key_compress_decode(c);
    });
    if (!forecast_selects) {
      select_blocks(l, false, qkvf.get() + q_off, R, n_comp);
    } else {
      if (l == 0) {  // layer 0 selects its own blocks with its current-query projection
        rec.op({st::qkvf_gemm, ls, -1, gemm_bytes(B, H, nkv * hd), gemm_flops(B, H, nkv * hd)}, [&] {
          kernels::GemmParams g;
          g.x = xn.get(); g.w = selector.get(); g.y = sel_q.get(); g.rows = B; g.in = H; g.out = nkv * hd;
          be.gemm(g);
          kernels::RopeParams r;
          r.q = sel_q.get(); r.positions = pos.get(); r.inv_freq = inv_freq.get();
          r.batch = B; r.n_heads = nkv; r.n_kv_heads = 0; r.head_dim = hd;  // one selector head per KV head
          be.rope(r);
        });
        select_blocks(0, true, sel_q.get(), nkv * hd, n_comp);
      }
      // PREP for layer l+1 with this layer's Forecast (its keys lack this token yet).
      if (l + 1 < L) select_blocks(l + 1, true, qkvf.get() + f_off, R, n_comp_prev);
      if (o.measure_recall) count_recall(l);  // layer 0: its selector vs its query
    }
    sparse_attention(l);
  } else {
    dense_attention(l);
  }
  layer_back(l, B);
}

std::vector<std::int32_t> DecodeEngine::step() {
  auto& s = *s_;
  if (s.prompts.empty()) throw std::logic_error("DecodeEngine::step before prefill");
  if (s.step >= std::max<std::int64_t>(s.o.max_steps, 1)) {
    throw std::logic_error("DecodeEngine::step beyond max_steps (caches are sized for it)");
  }
  s.rec.begin_step(trace::Phase::decode, static_cast<std::int32_t>(s.step));
  std::vector<std::int32_t> in(static_cast<std::size_t>(s.B)), p(in.size()), c(in.size()), nc(in.size()),
      ncp(in.size()), nb(in.size()), tt(in.size());
  for (int b = 0; b < s.B; ++b) {
    const auto bz = static_cast<std::size_t>(b);
    const std::int64_t L = s.ctx[bz];
    in[bz] = s.step == 0 ? s.prompts[bz][static_cast<std::size_t>(L - 1)] : s.last_tokens[bz];
    p[bz] = static_cast<std::int32_t>(L - 1 + s.step);
    c[bz] = p[bz] + 1;
    nc[bz] = static_cast<std::int32_t>(s.comp_count(c[bz]));
    ncp[bz] = static_cast<std::int32_t>(s.comp_count(c[bz] - 1));
    nb[bz] = (c[bz] + s.block - 1) / s.block;
    tt[bz] = (c[bz] - 1) % s.block + 1;
  }
  s.rec.op({st::host}, [&] {
    s.ids.upload(in.data(), in.size());
    s.pos.upload(p.data(), p.size());
    s.counts.upload(c.data(), c.size());
    s.n_comp.upload(nc.data(), nc.size());
    s.n_comp_prev.upload(ncp.data(), ncp.size());
    s.n_blocks.upload(nb.data(), nb.size());
    if (s.sparse) s.tail_tokens.upload(tt.data(), tt.size());
  });
  s.rec.op({st::embed, -1, -1, static_cast<std::uint64_t>(4 * s.B * s.H)}, [&] {
    s.be.embedding({s.ids.get(), s.embed.get(), s.x.get(), s.B, s.V, s.H});
  });
  for (int l = 0; l < s.L; ++l) s.decode_layer(l);
  s.rec.op({st::rmsnorm, -1, -1, static_cast<std::uint64_t>(4 * s.B * s.H)}, [&] {
    s.be.rmsnorm({s.x.get(), s.final_norm.get(), s.xn.get(), s.B, s.H, 0, 0, static_cast<float>(s.m.rms_eps)});
  });
  s.rec.op({st::lm_head, -1, -1, gemm_bytes(s.B, s.H, s.V), gemm_flops(s.B, s.H, s.V)}, [&] {
    kernels::GemmParams g;
    g.x = s.xn.get(); g.w = s.lm_head_ptr; g.y = s.logits.get(); g.rows = s.B; g.in = s.H; g.out = s.V;
    s.be.gemm(g);
  });
  s.rec.op({st::argmax, -1, -1, static_cast<std::uint64_t>(2 * s.B * s.V)}, [&] {
    kernels::ArgmaxParams a;
    a.logits = s.logits.get(); a.out = s.out_ids.get(); a.rows = s.B; a.vocab = s.V;
    s.be.argmax(a);
  });
  s.out_ids.download(s.last_tokens.data(), s.last_tokens.size());
  s.last_step_ns = s.rec.end_step();
  ++s.step;
  return s.last_tokens;
}

DecodeEngine::DecodeEngine(const config::ModelConfig& m, const Weights& w, Backend& backend, Recorder& rec,
                           EngineOptions opts)
    : s_(std::make_unique<State>(m, w, backend, rec, std::move(opts))) {
  s_->last_tokens.assign(static_cast<std::size_t>(s_->B), 0);
}
DecodeEngine::~DecodeEngine() = default;
std::int64_t DecodeEngine::steps_done() const { return s_->step; }
std::int64_t DecodeEngine::last_step_ns() const { return s_->last_step_ns; }
const CacheTotals& DecodeEngine::cache_totals() const { return s_->totals; }
const std::vector<RecallCounts>& DecodeEngine::recall_by_layer() const { return s_->recall; }

std::vector<float> DecodeEngine::last_logits() const {
  std::vector<bf16> raw(s_->logits.size());
  s_->logits.download(raw.data(), raw.size());
  std::vector<float> out(raw.size());
  std::transform(raw.begin(), raw.end(), out.begin(), bf16_to_float);
  return out;
}

}  // namespace foresight::runtime

// DecodeEngine: set-up, the shared layer halves and the decode step.
#include <algorithm>
#include <chrono>
#include <climits>
#include <stdexcept>

#include <fmt/core.h>

#include "engine_state.hpp"
#include "foresight/config/decode_plan.hpp"
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

DecodeEngine::State::State(const config::ModelConfig& model, const DeviceWeights& weights, Recorder& recorder,
                           EngineOptions options)
    : m(model), w(weights), be(weights.backend), rec(recorder), o(std::move(options)) {
  if (o.context_tokens.empty()) throw std::invalid_argument("context_tokens: need at least one sequence");
  for (auto c : o.context_tokens) {
    if (c < 1) throw std::invalid_argument("context_tokens: every sequence needs at least 1 token");
  }
  if (o.topk_blocks < 1) throw std::invalid_argument("topk_blocks must be >= 1");
  if (o.cache_blocks != 0 && o.cache_blocks < o.topk_blocks) {
    throw std::invalid_argument(fmt::format("cache_blocks ({}) must be 0 or >= topk_blocks ({})", o.cache_blocks,
                                            o.topk_blocks));
  }
  if (o.gather_ctas < 0) throw std::invalid_argument("gather_ctas must be >= 0 (0: automatic)");
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
  rows = B * nkv;
  q_off = 0;
  k_off = nh * hd;
  v_off = k_off + nkv * hd;
  f_off = v_off + nkv * hd;
  block = static_cast<int>(m.sparse.block_tokens);
  ck = static_cast<int>(m.sparse.compress_kernel);
  cs = static_cast<int>(m.sparse.compress_stride);
  k = static_cast<int>(o.topk_blocks);
  n_slots = static_cast<int>(std::max(o.topk_blocks, o.cache_blocks));
  lru = n_slots > k;
  gather_ctas = o.gather_ctas > 0 ? o.gather_ctas
                                  : default_gather_ctas(B, o.kernels);
  const config::ModeTraits& mt = config::mode_traits(o.mode);
  sparse = mt.selects_blocks();
  dsa = mt.selects_tokens();
  forecast_selects = mt.forecast();
  prefetch = mt.transfer == config::TransferPath::side_prefetch;
  prefill_offload = config::prefill_offload(mt);
  for (int l = 0; l < L; ++l)
    plan.push_back(config::decode_layer_plan(mt, prefetch ? config::Prefetch::lookahead : config::Prefetch::none, l, L));
  ctx = o.context_tokens;
  std::int64_t longest = 0;
  for (auto c : ctx) longest = std::max(longest, c + std::max<std::int64_t>(o.max_steps, 1));
  max_blocks = (longest + block - 1) / block;
  max_tokens = max_blocks * block;
  max_comp = std::max<std::int64_t>(comp_count(max_tokens), 1);
  act_rows = static_cast<int>(std::max<std::int64_t>(B, o.prefill_chunk_tokens));

  inv_freq = upload(be, kernels::rope_inv_freq(rope_frequencies(m), hd));

  const auto ar = static_cast<std::size_t>(act_rows);
  x = DeviceArray<bf16>(be, ar * H);
  xn = DeviceArray<bf16>(be, ar * H);
  qkvf = DeviceArray<bf16>(be, ar * R);
  q = DeviceArray<bf16>(be, static_cast<std::size_t>(B) * nh * hd);
  attn = DeviceArray<bf16>(be, ar * nh * hd);
  gate_up = DeviceArray<bf16>(be, ar * 2 * I);
  act = DeviceArray<bf16>(be, ar * I);
  logits = DeviceArray<bf16>(be, static_cast<std::size_t>(B) * V);
  sel_q = DeviceArray<bf16>(be, static_cast<std::size_t>(B) * nkv * hd);
  if (sparse) k_tmp = DeviceArray<bf16>(be, static_cast<std::size_t>(max_tokens) * nkv * hd);
  for (auto* a : {&ids, &pos}) *a = DeviceArray<std::int32_t>(be, ar);
  for (auto* a : {&counts, &n_comp, &n_comp_prev, &n_blocks, &out_ids, &tail_tokens}) {
    *a = DeviceArray<std::int32_t>(be, static_cast<std::size_t>(B));
  }
  allocate_kv();
  if (config::prefill_is_sparse(o.prefill_attention) && !o.synthetic_prefill) {
    std::int64_t prompt = 0;
    for (auto c : ctx) prompt = std::max(prompt, c - 1);
    if (o.prefill_chunk_tokens < prompt)
      throw std::invalid_argument(fmt::format("{} prefill runs each prompt as one chunk: prefill_chunk_tokens ({}) "
                                              "must be >= the longest prompt ({})",
                                              config::to_string(o.prefill_attention), o.prefill_chunk_tokens, prompt));
    sparse_prefill = std::make_unique<SparsePrefillBuffers>(be, nh, prompt);
  }
  if (dsa) allocate_dsa();
  setup_l2();
  gather_op.assign(static_cast<std::size_t>(L), -1);
  ws_op.assign(static_cast<std::size_t>(L), -1);
  // A graph needs fixed kernel arguments: not with the LRU clock (a per-step
  // argument) or recall counting (host reads mid-step). Per-op marks become
  // event-record nodes of the graph.
  // (config::decode_uses_graph states the same rule for traces and the simulator.)
  use_graph = o.cuda_graph && be.supports_graphs() && !lru && !o.measure_recall;
  // The prefetch kernel holds its CTAs' SMs while attention runs beside it: a
  // split-KV grid sized for all SMs would leave a second, nearly empty wave.
  be.reserve_sms(prefetch ? gather_ctas : 0);
  attention_op.assign(static_cast<std::size_t>(L), -1);
}

void DecodeEngine::State::setup_l2() {
  l2_hit_ratio.assign(static_cast<std::size_t>(L), 0.0f);
  if (o.l2_reserve_bytes <= 0) return;
  if (dsa) {
    setup_l2_tokens();
    return;
  }
  if (!sparse) {
    throw std::invalid_argument(fmt::format(
        "--l2-reserve: only the block-sparse modes and dsa have KV to reserve L2 for, not {}",
        config::to_string(o.mode)));
  }
  const auto slot_bytes = static_cast<std::int64_t>(kv[0].slots.bytes());
  l2_windows = config::l2_windows(o.l2_reserve_bytes, slot_bytes, L);
  be.set_l2_persisting(static_cast<std::size_t>(o.l2_reserve_bytes));
  for (const auto& win : l2_windows)
    l2_hit_ratio[static_cast<std::size_t>(win.layer)] = static_cast<float>(win.hit_ratio);
}

void DecodeEngine::State::allocate_kv() {
  const std::size_t store = static_cast<std::size_t>(B) * nkv * static_cast<std::size_t>(max_tokens) * hd;
  const std::size_t one_seq = static_cast<std::size_t>(nkv) * static_cast<std::size_t>(max_tokens) * hd;
  const auto rz = static_cast<std::size_t>(rows);
  const config::ModeTraits& mt = config::mode_traits(o.mode);
  kv.resize(static_cast<std::size_t>(L));
  for (int l = 0; l < L; ++l) {
    auto& lk = kv[static_cast<std::size_t>(l)];
    lk.on_host = config::layer_kv_on_host(mt, l);
    if (lk.on_host) {
      const auto t0 = std::chrono::steady_clock::now();
      lk.hk = HostArray<bf16>(be, store);
      lk.hv = HostArray<bf16>(be, store);
      pin_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
      lk.k = lk.hk.get();
      lk.v = lk.hv.get();
      if (!o.synthetic_prefill) {
        lk.stage_k = DeviceArray<bf16>(be, one_seq);
        lk.stage_v = DeviceArray<bf16>(be, one_seq);
      }
    } else if (dsa) {  // K then V in one range: one L2 window covers what the token gather reads
      lk.dk = DeviceArray<bf16>(be, 2 * store);
      lk.k = lk.dk.get();
      lk.v = lk.k + store;
    } else {
      lk.dk = DeviceArray<bf16>(be, store);
      lk.dv = DeviceArray<bf16>(be, store);
      lk.k = lk.dk.get();
      lk.v = lk.dv.get();
    }
    if (!sparse) continue;
    lk.kc = DeviceArray<bf16>(be, static_cast<std::size_t>(B) * kc_seq_stride());
    lk.ring = DeviceArray<bf16>(be, static_cast<std::size_t>(B) * ck * nkv * hd);
    lk.block_map = DeviceArray<std::int32_t>(be, rz * n_slots);
    std::vector<std::int32_t> empty(rz * n_slots, -1);
    lk.block_map.upload(empty.data(), empty.size());
    for (auto* a : {&lk.load_block, &lk.load_slot}) *a = DeviceArray<std::int32_t>(be, rz * n_slots);
    lk.load_count = DeviceArray<std::int32_t>(be, rz);
    if (lru) lk.last_used = DeviceArray<std::int64_t>(be, rz * n_slots);
    const std::size_t slots = rz * (n_slots + 1) * block * hd;
    lk.slots = DeviceArray<bf16>(be, 2 * slots);
    lk.slots_k = {lk.slots.get()};
    lk.slots_v = {lk.slots.get() + slots};
  }
  if (!sparse) return;
  scores = DeviceArray<float>(be, rz * max_comp);
  selected = DeviceArray<std::int32_t>(be, static_cast<std::size_t>(L) * rz * k);
  if (o.selections) ext_selected = DeviceArray<std::int32_t>(be, static_cast<std::size_t>(L) * rz * k);
  slot_list = DeviceArray<std::int32_t>(be, rz * (k + 1));
  list_len = DeviceArray<std::int32_t>(be, rz);
  tail_block = DeviceArray<std::int32_t>(be, rz);
  counters = DeviceArray<std::uint64_t>(be, static_cast<std::size_t>(L) * 3);
  readback_counters = HostArray<std::uint64_t>(be, counters.size());
  query_selected = DeviceArray<std::int32_t>(be, rz * k);
  recall.assign(o.measure_recall && forecast_selects ? static_cast<std::size_t>(L) : 0, {});
}

// RMSNorm fused into the QKVF projection (linear: one kernel at decode row
// counts; rmsnorm + cuBLAS above), so one op; xn keeps the normalised rows.
void DecodeEngine::State::layer_front(int l, int n) {
  const auto& lw = w.layers[static_cast<std::size_t>(l)];
  const auto ls = static_cast<std::int16_t>(l);
  const std::uint64_t norm_bytes = 4ull * static_cast<std::uint64_t>(n) * H;
  const int out = R + (dsa ? idx_rows : 0);  // DSA: the indexer's projection in the same op
  rec.op({st::qkvf_gemm, ls, -1, norm_bytes + gemm_bytes(n, H, out), gemm_flops(n, H, out)}, [&] {
    kernels::LinearParams g;
    g.x = x.get(); g.w = lw.wqkvf.get(); g.y = qkvf.get(); g.rows = n; g.in = H; g.out = R;
    g.norm_weight = lw.attn_norm.get(); g.norm_out = xn.get(); g.eps = static_cast<float>(m.rms_eps);
    be.linear(g);
    if (dsa) project_indexer(l, n);
  });
}

// O projection with the residual add fused (x += attn Wo^T).
void DecodeEngine::State::o_proj(int l, int n) {
  const auto& lw = w.layers[static_cast<std::size_t>(l)];
  rec.op({st::o_proj, static_cast<std::int16_t>(l), -1, gemm_bytes(n, nh * hd, H), gemm_flops(n, nh * hd, H)}, [&] {
    kernels::LinearParams g;
    g.x = attn.get(); g.w = lw.wo.get(); g.y = x.get(); g.rows = n; g.in = nh * hd; g.out = H;
    g.accumulate = true;
    be.linear(g);
  });
}

// The MLP as two linears: RMSNorm + gate/up + SwiGLU, then down with the residual add.
void DecodeEngine::State::mlp(int l, int n) {
  const auto& lw = w.layers[static_cast<std::size_t>(l)];
  const std::uint64_t norm_bytes = 4ull * static_cast<std::uint64_t>(n) * H;
  rec.op({st::mlp, static_cast<std::int16_t>(l), -1, norm_bytes + gemm_bytes(n, H, 2 * I) + gemm_bytes(n, I, H),
          gemm_flops(n, H, 2 * I) + gemm_flops(n, I, H)},
         [&] {
           kernels::LinearParams g;
           g.x = x.get(); g.w = lw.w_gate_up.get(); g.y = act.get(); g.rows = n; g.in = H; g.out = 2 * I;
           g.norm_weight = lw.ffn_norm.get(); g.norm_out = xn.get(); g.eps = static_cast<float>(m.rms_eps);
           g.swiglu = true; g.swiglu_scratch = gate_up.get();
           be.linear(g);
           kernels::LinearParams d;
           d.x = act.get(); d.w = lw.w_down.get(); d.y = x.get(); d.rows = n; d.in = I; d.out = H;
           d.accumulate = true;
           be.linear(d);
         });
}

void DecodeEngine::State::rope_append(int l) {
  const auto ls = static_cast<std::int16_t>(l);
  auto& lk = kv[static_cast<std::size_t>(l)];
  // RoPE on q, k (and the Forecast), the rotated q to the contiguous q
  // buffer for attention, and the new token's K/V to the store (a
  // write-through to host memory in the offload modes) and the tail slot:
  // one kernel, so one op (the trace has no separate kv_write in decode).
  const std::uint64_t rope_bytes = static_cast<std::uint64_t>(4 * B * (nh + 2 * nkv) * hd) + 2ull * B * nh * hd;
  const std::uint64_t kv_bytes = static_cast<std::uint64_t>(4 * B * nkv * hd) * (sparse ? 2 : 1) +
                                 (dsa ? 2ull * B * idim : 0);  // DSA: the indexer key
  rec.op({st::rope, ls, -1, rope_bytes + kv_bytes}, [&] {
    kernels::RopeAppendParams ra;
    auto& r = ra.rope;
    r.q = qkvf.get() + q_off; r.k = qkvf.get() + k_off;
    r.f = forecast_selects ? qkvf.get() + f_off : nullptr;
    r.positions = pos.get(); r.inv_freq = inv_freq.get();
    r.batch = B; r.n_heads = nh; r.n_kv_heads = nkv; r.head_dim = hd;
    r.q_batch_stride = R; r.k_batch_stride = R; r.f_batch_stride = R;
    ra.q_out = q.get();
    auto& a = ra.append;
    a.src = qkvf.get(); a.src_row_stride = R; a.k_offset = k_off; a.v_offset = v_off;
    a.positions = pos.get(); a.rows = B;
    a.store_k = lk.k; a.store_v = lk.v; a.max_tokens = max_tokens;
    if (sparse) {
      a.slots_k = lk.slots_k.get(); a.slots_v = lk.slots_v.get();
      a.slots_per_row = n_slots + 1; a.tail_slot = n_slots; a.block_tokens = block;
    }
    a.kv_heads = nkv; a.head_dim = hd;
    be.rope_append(ra);
    if (dsa) append_indexer_key(l, B, 0, false);
  });
}

void DecodeEngine::State::compress(int l) {
  auto& lk = kv[static_cast<std::size_t>(l)];
  rec.op({st::compress, static_cast<std::int16_t>(l), -1, static_cast<std::uint64_t>(2 * B * nkv * hd * 3)}, [&] {
    kernels::KeyCompressDecodeParams c;
    c.k_new = qkvf.get() + k_off; c.ring = lk.ring.get(); c.kc = lk.kc.get();
    c.token_counts = counts.get(); c.batch = B; c.kv_heads = nkv; c.head_dim = hd;
    c.k_new_batch_stride = R; c.kc_batch_stride = static_cast<std::int64_t>(kc_seq_stride());
    c.kernel = ck; c.stride = cs;
    be.key_compress_decode(c);
  });
}

// Layer 0 of a Forecast mode selects its own (resident) blocks with its
// current-query projection: one selector head per KV head, rotated.
void DecodeEngine::State::self_project() {
  rec.op({st::qkvf_gemm, 0, -1, gemm_bytes(B, H, nkv * hd), gemm_flops(B, H, nkv * hd)}, [&] {
    kernels::GemmParams g;
    g.x = xn.get(); g.w = w.selector.get(); g.y = sel_q.get(); g.rows = B; g.in = H; g.out = nkv * hd;
    be.gemm(g);
    kernels::RopeParams r;
    r.q = sel_q.get(); r.positions = pos.get(); r.inv_freq = inv_freq.get();
    r.batch = B; r.n_heads = nkv; r.n_kv_heads = 0; r.head_dim = hd;
    be.rope(r);
  });
}

// The selection for layer `target` made while layer `l` runs: its own query
// (query modes), layer 0's selector, or layer l's Forecast for l + 1.
void DecodeEngine::State::select(int l, int target) {
  if (!forecast_selects) {
    select_blocks(target, false, qkvf.get() + q_off, R, n_comp);
  } else if (target == l) {
    select_blocks(target, true, sel_q.get(), nkv * hd, n_comp);
  } else {  // the Forecast's keys lack this step's token yet
    select_blocks(target, true, qkvf.get() + f_off, R, n_comp_prev);
  }
  ws_op[static_cast<std::size_t>(target)] = update_working_set(target);
}

// One decode layer: the contract's op graph for this mode
// (config::decode_layer_plan), each entry executed in order.
void DecodeEngine::State::decode_layer(int l) {
  using config::LayerWork;
  for (const config::LayerStep& s : plan[static_cast<std::size_t>(l)]) {
    const auto t = static_cast<std::size_t>(s.layer);
    switch (s.work) {
      case LayerWork::project: layer_front(l, B); break;
      case LayerWork::rope_append: rope_append(l); break;
      case LayerWork::dense_attention: dense_attention(l); break;
      case LayerWork::compress: compress(l); break;
      case LayerWork::self_project: self_project(); break;
      case LayerWork::select: select(l, s.layer); break;
      case LayerWork::fetch: fetch(s.layer, ws_op[t], false); break;
      case LayerWork::prefetch: fetch(s.layer, ws_op[t], be.stream_count() > 1); break;
      case LayerWork::wait_fetch: wait_fetch(s.layer); break;
      case LayerWork::sparse_attention:
        if (o.measure_recall && forecast_selects) count_recall(l);  // layer 0: its selector vs its query
        sparse_attention(l);
        break;
      case LayerWork::o_proj: o_proj(l, B); break;
      case LayerWork::mlp: mlp(l, B); break;
      case LayerWork::index_select: index_select(l); break;
      case LayerWork::token_gather: token_gather(l); break;
      case LayerWork::token_attention: token_attention(l); break;
    }
  }
}

void DecodeEngine::State::capture_graphs() {
  // Between steps: no step span pays for capturing and instantiating. A
  // replaying step records its host op first (handle 0), then the graph's.
  const int before = rec.times_ops() ? 1 : 0;
  for (int slot = 0; slot < Backend::kGraphSlots; ++slot) {
    be.capture_begin(slot);
    rec.begin_capture(slot, before);
    step_body();
    rec.end_capture(slot);
    be.capture_end(slot);
    graph_ready[static_cast<std::size_t>(slot)] = true;
  }
}

void DecodeEngine::State::stage_external_selections() {
  // Every step's external selections, made on the host before decoding so
  // the workload model's cost is not part of a step: [step, L, rows, k].
  const std::size_t per_step = static_cast<std::size_t>(L) * rows * k;
  const std::int64_t steps = std::max<std::int64_t>(o.max_steps, 1);
  ext_all.assign(per_step * static_cast<std::size_t>(steps), -1);
  for (std::int64_t st_i = 0; st_i < steps; ++st_i) {
    for (int l = 0; l < L; ++l) {
      for (int b = 0; b < B; ++b) {
        const std::int64_t c = ctx[static_cast<std::size_t>(b)] + st_i;  // tokens incl. this step's
        const std::int64_t blocks = (c + block - 1) / block;
        for (int g = 0; g < nkv; ++g) {
          const std::size_t row = static_cast<std::size_t>(st_i) * per_step +
                                  (static_cast<std::size_t>(l) * rows + static_cast<std::size_t>(b * nkv + g)) * k;
          std::span<std::int32_t> row_ids(ext_all.data() + row, static_cast<std::size_t>(k));
          o.selections->get(static_cast<std::int32_t>(st_i), l, b, g, blocks, row_ids);
          // The working-set update takes block_select's form: ascending
          // unique ids, -1 padding last.
          std::sort(row_ids.begin(), row_ids.end(), [](std::int32_t a, std::int32_t z) {
            return (a < 0 ? INT32_MAX : a) < (z < 0 ? INT32_MAX : z);
          });
          for (std::size_t j = 1; j < row_ids.size(); ++j) {
            if (row_ids[j] >= 0 && row_ids[j] == row_ids[j - 1]) row_ids[j] = -1;
          }
          std::stable_partition(row_ids.begin(), row_ids.end(), [](std::int32_t a) { return a >= 0; });
        }
      }
    }
  }
}

void DecodeEngine::State::step_body() {
  rec.op({st::embed, -1, -1, static_cast<std::uint64_t>(4 * B * H)}, [&] {
    be.embedding({ids.get(), w.embed.get(), x.get(), B, V, H});
  });
  for (int l = 0; l < L; ++l) decode_layer(l);
  rec.op({st::rmsnorm, -1, -1, static_cast<std::uint64_t>(4 * B * H)}, [&] {
    be.rmsnorm({x.get(), w.final_norm.get(), xn.get(), B, H, 0, 0, static_cast<float>(m.rms_eps)});
  });
  rec.op({st::lm_head, -1, -1, gemm_bytes(B, H, V), gemm_flops(B, H, V)}, [&] {
    kernels::GemmParams g;
    g.x = xn.get(); g.w = w.lm_head_ptr; g.y = logits.get(); g.rows = B; g.in = H; g.out = V;
    be.gemm(g);
  });
  rec.op({st::argmax, -1, -1, static_cast<std::uint64_t>(2 * B * V)}, [&] {
    kernels::ArgmaxParams a;
    a.logits = logits.get(); a.out = out_ids.get(); a.rows = B; a.vocab = V;
    be.argmax(a);
  });
}

std::vector<std::int32_t> DecodeEngine::step() { return step(std::span<const std::int32_t>{}); }

std::vector<std::int32_t> DecodeEngine::step(std::span<const std::int32_t> inputs) {
  auto& s = *s_;
  if (s.prompts.empty()) throw std::logic_error("DecodeEngine::step before prefill");
  if (!inputs.empty() && (s.step == 0 || inputs.size() != static_cast<std::size_t>(s.B))) {
    throw std::logic_error("DecodeEngine::step: forced inputs need step >= 1 and one id per sequence");
  }
  for (std::int32_t id : inputs) {
    if (id < 0 || id >= s.V) throw std::invalid_argument(fmt::format("DecodeEngine::step: token id {} outside the vocabulary", id));
  }
  if (s.step >= std::max<std::int64_t>(s.o.max_steps, 1)) {
    throw std::logic_error("DecodeEngine::step beyond max_steps (caches are sized for it)");
  }
  s.rec.begin_step(trace::Phase::decode, static_cast<std::int32_t>(s.step));
  const auto bz_n = static_cast<std::size_t>(s.B);
  std::vector<std::int32_t> in(bz_n), p(bz_n), c(bz_n), nc(bz_n), ncp(bz_n), nb(bz_n), tt(bz_n),
      tb(static_cast<std::size_t>(s.rows));
  for (int b = 0; b < s.B; ++b) {
    const auto bz = static_cast<std::size_t>(b);
    const std::int64_t L = s.ctx[bz];
    in[bz] = s.step == 0 ? s.prompts[bz][static_cast<std::size_t>(L - 1)]
                         : (inputs.empty() ? s.last_tokens[bz] : inputs[bz]);
    p[bz] = static_cast<std::int32_t>(L - 1 + s.step);
    c[bz] = p[bz] + 1;
    nc[bz] = static_cast<std::int32_t>(s.comp_count(c[bz]));
    ncp[bz] = static_cast<std::int32_t>(s.comp_count(c[bz] - 1));
    nb[bz] = (c[bz] + s.block - 1) / s.block;
    tt[bz] = p[bz] % s.block + 1;
    for (int g = 0; g < s.nkv; ++g) tb[static_cast<std::size_t>(b * s.nkv + g)] = p[bz] / s.block;
  }
  s.rec.op({st::host}, [&] {
    s.ids.upload(in.data(), in.size());
    s.pos.upload(p.data(), p.size());
    s.counts.upload(c.data(), c.size());
    s.n_comp.upload(nc.data(), nc.size());
    s.n_comp_prev.upload(ncp.data(), ncp.size());
    s.n_blocks.upload(nb.data(), nb.size());
    if (!s.sparse) return;
    s.tail_tokens.upload(tt.data(), tt.size());
    s.tail_block.upload(tb.data(), tb.size());
    s.be.zero(s.counters.get(), s.counters.bytes());
    if (!s.o.selections) return;
    // External selections of every layer of this step (made before decode).
    const std::size_t n = s.ext_selected.size();
    s.ext_selected.upload(s.ext_all.data() + static_cast<std::size_t>(s.step) * n, n);
  });
  // The device work of the step: from step 1 a CUDA graph (captured after
  // step 0, which sizes the workspaces and tunes the GEMMs); every input that
  // changes per step is in device memory (uploaded above). Two graphs, steps
  // alternating between them, so the trace records of the previous step,
  // whose marks live in the other graph, are resolved while this one runs.
  const int slot = static_cast<int>(s.step % Backend::kGraphSlots);
  if (s.graph_ready[static_cast<std::size_t>(slot)]) {
    s.be.graph_launch(slot);
    s.rec.replay_captured(slot);
    if (s.dsa) {
      s.patch_dsa_ops();
    } else if (!s.sparse) {
      s.patch_dense_attention();
    }
  } else {
    s.step_body();
  }
  s.rec.resolve_previous();
  // Host work after the device work (reading back the tokens, and in the
  // selecting modes the selections and counters): an op too, so a trace's
  // ops cover its whole step (replay --validate, docs/simulator.md).
  s.rec.op({st::host}, [&] {
    if (s.sparse || s.dsa) s.enqueue_readback();
    s.out_ids.download(s.last_tokens.data(), s.last_tokens.size());  // waits for the read-backs too
    if (s.sparse) s.finish_step();
    if (s.dsa) s.finish_dsa_step();
  });
  s.last_step_ns = s.rec.end_step();
  ++s.step;
  if (s.use_graph && s.step == 1 && s.o.max_steps > 1) s.capture_graphs();
  return s.last_tokens;
}

kernels::RopeFrequencies rope_frequencies(const config::ModelConfig& m) {
  kernels::RopeFrequencies rf;
  rf.theta = m.rope_theta;
  if (m.rope_scaling.type == "llama3") {
    rf.kind = kernels::RopeFrequencies::Kind::kLlama3;
    rf.factor = m.rope_scaling.factor;
    rf.low_freq_factor = m.rope_scaling.low_freq_factor;
    rf.high_freq_factor = m.rope_scaling.high_freq_factor;
    rf.original_max_position = static_cast<double>(m.rope_scaling.original_max_position);
  }
  return rf;
}

EngineOptions engine_options(const config::RunConfig& run) {
  EngineOptions o;
  o.mode = run.mode;
  o.context_tokens = run.context_tokens;
  o.max_steps = run.warmup_steps + run.decode_steps;
  o.topk_blocks = run.topk_blocks;
  o.cache_blocks = run.cache_blocks == 0 ? 0 : run.cache_blocks - 1;
  o.gather_ctas = static_cast<int>(run.gather_ctas);
  o.kernels = run.kernels;
  o.synthetic_prefill = run.prefill == "synthetic";
  o.prefill_chunk_tokens = run.prefill_chunk_tokens;
  o.prefill_attention = run.prefill_attention;
  o.prefill_recall = run.prefill_recall;
  o.seed = run.seed;
  o.warmup_steps = run.warmup_steps;
  o.l2_reserve_bytes = run.l2_reserve_bytes;
  return o;
}

DecodeEngine::DecodeEngine(const config::ModelConfig& m, const Weights& w, Backend& backend, Recorder& rec,
                           EngineOptions opts) {
  auto dw = std::make_unique<DeviceWeights>(m, w, backend);
  s_ = std::make_unique<State>(m, *dw, rec, std::move(opts));
  s_->owned = std::move(dw);
  s_->last_tokens.assign(static_cast<std::size_t>(s_->B), 0);
}
DecodeEngine::DecodeEngine(const config::ModelConfig& m, const DeviceWeights& w, Recorder& rec, EngineOptions opts)
    : s_(std::make_unique<State>(m, w, rec, std::move(opts))) {
  s_->last_tokens.assign(static_cast<std::size_t>(s_->B), 0);
}
DecodeEngine::~DecodeEngine() = default;
std::int64_t DecodeEngine::steps_done() const { return s_->step; }
std::int64_t DecodeEngine::last_step_ns() const { return s_->last_step_ns; }
std::int64_t DecodeEngine::pin_ns() const { return s_->pin_ns; }
bool DecodeEngine::prefill_interrupted() const { return s_->prefill_interrupted; }
const CacheTotals& DecodeEngine::cache_totals() const { return s_->totals; }
const std::vector<RecallCounts>& DecodeEngine::recall_by_layer() const { return s_->recall; }
const std::vector<config::L2Window>& DecodeEngine::l2_windows() const { return s_->l2_windows; }

std::vector<float> DecodeEngine::last_logits() const {
  std::vector<bf16> raw(s_->logits.size());
  s_->logits.download(raw.data(), raw.size());
  std::vector<float> out(raw.size());
  std::transform(raw.begin(), raw.end(), out.begin(), bf16_to_float);
  return out;
}

}  // namespace foresight::runtime

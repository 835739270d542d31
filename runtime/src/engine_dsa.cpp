// DSA decode (modes dsa, dsa-offload; config/model.hpp TokenSparseConfig):
// per layer a lightning indexer scores every cached token from the current
// token's indexer queries and head weights, the top kt tokens of each
// sequence are selected (the newest always among them), their K/V rows are
// gathered from the store (GPU memory, or pinned host memory read through
// the zero-copy gather in dsa-offload) and attention runs over them.
// No checkpoint here carries an indexer, so its projection is synthetic
// (seeded, like the Forecast's when no file is given).
#include <algorithm>
#include <cmath>

#include "engine_state.hpp"
#include "foresight/workload/splitmix64.hpp"
#include "synthetic_fill.hpp"

namespace foresight::runtime {

namespace st = trace::stage;

namespace {
constexpr std::uint64_t kIndexerTensor = 0xD5A00000ull;  // synthetic tensor numbers: + layer

// Tokens of the batch at `step` (the new one included) and those each layer
// selects: min(kt, tokens) per sequence.
struct DsaTokens {
  std::uint64_t cached = 0, selected = 0;
};
DsaTokens dsa_tokens(const std::vector<std::int64_t>& ctx, std::int64_t step, int kt) {
  DsaTokens t;
  for (auto c : ctx) {
    const auto n = static_cast<std::uint64_t>(c + step);
    t.cached += n;
    t.selected += std::min<std::uint64_t>(n, static_cast<std::uint64_t>(kt));
  }
  return t;
}
}  // namespace

void DecodeEngine::State::allocate_dsa() {
  ih = static_cast<int>(m.dsa.indexer_heads);
  idim = static_cast<int>(m.dsa.indexer_dim);
  kt = static_cast<int>(m.dsa.topk_tokens);
  idx_rows = (ih * idim + idim + ih + 7) / 8 * 8;  // 16-byte rows for the indexer's loads
  std::vector<std::vector<bf16>> host(static_cast<std::size_t>(L));
  std::vector<NormalTensor> tensors;
  for (int l = 0; l < L; ++l)
    tensors.push_back({&host[static_cast<std::size_t>(l)], static_cast<std::size_t>(idx_rows) * H,
                       kIndexerTensor + static_cast<std::uint64_t>(l)});
  fill_normal_tensors(tensors, o.seed, 0.02f, 0);
  for (auto& h : host) {
    idx_w.emplace_back(be, h.size());
    idx_w.back().upload(h.data(), h.size());
  }
  const auto bz = static_cast<std::size_t>(B);
  idx_out = DeviceArray<bf16>(be, static_cast<std::size_t>(act_rows) * idx_rows);
  for (auto& lk : kv) lk.ik = DeviceArray<bf16>(be, bz * static_cast<std::size_t>(max_tokens) * idim);
  tok_scores = DeviceArray<float>(be, bz * static_cast<std::size_t>(max_tokens));
  tok_ids = DeviceArray<std::int32_t>(be, static_cast<std::size_t>(L) * bz * kt);
  tok_count = DeviceArray<std::int32_t>(be, static_cast<std::size_t>(L) * bz);
  readback_counts = HostArray<std::int32_t>(be, tok_count.size());
  gathered = DeviceArray<bf16>(be, 2 * bz * nkv * static_cast<std::size_t>(kt) * hd);
  index_op.assign(static_cast<std::size_t>(L), -1);
}

// config::l2_token_windows: the first layers whose per-step token reads fit
// the set-aside, each window over the layer's whole K+V store.
void DecodeEngine::State::setup_l2_tokens() {
  if (kv[0].on_host)
    throw std::invalid_argument("--l2-reserve: dsa-offload reads its tokens from host memory; nothing to keep in L2");
  std::int64_t longest = 0;
  for (auto c : ctx) longest = std::max(longest, c);
  const std::int64_t read = static_cast<std::int64_t>(B) * std::min<std::int64_t>(kt, longest) * 4 * nkv * hd;
  const auto store = static_cast<std::int64_t>(kv[0].dk.bytes());  // one layer's K and V (allocate_kv)
  l2_windows = config::l2_token_windows(o.l2_reserve_bytes, read, store, L);
  be.set_l2_persisting(static_cast<std::size_t>(o.l2_reserve_bytes));
  for (const auto& win : l2_windows)
    l2_hit_ratio[static_cast<std::size_t>(win.layer)] = static_cast<float>(win.hit_ratio);
}

void DecodeEngine::State::project_indexer(int l, int n) {
  kernels::GemmParams g;
  g.x = xn.get(); g.w = idx_w[static_cast<std::size_t>(l)].get(); g.y = idx_out.get();
  g.rows = n; g.in = H; g.out = idx_rows;
  be.gemm(g);
}

// kv_append writes a K and a V row; the indexer has keys only, so both
// point at the key store (the same row written twice).
void DecodeEngine::State::append_indexer_key(int l, int n, int first_seq, bool one_sequence) {
  kernels::KvAppendParams a;
  a.src = idx_out.get(); a.src_row_stride = idx_rows; a.k_offset = a.v_offset = ih * idim;
  a.positions = pos.get(); a.rows = n; a.first_seq = first_seq; a.one_sequence = one_sequence;
  a.store_k = a.store_v = kv[static_cast<std::size_t>(l)].ik.get(); a.max_tokens = max_tokens;
  a.kv_heads = 1; a.head_dim = idim;
  be.kv_append(a);
}

void DecodeEngine::State::synth_indexer_keys(int l, int b, std::int64_t tokens) {
  kernels::KvSynthParams p;
  p.tokens = tokens; p.kv_heads = 1; p.head_dim = idim; p.stddev = 0.02f * std::sqrt(static_cast<float>(H));
  p.head_stride = max_tokens * idim; p.token_stride = idim;
  p.dst = kv[static_cast<std::size_t>(l)].ik.get() + static_cast<std::size_t>(b) * max_tokens * idim;
  p.seed = workload::splitmix64_mix(o.seed ^ 0x1d5aull) + static_cast<std::uint64_t>(l) * 1000003ull +
           static_cast<std::uint64_t>(b);
  be.kv_synth(p);
}

void DecodeEngine::State::index_select(int l) {
  const auto ls = static_cast<std::int16_t>(l);
  const auto t = dsa_tokens(ctx, step, kt);
  const auto off = static_cast<std::size_t>(l) * B;
  index_op[static_cast<std::size_t>(l)] =
      rec.op({st::index_score, ls, -1, t.cached * (2ull * idim + 4) + 2ull * B * idx_rows,
              2 * t.cached * static_cast<std::uint64_t>(ih * idim)},
             [&] {
               kernels::IndexerScoreParams p;
               p.q = idx_out.get(); p.w = idx_out.get() + ih * idim + idim;
               p.q_batch_stride = p.w_batch_stride = idx_rows;
               p.k = kv[static_cast<std::size_t>(l)].ik.get(); p.n_tokens = counts.get(); p.scores = tok_scores.get();
               p.batch = B; p.heads = ih; p.head_dim = idim; p.max_tokens = static_cast<int>(max_tokens);
               be.indexer_score(p);
             });
  rec.op({st::token_topk, ls, -1, 8 * t.cached + 4ull * B * kt, 2 * t.cached}, [&] {
    kernels::TokenSelectParams p;
    p.scores = tok_scores.get(); p.n_tokens = counts.get();
    p.ids = tok_ids.get() + off * kt; p.count = tok_count.get() + off;
    p.batch = B; p.max_tokens = static_cast<int>(max_tokens); p.topk = kt;
    p.sink_tokens = static_cast<int>(m.dsa.sink_tokens); p.local_tokens = static_cast<int>(m.dsa.local_tokens);
    be.token_select(p);
  });
}

void DecodeEngine::State::token_gather(int l) {
  const auto lz = static_cast<std::size_t>(l);
  auto& lk = kv[lz];
  const bool host = lk.on_host;
  const std::uint64_t token_bytes = 4ull * nkv * hd;  // K and V
  OpInfo info{host ? st::h2d_gather : st::d2d_gather, static_cast<std::int16_t>(l), -1,
              dsa_tokens(ctx, step, kt).selected * token_bytes, 0,
              host ? trace::OpKind::h2d : trace::OpKind::d2d,
              host ? trace::Engine::zero_copy_gather : trace::Engine::none};
  const std::size_t half = static_cast<std::size_t>(B) * nkv * kt * hd;
  const float l2_ratio = l2_hit_ratio[lz];
  gather_op[lz] = rec.op(info, [&] {
    if (l2_ratio > 0) be.set_l2_window(lk.k, lk.dk.bytes(), l2_ratio);
    kernels::TokenGatherParams p;
    p.store_k = lk.k; p.store_v = lk.v;
    p.ids = tok_ids.get() + lz * B * kt; p.count = tok_count.get() + lz * B;
    p.out_k = gathered.get(); p.out_v = gathered.get() + half;
    p.batch = B; p.topk = kt; p.kv_heads = nkv; p.head_dim = hd; p.max_tokens = max_tokens;
    be.token_gather(p);
    if (l2_ratio > 0) be.set_l2_window(nullptr, 0, 0.0f);
  });
}

void DecodeEngine::State::token_attention(int l) {
  const auto lz = static_cast<std::size_t>(l);
  const std::uint64_t sel = dsa_tokens(ctx, step, kt).selected;
  const std::size_t half = static_cast<std::size_t>(B) * nkv * kt * hd;
  attention_op[lz] = rec.op({st::attention, static_cast<std::int16_t>(l), -1, sel * 4ull * nkv * hd,
                             sel * 4ull * nh * hd},
                            [&] {
                              kernels::DenseDecodeAttentionParams p;
                              p.shape.batch = B; p.shape.n_heads = nh; p.shape.kv_heads = nkv; p.shape.head_dim = hd;
                              p.q = q.get(); p.k = gathered.get(); p.v = gathered.get() + half;
                              p.seq_len = tok_count.get() + lz * B;
                              p.out = attn.get(); p.max_tokens = kt;
                              be.dense_decode_attention(p);
                            });
}

void DecodeEngine::State::patch_dsa_ops() {
  const auto t = dsa_tokens(ctx, step, kt);
  const std::uint64_t token_bytes = 4ull * nkv * hd;
  for (int l = 0; l < L; ++l) {
    const auto lz = static_cast<std::size_t>(l);
    rec.patch(index_op[lz], t.cached * (2ull * idim + 4) + 2ull * B * idx_rows, 0,
              2 * t.cached * static_cast<std::uint64_t>(ih * idim));
    rec.patch(gather_op[lz], t.selected * token_bytes, 0);
    rec.patch(attention_op[lz], t.selected * token_bytes, 0, t.selected * 4ull * nh * hd);
  }
}

void DecodeEngine::State::finish_dsa_step() {
  const auto bz = static_cast<std::size_t>(B);
  const std::int32_t* count = readback_counts.get();
  const std::uint64_t token_bytes = 4ull * nkv * hd;
  const auto stp = static_cast<std::int32_t>(step);
  std::vector<trace::CacheOutcome> outcomes;
  for (int l = 0; l < L; ++l) {
    trace::CacheOutcome c;
    c.step = stp;
    c.layer = static_cast<std::int16_t>(l);
    for (std::size_t b = 0; b < bz; ++b) c.selected += static_cast<std::uint64_t>(count[l * bz + b]);
    c.misses = c.selected;  // no cache: every selected token is gathered
    c.loaded_bytes = c.selected * token_bytes;
    outcomes.push_back(c);
    if (stp < o.warmup_steps) continue;
    totals.selected += c.selected;
    totals.misses += c.misses;
    totals.loaded_bytes += c.loaded_bytes;
    if (kv[static_cast<std::size_t>(l)].on_host) totals.h2d_bytes += c.loaded_bytes;
  }
  // The token ids (when the trace keeps them) go with the trace work in their
  // pinned buffer; the counts are copied (the next step reuses their buffer).
  rec.after_step([&r = rec, stp, bz, k = kt, chosen = std::move(readback_ids),
                  count = std::vector<std::int32_t>(count, count + L * bz), outcomes = std::move(outcomes)] {
    for (std::size_t l = 0; l < outcomes.size(); ++l) {
      for (std::size_t b = 0; b < bz && chosen; ++b) {
        const std::size_t row = l * bz + b;
        r.token_selection(stp, static_cast<std::int16_t>(l), static_cast<std::int32_t>(b),
                          std::span<const std::int32_t>(chosen->get() + row * k, static_cast<std::size_t>(count[row])));
      }
      r.cache(outcomes[l]);
    }
  });
  if (!graph_ready[static_cast<std::size_t>(step % Backend::kGraphSlots)]) {
    std::fill(gather_op.begin(), gather_op.end(), -1);
    std::fill(attention_op.begin(), attention_op.end(), -1);
    std::fill(index_op.begin(), index_op.end(), -1);
  }
}

}  // namespace foresight::runtime

// Prefill: real (chunked per sequence, dense causal attention) or synthetic
// (KV filled with data of the scale synthetic weights produce), then key
// compression with the compression ring of every layer, and the tail slots.
// Offloaded layers: real prefill writes a GPU staging copy of the sequence,
// copied to pinned host memory on the side stream while the next chunk runs.
#include <cmath>

#include "engine_state.hpp"
#include "foresight/config/decode_plan.hpp"
#include "foresight/workload/splitmix64.hpp"

namespace foresight::runtime {

namespace st = trace::stage;

namespace {
std::uint64_t synth_seed(std::uint64_t seed, int layer, int seq, int which) {
  return workload::splitmix64_mix(seed ^ 0x5eedf111ull) ^
         ((static_cast<std::uint64_t>(layer) << 40) + (static_cast<std::uint64_t>(seq) << 2) +
          static_cast<std::uint64_t>(which)) * 0x9E3779B97F4A7C15ull;
}
}  // namespace

// Compresses the sequence's keys held token-major in k_tmp [tokens, nkv, hd]
// and seeds its decode ring.
void DecodeEngine::State::compress_prefill(int l, int b, std::int64_t tokens, const bf16* k_seq,
                                           std::int64_t k_token_stride, std::int64_t k_head_stride) {
  auto& lk = kv[static_cast<std::size_t>(l)];
  rec.op({st::compress, static_cast<std::int16_t>(l), b, static_cast<std::uint64_t>(tokens) * nkv * hd * 4}, [&] {
    if (k_seq) {  // token-major copy of a head-major store
      for (int g = 0; g < nkv; ++g) {
        be.copy_2d(k_tmp.get() + static_cast<std::size_t>(g) * hd, static_cast<std::size_t>(nkv) * hd * sizeof(bf16),
                   k_seq + static_cast<std::size_t>(g) * static_cast<std::size_t>(k_head_stride),
                   static_cast<std::size_t>(k_token_stride) * sizeof(bf16), static_cast<std::size_t>(hd) * sizeof(bf16),
                   static_cast<std::size_t>(tokens));
      }
    }
    kernels::KeyCompressPrefillParams p;
    p.k = k_tmp.get(); p.kc = lk.kc.get() + static_cast<std::size_t>(b) * kc_seq_stride();
    p.tokens = tokens; p.first_window = 0; p.kv_heads = nkv; p.head_dim = hd; p.kernel = ck; p.stride = cs;
    p.ring = lk.ring.get() + static_cast<std::size_t>(b) * ck * nkv * hd;
    if (tokens > 0) be.key_compress_prefill(p);
  });
}

// Layer l of prompt tokens [s0, s0 + c) of sequence b: config::prefill_layer_plan.
void DecodeEngine::State::prefill_layer(int l, int b, std::int64_t s0, int c) {
  auto& lk = kv[static_cast<std::size_t>(l)];
  const auto ls = static_cast<std::int16_t>(l);
  // Where this sequence's KV lives during prefill: the store, or the staging copy.
  bf16* kd = lk.on_host ? lk.stage_k.get() : lk.k;
  bf16* vd = lk.on_host ? lk.stage_v.get() : lk.v;
  const int seq = lk.on_host ? 0 : b;
  for (const config::PrefillWork work : config::prefill_layer_plan()) {
    switch (work) {
      case config::PrefillWork::project:
        layer_front(l, c);
        if (o.prefill_tap) o.prefill_tap(l, c, xn.get(), qkvf.get());
        break;
      case config::PrefillWork::rope:
        rec.op({st::rope, ls, b, 4ull * static_cast<std::uint64_t>(c) * static_cast<std::uint64_t>((nh + nkv) * hd)}, [&] {
          kernels::RopeParams r;
          r.q = qkvf.get() + q_off; r.k = qkvf.get() + k_off;
          r.positions = pos.get(); r.inv_freq = inv_freq.get();
          r.batch = c; r.n_heads = nh; r.n_kv_heads = nkv; r.head_dim = hd;
          r.q_batch_stride = R; r.k_batch_stride = R;
          be.rope(r);
        });
        break;
      case config::PrefillWork::kv_write:
        rec.op({st::kv_write, ls, b, 4ull * static_cast<std::uint64_t>(c) * static_cast<std::uint64_t>(nkv * hd)}, [&] {
          kernels::KvAppendParams a;
          a.src = qkvf.get(); a.src_row_stride = R; a.k_offset = k_off; a.v_offset = v_off;
          a.positions = pos.get(); a.rows = c; a.first_seq = seq; a.one_sequence = true;
          a.store_k = kd; a.store_v = vd; a.max_tokens = max_tokens; a.block_tokens = block;
          a.kv_heads = nkv; a.head_dim = hd;
          be.kv_append(a);
          if (dsa) append_indexer_key(l, c, b, true);  // the indexer keys of the chunk
        });
        break;
      case config::PrefillWork::attention: prefill_attention(l, b, s0, c, kd, vd, seq); break;
      case config::PrefillWork::o_proj: o_proj(l, c); break;
      case config::PrefillWork::mlp: mlp(l, c); break;
    }
  }
}

// KV head g's query group over the chunk: the store is head-major, so
// attention runs one call per KV head (q, o: the group's columns of qkvf, attn).
kernels::PrefillAttentionParams DecodeEngine::State::prefill_head_params(int g, int c, const bf16* kd, const bf16* vd,
                                                                         int seq) const {
  kernels::PrefillAttentionParams a;
  a.chunk = c; a.n_heads = group; a.n_kv_heads = 1; a.head_dim = hd;
  a.q_token_stride = R; a.kv_token_stride = hd; a.o_token_stride = nh * hd;
  a.q = qkvf.get() + q_off + g * group * hd;
  a.k = kd + store_offset(seq, g, 0);
  a.v = vd + store_offset(seq, g, 0);
  a.o = attn.get() + g * group * hd;
  return a;
}

void DecodeEngine::State::prefill_attention(int l, int b, std::int64_t s0, int c, const bf16* kd, const bf16* vd,
                                            int seq) {
  if (sparse_prefill) {
    if (s0 != 0) throw std::logic_error("sparse prefill: the prompt must be one chunk");
    return prefill_attention_sparse(l, b, c, kd, vd, seq);
  }
  kernels::PrefillAttentionParams a = prefill_head_params(0, c, kd, vd, seq);
  a.start = s0;
  const double flops = kernels::prefill_attention_flops(a) * nkv;
  rec.op({st::prefill_attention, static_cast<std::int16_t>(l), b, static_cast<std::uint64_t>((s0 + c) * nkv * hd * 4),
          static_cast<std::uint64_t>(flops)},
         [&] {
           for (int g = 0; g < nkv; ++g) {
             a = prefill_head_params(g, c, kd, vd, seq);
             a.start = s0;
             be.prefill_attention(a);
           }
         });
}

std::int64_t DecodeEngine::State::run_prefill_real(int b, std::int32_t& chunk_index) {
  const std::int64_t T = ctx[static_cast<std::size_t>(b)] - 1;
  const auto& prompt = prompts[static_cast<std::size_t>(b)];
  const bool any_host = prefill_offload != config::PrefillOffload::none;
  if (any_host) be.wait(prefill_event(1));  // the previous sequence's staging copies are done
  std::int64_t total_ns = 0;
  for (std::int64_t s0 = 0; s0 < T; s0 += o.prefill_chunk_tokens) {
    if (stop_requested()) {  // between chunks: every recorded step is whole
      prefill_interrupted = true;
      break;
    }
    const int c = static_cast<int>(std::min<std::int64_t>(o.prefill_chunk_tokens, T - s0));
    rec.begin_step(trace::Phase::prefill, chunk_index++);
    std::vector<std::int32_t> p(static_cast<std::size_t>(c));
    for (int i = 0; i < c; ++i) p[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(s0 + i);
    rec.op({st::host, -1, b}, [&] {
      ids.upload(prompt.data() + s0, static_cast<std::size_t>(c));
      pos.upload(p.data(), p.size());
    });
    rec.op({st::embed, -1, b, 4ull * static_cast<std::uint64_t>(c) * static_cast<std::uint64_t>(H)}, [&] {
      be.embedding({ids.get(), w.embed.get(), x.get(), c, V, H});
    });
    for (int l = 0; l < L; ++l) prefill_layer(l, b, s0, c);
    // This chunk's K/V of the offloaded layers to pinned host memory: on the
    // side stream, overlapped with the next chunk (sparda modes), or inline
    // on the critical path (sparse-offload, the baseline).
    const bool overlap = prefill_offload == config::PrefillOffload::side_copy && be.stream_count() > 1;
    if (any_host) {
      if (overlap) {
        be.record(prefill_event(0));
        be.set_stream(1);
        be.wait(prefill_event(0));
        rec.boundary();
      }
      const std::size_t row = static_cast<std::size_t>(c) * hd * sizeof(bf16);
      OpInfo info{st::prefill_kv_offload, -1, b, 0, 0, trace::OpKind::d2h, trace::Engine::memcpy_bulk};
      info.stream = overlap ? 1 : 0;
      for (const auto& lk : kv) info.bytes += lk.on_host ? 2 * nkv * row : 0;
      rec.op(info, [&] {
        for (auto& lk : kv) {
          if (!lk.on_host) continue;
          for (int g = 0; g < nkv; ++g) {
            be.device_copy(lk.k + store_offset(b, g, s0), lk.stage_k.get() + store_offset(0, g, s0), row);
            be.device_copy(lk.v + store_offset(b, g, s0), lk.stage_v.get() + store_offset(0, g, s0), row);
          }
        }
      });
      if (overlap) {
        be.record(prefill_event(1));
        be.set_stream(0);
      }
    }
    if (config::prefill_compresses(config::mode_traits(o.mode)) && s0 + c >= T) {  // the last chunk: compress the keys
      for (int l = 0; l < L; ++l) {
        auto& lk = kv[static_cast<std::size_t>(l)];
        const bf16* src = lk.on_host ? lk.stage_k.get() + store_offset(0, 0, 0) : lk.k + store_offset(b, 0, 0);
        compress_prefill(l, b, T, src, hd, max_tokens * hd);
      }
    }
    total_ns += rec.end_step();
    if (o.progress) o.progress(static_cast<std::size_t>(prefilled + s0 + c), static_cast<std::size_t>(prompt_total),
                               "prefill");
  }
  prefilled += T;
  if (any_host) be.wait(prefill_event(1));
  return total_ns;
}

std::int64_t DecodeEngine::State::run_prefill_synthetic(std::int32_t& chunk_index) {
  // Keys and values of synthetic weights: k = W_k rmsnorm(x) with W ~ N(0, 0.02)
  // and unit-RMS input has std 0.02 * sqrt(hidden).
  const float sd = 0.02f * std::sqrt(static_cast<float>(H));
  rec.begin_step(trace::Phase::prefill, chunk_index++);
  for (int l = 0; l < L; ++l) {
    auto& lk = kv[static_cast<std::size_t>(l)];
    for (int b = 0; b < B; ++b) {
      const std::int64_t T = ctx[static_cast<std::size_t>(b)] - 1;
      kernels::KvSynthParams p;
      p.tokens = T; p.kv_heads = nkv; p.head_dim = hd; p.stddev = sd;
      rec.op({st::kv_write, static_cast<std::int16_t>(l), b, static_cast<std::uint64_t>(4 * T * nkv * hd)}, [&] {
        p.head_stride = max_tokens * hd; p.token_stride = hd;
        for (int which = 0; which < 2; ++which) {
          p.dst = (which == 0 ? lk.k : lk.v) + store_offset(b, 0, 0);
          p.seed = synth_seed(o.seed, l, b, which);
          be.kv_synth(p);
        }
        if (dsa) synth_indexer_keys(l, b, T);
      });
      if (!sparse) continue;
      rec.op({st::kv_write, static_cast<std::int16_t>(l), b, static_cast<std::uint64_t>(2 * T * nkv * hd)}, [&] {
        p.dst = k_tmp.get(); p.head_stride = hd; p.token_stride = static_cast<std::int64_t>(nkv) * hd;
        p.seed = synth_seed(o.seed, l, b, 0);  // the same keys, token-major
        be.kv_synth(p);
      });
      compress_prefill(l, b, T, nullptr, 0, 0);
    }
  }
  return rec.end_step();
}

void DecodeEngine::State::init_tail_slots() {
  // The tail slot starts with the prompt's tokens of the current block.
  rec.op({st::kv_write}, [&] {
    for (int l = 0; l < L; ++l) {
      auto& lk = kv[static_cast<std::size_t>(l)];
      for (int b = 0; b < B; ++b) {
        const std::int64_t filled = ctx[static_cast<std::size_t>(b)] - 1;
        const std::int64_t first = filled / block * block;
        const auto bytes = static_cast<std::size_t>(filled - first) * hd * sizeof(bf16);
        for (int g = 0; g < nkv; ++g) {
          be.device_copy(lk.slots_k.get() + slot_offset(b, g, n_slots), lk.k + store_offset(b, g, first), bytes);
          be.device_copy(lk.slots_v.get() + slot_offset(b, g, n_slots), lk.v + store_offset(b, g, first), bytes);
        }
      }
    }
  });
}

std::int64_t DecodeEngine::prefill(const std::vector<std::vector<std::int32_t>>& prompts) {
  auto& s = *s_;
  if (!s.prompts.empty()) throw std::logic_error("DecodeEngine::prefill called twice");
  if (prompts.size() != static_cast<std::size_t>(s.B)) throw std::invalid_argument("prefill: one prompt per sequence");
  for (int b = 0; b < s.B; ++b) {
    const auto& p = prompts[static_cast<std::size_t>(b)];
    if (static_cast<std::int64_t>(p.size()) != s.ctx[static_cast<std::size_t>(b)]) {
      throw std::invalid_argument("prefill: prompt " + std::to_string(b) + " must have context_tokens ids");
    }
    for (auto id : p) {
      if (id < 0 || id >= s.V) throw std::invalid_argument("prefill: token id outside the vocabulary");
    }
  }
  s.prompts = prompts;
  s.prefilled = 0;
  s.prompt_total = 0;
  for (int b = 0; b < s.B; ++b) s.prompt_total += s.ctx[static_cast<std::size_t>(b)] - 1;
  std::int32_t chunk = 0;
  std::int64_t total_ns = 0;
  if (s.o.synthetic_prefill) {
    total_ns += s.run_prefill_synthetic(chunk);
  } else {
    for (int b = 0; b < s.B && !s.prefill_interrupted; ++b) {
      if (s.stop_requested()) s.prefill_interrupted = true;
      else total_ns += s.run_prefill_real(b, chunk);
    }
  }
  if (s.prefill_interrupted) {
    s.be.synchronize();
    return total_ns;
  }
  if (s.sparse) {
    s.rec.begin_step(trace::Phase::prefill, chunk++);
    s.init_tail_slots();
    total_ns += s.rec.end_step();
  }
  s.be.synchronize();
  if (s.o.selections) s.stage_external_selections();
  return total_ns;
}

}  // namespace foresight::runtime

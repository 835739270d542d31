// Prefill: real (chunked per sequence, dense causal attention) or synthetic
// (KV filled with data of the scale synthetic weights produce), then key
// compression and the compression ring of every layer.
#include <cmath>
#include <random>

#include "engine_state.hpp"

namespace foresight::runtime {

namespace st = trace::stage;

void DecodeEngine::State::compress_prefill(int l, int b, std::int64_t tokens) {
  const auto lz = static_cast<std::size_t>(l);
  const std::size_t row = static_cast<std::size_t>(hd) * sizeof(bf16);
  rec.op({st::compress, static_cast<std::int16_t>(l), b, static_cast<std::uint64_t>(tokens) * nkv * hd * 4}, [&] {
    // Token-major copy [tokens, nkv, hd] of the sequence's keys.
    for (std::int64_t t = 0; t < tokens; ++t) {
      for (int g = 0; g < nkv; ++g) {
        be.device_copy(k_tmp.get() + (static_cast<std::size_t>(t) * nkv + g) * hd,
                       k_store[lz].get() + store_offset(b, g, t), row);
      }
    }
    kernels::KeyCompressPrefillParams p;
    p.k = k_tmp.get(); p.kc = kc[lz].get() + static_cast<std::size_t>(b) * kc_seq_stride();
    p.tokens = tokens; p.first_window = 0; p.kv_heads = nkv; p.head_dim = hd; p.kernel = ck; p.stride = cs;
    if (tokens > 0) be.key_compress_prefill(p);
    // Ring: token t at slot t % kernel, for the last `kernel` tokens.
    for (std::int64_t t = std::max<std::int64_t>(0, tokens - ck); t < tokens; ++t) {
      be.device_copy(ring[lz].get() + (static_cast<std::size_t>(b) * ck + static_cast<std::size_t>(t % ck)) * nkv * hd,
                     k_tmp.get() + static_cast<std::size_t>(t) * nkv * hd, row * static_cast<std::size_t>(nkv));
    }
  });
}

void DecodeEngine::State::run_prefill_real(int b, std::int32_t& chunk_index) {
  const std::int64_t T = ctx[static_cast<std::size_t>(b)] - 1;
  const auto& prompt = prompts[static_cast<std::size_t>(b)];
  for (std::int64_t s0 = 0; s0 < T; s0 += o.prefill_chunk_tokens) {
    const int c = static_cast<int>(std::min<std::int64_t>(o.prefill_chunk_tokens, T - s0));
    rec.begin_step(trace::Phase::prefill, chunk_index++);
    std::vector<std::int32_t> p(static_cast<std::size_t>(c));
    for (int i = 0; i < c; ++i) p[static_cast<std::size_t>(i)] = static_cast<std::int32_t>(s0 + i);
    rec.op({st::host, -1, b}, [&] {
      ids.upload(prompt.data() + s0, static_cast<std::size_t>(c));
      pos.upload(p.data(), p.size());
    });
    rec.op({st::embed, -1, b, static_cast<std::uint64_t>(4 * c * H)}, [&] {
      be.embedding({ids.get(), embed.get(), x.get(), c, V, H});
    });
    for (int l = 0; l < L; ++l) {
      const auto lz = static_cast<std::size_t>(l);
      const auto ls = static_cast<std::int16_t>(l);
      layer_front(l, c);
      if (o.prefill_tap) o.prefill_tap(l, c, xn.get(), qkvf.get());
      rec.op({st::rope, ls, b, static_cast<std::uint64_t>(4 * c * (nh + nkv) * hd)}, [&] {
        kernels::RopeParams r;
        r.q = qkvf.get() + q_off; r.k = qkvf.get() + k_off;
        r.positions = pos.get(); r.inv_freq = inv_freq.get();
        r.batch = c; r.n_heads = nh; r.n_kv_heads = nkv; r.head_dim = hd;
        r.q_batch_stride = R; r.k_batch_stride = R;
        be.rope(r);
      });
      rec.op({st::kv_write, ls, b, static_cast<std::uint64_t>(4 * c * nkv * hd)}, [&] {
        for (int i = 0; i < c; ++i) {
          const bf16* row = qkvf.get() + static_cast<std::size_t>(i) * R;
          write_kv_token(l, b, s0 + i, row + k_off, row + v_off);
        }
      });
      kernels::PrefillAttentionParams a;
      a.start = s0; a.chunk = c; a.n_heads = group; a.n_kv_heads = 1; a.head_dim = hd;
      a.q_token_stride = R; a.kv_token_stride = hd; a.o_token_stride = nh * hd;
      const double flops = kernels::prefill_attention_flops(a) * nkv;
      rec.op({st::prefill_attention, ls, b, static_cast<std::uint64_t>((s0 + c) * nkv * hd * 4),
              static_cast<std::uint64_t>(flops)},
             [&] {
               for (int g = 0; g < nkv; ++g) {  // the store is head-major: one call per KV head
                 a.q = qkvf.get() + q_off + g * group * hd;
                 a.k = k_store[lz].get() + store_offset(b, g, 0);
                 a.v = v_store[lz].get() + store_offset(b, g, 0);
                 a.o = attn.get() + g * group * hd;
                 be.prefill_attention(a);
               }
             });
      layer_back(l, c);
    }
    rec.end_step();
  }
}

void DecodeEngine::State::run_prefill_synthetic(std::int32_t& chunk_index) {
  // Keys and values of synthetic weights: k = W_k rmsnorm(x) with W ~ N(0, 0.02)
  // and unit-RMS input has std 0.02 * sqrt(hidden).
  const float sd = 0.02f * std::sqrt(static_cast<float>(H));
  std::mt19937_64 rng(o.seed ^ 0x5eedf111ull);
  std::normal_distribution<float> dist(0.f, sd);
  rec.begin_step(trace::Phase::prefill, chunk_index++);
  for (int l = 0; l < L; ++l) {
    const auto lz = static_cast<std::size_t>(l);
    for (int b = 0; b < B; ++b) {
      const std::int64_t T = ctx[static_cast<std::size_t>(b)] - 1;
      std::vector<bf16> buf(static_cast<std::size_t>(T) * hd);
      rec.op({st::kv_write, static_cast<std::int16_t>(l), b, static_cast<std::uint64_t>(4 * T * nkv * hd)}, [&] {
        for (int g = 0; g < nkv; ++g) {
          for (auto* store : {&k_store[lz], &v_store[lz]}) {
            for (auto& v : buf) v = float_to_bf16(dist(rng));
            if (T > 0) be.to_device(store->get() + store_offset(b, g, 0), buf.data(), buf.size() * sizeof(bf16));
          }
        }
      });
    }
  }
  rec.end_step();
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
  const auto t0 = s.be.mark();
  std::int32_t chunk = 0;
  if (s.o.synthetic_prefill) {
    s.run_prefill_synthetic(chunk);
  } else {
    for (int b = 0; b < s.B; ++b) s.run_prefill_real(b, chunk);
  }
  if (s.sparse) {
    s.rec.begin_step(trace::Phase::prefill, chunk++);
    for (int l = 0; l < s.L; ++l) {
      for (int b = 0; b < s.B; ++b) s.compress_prefill(l, b, s.ctx[static_cast<std::size_t>(b)] - 1);
    }
    s.rec.end_step();
  }
  const auto t1 = s.be.mark();
  s.be.synchronize();
  return s.be.mark_ns(t1) - s.be.mark_ns(t0);
}

}  // namespace foresight::runtime

// CPU references of block-sparse prefill attention and of the last-queries
// estimate (see foresight/kernels/sparse_prefill.hpp). Scores are the
// sequential fp32 sum over head_dim, softmax and the output sum run over a
// query's elements in ascending key order, as in prefill_attention_cpu.
// Parallel over (query, head) for attention and over heads for the estimate;
// the bits do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <vector>

#include "dense_validate.hpp"
#include "foresight/kernels/param_check.hpp"
#include "foresight/kernels/sparse_prefill.hpp"
#include "parallel.hpp"

namespace foresight::kernels {

namespace {
constexpr std::int64_t kB = kSparsePrefillBlock;

// K and V in fp32, [n_kv_heads, keys, head_dim].
struct WideKv {
  std::vector<float> k, v;
};
WideKv widen(const PrefillAttentionParams& p, std::int64_t keys) {
  WideKv w;
  const std::int64_t d = p.head_dim;
  w.k.resize(static_cast<std::size_t>(p.n_kv_heads * keys * d));
  w.v.resize(w.k.size());
  detail::parallel_for(keys, 256, [&](std::int64_t j) {
    for (int g = 0; g < p.n_kv_heads; ++g) {
      const std::size_t dst = static_cast<std::size_t>((g * keys + j) * d);
      for (std::int64_t e = 0; e < d; ++e) {
        w.k[dst + static_cast<std::size_t>(e)] = bf16_to_float(p.k[j * p.kv_token_stride + g * d + e]);
        w.v[dst + static_cast<std::size_t>(e)] = bf16_to_float(p.v[j * p.kv_token_stride + g * d + e]);
      }
    }
  });
  return w;
}

float score(const bf16* q, const float* k, std::int64_t d) {
  float s = 0.f;
  for (std::int64_t e = 0; e < d; ++e) s += bf16_to_float(q[e]) * k[e];
  return s;
}

bool bit(const std::uint64_t* bits, std::int64_t x) { return (bits[x / 64] >> (x % 64)) & 1u; }

// Element (i, j) of a masked tile of head h.
bool rule_allows(const SparsePrefillLayoutView& l, int h, std::int64_t i, std::int64_t j) {
  const SparseHeadRule& r = l.rules[h];
  switch (r.rule) {
    case SparseRule::causal: return true;
    case SparseRule::triangular: return j < r.sink_tokens || i - j < r.local_tokens;
    case SparseRule::slash:
      return bit(l.slash_bits + h * l.words, i - j) && !bit(l.column_bits + h * l.words, j);
  }
  return false;
}

// Keys query i of head h computes, ascending.
void visible_keys(const SparsePrefillLayoutView& l, int h, std::int64_t i, std::vector<std::int64_t>& out) {
  out.clear();
  const std::int64_t cell = h * l.q_blocks + i / kB;
  const std::int32_t* cols = l.columns + l.column_offsets[h];
  const std::int64_t n_cols = l.column_offsets[h + 1] - l.column_offsets[h];
  for (std::int64_t t = l.tile_offsets[cell]; t < l.tile_offsets[cell + 1]; ++t) {
    const std::int32_t e = l.tiles[t];
    const std::int64_t idx = e & kTileIndexMask;
    if (e & kTileGathered) {
      for (std::int64_t c = idx * kB; c < std::min(idx * kB + kB, n_cols); ++c) {
        if (cols[c] <= i) out.push_back(cols[c]);
      }
      continue;
    }
    for (std::int64_t j = idx * kB; j < idx * kB + kB && j <= i; ++j) {
      if (!(e & kTileMasked) || rule_allows(l, h, i, j)) out.push_back(j);
    }
  }
  std::sort(out.begin(), out.end());
}

PrefillAttentionParams validated_attn(const PrefillAttentionParams& a, const char* op) {
  const PrefillAttentionParams p = detail::validated(a);
  require_param(p.start == 0, op, "attn.start", "must be 0 (whole-prompt prefill)");
  require_param(p.chunk < (std::int64_t{1} << 30), op, "attn.chunk", "must be < 2^30");
  return p;
}

}  // namespace

void sparse_prefill_cpu(const SparsePrefillParams& params) {
  const char* op = "sparse_prefill";
  const PrefillAttentionParams p = validated_attn(params.attn, op);
  const SparsePrefillLayoutView& l = params.layout;
  require_param(l.q_blocks == (p.chunk + kB - 1) / kB, op, "layout.q_blocks", "must be ceil(attn.chunk / 64)");
  require_param(p.chunk == 0 || (l.tile_offsets && l.tiles && l.rules && l.column_offsets), op, "layout",
                "pointers must be set");
  if (p.chunk == 0) return;
  const WideKv w = widen(p, p.chunk);
  const std::int64_t d = p.head_dim;
  detail::parallel_for(p.chunk * p.n_heads, 4, [&](std::int64_t task) {
    const std::int64_t i = task / p.n_heads;
    const int h = static_cast<int>(task % p.n_heads);
    const std::int64_t g = h / (p.n_heads / p.n_kv_heads);
    std::vector<std::int64_t> keys;
    visible_keys(l, h, i, keys);
    const bf16* q = p.q + i * p.q_token_stride + h * d;
    std::vector<float> s(keys.size()), acc(static_cast<std::size_t>(d), 0.f);
    float max_s = -INFINITY;
    for (std::size_t n = 0; n < keys.size(); ++n) {
      s[n] = score(q, w.k.data() + (g * p.chunk + keys[n]) * d, d) * p.scale;
      max_s = std::max(max_s, s[n]);
    }
    float denom = 0;
    for (std::size_t n = 0; n < keys.size(); ++n) {
      const float wn = std::exp(s[n] - max_s);
      denom += wn;
      const float* vj = w.v.data() + (g * p.chunk + keys[n]) * d;
      for (std::int64_t e = 0; e < d; ++e) acc[static_cast<std::size_t>(e)] += wn * vj[e];
    }
    bf16* o = p.o + i * p.o_token_stride + h * d;
    for (std::int64_t e = 0; e < d; ++e) o[e] = float_to_bf16(acc[static_cast<std::size_t>(e)] / denom);
  });
}

SparsePrefillEstimate estimate_sparse_prefill_cpu(const PrefillAttentionParams& attn, int n_last) {
  const char* op = "sparse_prefill_estimate";
  PrefillAttentionParams unused_o = attn;  // the estimate writes no output
  if (!unused_o.o) unused_o.o = const_cast<bf16*>(attn.q);
  const PrefillAttentionParams p = validated_attn(unused_o, op);
  require_param(n_last >= 1, op, "n_last", "must be >= 1");
  SparsePrefillEstimate est;
  est.n_heads = p.n_heads;
  est.tokens = p.chunk;
  est.n_last = static_cast<int>(std::min<std::int64_t>(n_last, p.chunk));
  const std::int64_t n = p.chunk, q_blocks = (n + kB - 1) / kB, d = p.head_dim;
  est.key_mass.assign(static_cast<std::size_t>(p.n_heads * n), 0.f);
  est.offset_mass.assign(est.key_mass.size(), 0.f);
  est.block_offset_mass.assign(static_cast<std::size_t>(p.n_heads * q_blocks), 0.f);
  if (n == 0) return est;
  const WideKv w = widen(p, n);
  const float inv_rows = 1.f / static_cast<float>(est.n_last);
  detail::parallel_for(p.n_heads, 1, [&](std::int64_t h) {
    const std::int64_t g = h / (p.n_heads / p.n_kv_heads);
    float* key = est.key_mass.data() + h * n;
    float* off = est.offset_mass.data() + h * n;
    float* blk = est.block_offset_mass.data() + h * q_blocks;
    std::vector<float> s(static_cast<std::size_t>(n));
    for (std::int64_t i = n - est.n_last; i < n; ++i) {
      const bf16* q = p.q + i * p.q_token_stride + h * d;
      float max_s = -INFINITY;
      for (std::int64_t j = 0; j <= i; ++j) {
        s[static_cast<std::size_t>(j)] = score(q, w.k.data() + (g * n + j) * d, d) * p.scale;
        max_s = std::max(max_s, s[static_cast<std::size_t>(j)]);
      }
      float denom = 0;
      for (std::int64_t j = 0; j <= i; ++j) {
        s[static_cast<std::size_t>(j)] = std::exp(s[static_cast<std::size_t>(j)] - max_s);
        denom += s[static_cast<std::size_t>(j)];
      }
      const float norm = inv_rows / denom;
      for (std::int64_t j = 0; j <= i; ++j) {
        const float pr = s[static_cast<std::size_t>(j)] * norm;
        key[j] += pr;
        off[i - j] += pr;
        blk[i / kB - j / kB] += pr;
      }
    }
  });
  return est;
}

}  // namespace foresight::kernels

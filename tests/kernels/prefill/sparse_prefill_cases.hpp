// Inputs shared by the sparse prefill tests and GPU check: synthetic Q/K
// whose heads have known structure, random patterns, and a naive reference.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "foresight/kernels/prefill_attention.hpp"
#include "foresight/kernels/sparse_prefill.hpp"

namespace foresight::testing {

// Head structure planted into Q and K (scale 1 / sqrt(head_dim) assumed).
struct PlantedHead {
  float local = 0;             // RoPE-like local band: score local at offset 0, falling off by ~3 at offset 64, ~11 at 128
  std::int64_t sinks = 0;      // keys [0, sinks) get score sink_score
  float sink_score = 0;
  std::vector<std::int64_t> columns;  // keys with score column_score
  float column_score = 0;
  std::int64_t cluster_lo = 0, cluster_hi = 0;  // keys [lo, hi) with score cluster_score
  float cluster_score = 0;
};

// Fills q [tokens, heads.size(), d] and k, v [tokens, n_kv, d] (d >= 16).
// Every head is given its own KV head when n_kv == heads.size(); with GQA
// the planted key features of the heads of a group are added. Dimensions
// 0..7 carry 4 rotation frequencies (local band), 8 the sinks, 9 the
// columns, 10 the cluster; the rest is small noise.
inline void plant(const std::vector<PlantedHead>& heads, int n_kv, int d, std::int64_t tokens, std::uint64_t seed,
                  std::vector<bf16>* q, std::vector<bf16>* k, std::vector<bf16>* v) {
  const int nh = static_cast<int>(heads.size()), group = nh / n_kv;
  const float root = std::sqrt(std::sqrt(static_cast<float>(d)));  // q . k * d^-1/2 = a * b
  const double theta[4] = {0.005, 0.008, 0.011, 0.015};
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> noise(-0.05f, 0.05f), val(-1.f, 1.f);
  q->assign(static_cast<std::size_t>(tokens * nh * d), bf16{});
  k->assign(static_cast<std::size_t>(tokens * n_kv * d), bf16{});
  v->assign(k->size(), bf16{});
  std::vector<float> kf(static_cast<std::size_t>(n_kv * d));
  for (std::int64_t t = 0; t < tokens; ++t) {
    std::fill(kf.begin(), kf.end(), 0.f);
    for (int h = 0; h < nh; ++h) {
      const PlantedHead& p = heads[static_cast<std::size_t>(h)];
      float* kh = kf.data() + (h / group) * d;
      bf16* qh = q->data() + (t * nh + h) * d;
      std::vector<float> qf(static_cast<std::size_t>(d), 0.f);
      const float a = std::sqrt(p.local / 4.f) * root;
      for (int f = 0; f < 4; ++f) {
        const double ang = theta[f] * static_cast<double>(t);
        qf[2 * f] = a * static_cast<float>(std::cos(ang));
        qf[2 * f + 1] = a * static_cast<float>(std::sin(ang));
        kh[2 * f] += a * static_cast<float>(std::cos(ang));
        kh[2 * f + 1] += a * static_cast<float>(std::sin(ang));
      }
      qf[8] = qf[9] = qf[10] = root;
      if (t < p.sinks) kh[8] += p.sink_score * root;
      for (std::int64_t c : p.columns) {
        if (c == t) kh[9] += p.column_score * root;
      }
      if (t >= p.cluster_lo && t < p.cluster_hi) kh[10] += p.cluster_score * root;
      for (int e = 11; e < d; ++e) qf[static_cast<std::size_t>(e)] = noise(rng);
      for (int e = 0; e < d; ++e) qh[e] = float_to_bf16(qf[static_cast<std::size_t>(e)]);
    }
    for (int g = 0; g < n_kv; ++g) {
      for (int e = 0; e < d; ++e) {
        const float extra = e >= 11 ? noise(rng) : 0.f;
        (*k)[static_cast<std::size_t>((t * n_kv + g) * d + e)] = float_to_bf16(kf[static_cast<std::size_t>(g * d + e)] + extra);
        (*v)[static_cast<std::size_t>((t * n_kv + g) * d + e)] = float_to_bf16(val(rng));
      }
    }
  }
}

// Softmax over the pattern's elements in double: o [tokens, heads, d] as float.
inline std::vector<float> naive_sparse_attention(const kernels::PrefillAttentionParams& p,
                                                 const std::vector<kernels::HeadPattern>& pats) {
  const int d = p.head_dim;
  const float scale = p.scale == 0.f ? 1.f / std::sqrt(static_cast<float>(d)) : p.scale;
  std::vector<float> out(static_cast<std::size_t>(p.chunk * p.n_heads * d), 0.f);
  std::vector<double> w;
  for (std::int64_t i = 0; i < p.chunk; ++i) {
    for (int h = 0; h < p.n_heads; ++h) {
      const int g = h / (p.n_heads / p.n_kv_heads);
      w.assign(static_cast<std::size_t>(i + 1), 0.0);
      double mx = -INFINITY, sum = 0;
      for (std::int64_t j = 0; j <= i; ++j) {
        if (!kernels::sparse_prefill_contains(pats[static_cast<std::size_t>(h)], i, j)) continue;
        double s = 0;
        for (int e = 0; e < d; ++e) {
          s += double(bf16_to_float(p.q[(i * p.n_heads + h) * d + e])) * bf16_to_float(p.k[(j * p.n_kv_heads + g) * d + e]);
        }
        w[static_cast<std::size_t>(j)] = s * scale;
        mx = std::max(mx, s * scale);
      }
      for (std::int64_t j = 0; j <= i; ++j) {
        if (!kernels::sparse_prefill_contains(pats[static_cast<std::size_t>(h)], i, j)) {
          w[static_cast<std::size_t>(j)] = 0;
          continue;
        }
        w[static_cast<std::size_t>(j)] = std::exp(w[static_cast<std::size_t>(j)] - mx);
        sum += w[static_cast<std::size_t>(j)];
      }
      for (int e = 0; e < d; ++e) {
        double acc = 0;
        for (std::int64_t j = 0; j <= i; ++j) acc += w[static_cast<std::size_t>(j)] * bf16_to_float(p.v[(j * p.n_kv_heads + g) * d + e]);
        out[static_cast<std::size_t>((i * p.n_heads + h) * d + e)] = static_cast<float>(acc / sum);
      }
    }
  }
  return out;
}

// Random pattern of one kind for `tokens` keys (up to 150 columns, 40 slashes
// within 300 offsets, 3 local blocks).
inline kernels::HeadPattern random_pattern(kernels::SparsePatternKind kind, std::int64_t tokens, std::mt19937_64& rng) {
  kernels::HeadPattern p;
  p.kind = kind;
  const std::int64_t q = (tokens + 63) / 64;
  auto pick = [&](std::int64_t n) { return static_cast<std::int64_t>(rng() % static_cast<std::uint64_t>(n)); };
  switch (kind) {
    case kernels::SparsePatternKind::triangular:
      p.triangular = {pick(3 * 64), 1 + pick(200)};
      break;
    case kernels::SparsePatternKind::interval_slash: {
      std::vector<char> col(static_cast<std::size_t>(tokens), 0), off(static_cast<std::size_t>(tokens), 0);
      const std::int64_t n_cols = 1 + pick(150), n_offs = pick(40);
      for (std::int64_t i = 0; i < n_cols; ++i) col[static_cast<std::size_t>(pick(tokens))] = 1;
      off[0] = 1;
      for (std::int64_t i = 0; i < n_offs; ++i) off[static_cast<std::size_t>(pick(std::min<std::int64_t>(tokens, 300)))] = 1;
      for (std::int64_t j = 0; j < tokens; ++j) {
        if (col[static_cast<std::size_t>(j)]) p.interval_slash.columns.push_back(j);
        if (off[static_cast<std::size_t>(j)]) p.interval_slash.slashes.push_back(j);
      }
      break;
    }
    case kernels::SparsePatternKind::block_cluster:
      p.block_cluster.local_blocks = pick(3);
      for (std::int64_t kb = 0; kb < q; ++kb) {
        if (pick(4) == 0) p.block_cluster.key_blocks.push_back(kb);
      }
      break;
  }
  return p;
}

}  // namespace foresight::testing

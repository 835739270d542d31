// CPU references for decode attention (see decode_attention.hpp): exact
// softmax in double per query head over the listed tokens. Each (sequence,
// KV head) row is one task on the cpu_threads() pool; a row's heads are
// computed as in the single-threaded loop, so the bits do not depend on the
// thread count. Inputs are checked before any task starts.
#include "foresight/kernels/decode_attention.hpp"

#include <algorithm>
#include <cmath>
#include <vector>

#include "parallel.hpp"

namespace foresight::kernels {
namespace {

// One query head over a token set given as a list of (k row, v row) pointers.
void attend(const bf16* q, const std::vector<const bf16*>& ks, const std::vector<const bf16*>& vs, int d,
            float scale, bf16* out) {
  std::vector<double> logits(ks.size());
  double m = -INFINITY;
  for (std::size_t t = 0; t < ks.size(); ++t) {
    float s = 0.f;
    for (int i = 0; i < d; ++i) s += bf16_to_float(q[i]) * bf16_to_float(ks[t][i]);
    logits[t] = static_cast<double>(s) * scale;
    m = std::max(m, logits[t]);
  }
  std::vector<double> acc(static_cast<std::size_t>(d), 0.0);
  double l = 0;
  for (std::size_t t = 0; t < ks.size(); ++t) {
    const double w = std::exp(logits[t] - m);
    l += w;
    for (int i = 0; i < d; ++i) acc[i] += w * bf16_to_float(vs[t][i]);
  }
  for (int i = 0; i < d; ++i) out[i] = float_to_bf16(l > 0 ? static_cast<float>(acc[i] / l) : 0.f);
}

float scale_of(const DecodeAttentionShape& s) {
  return s.softmax_scale != 0.f ? s.softmax_scale : 1.f / std::sqrt(static_cast<float>(s.head_dim));
}

// Every query head of KV group g of sequence b over the tokens (ks, vs).
void attend_group(const DecodeAttentionShape& s, const bf16* q, bf16* out, int b, int g,
                  const std::vector<const bf16*>& ks, const std::vector<const bf16*>& vs) {
  const int group = s.n_heads / s.kv_heads;
  for (int h = g * group; h < (g + 1) * group; ++h) {
    const std::int64_t qo = (std::int64_t{b} * s.n_heads + h) * s.head_dim;
    attend(q + qo, ks, vs, s.head_dim, scale_of(s), out + qo);
  }
}

// The slot list's ranges, checked for every row before any row is attended.
void check_sparse_lists(const SparseDecodeAttentionParams& p) {
  const auto& s = p.shape;
  for (std::int64_t row = 0; row < std::int64_t{s.batch} * s.kv_heads; ++row) {
    const int len = p.list_len[row];
    require_param(len >= 0 && len <= p.list_stride, "sparse_decode_attention", "list_len", "must be in [0, list_stride]");
    const int b = static_cast<int>(row / s.kv_heads);
    for (int i = 0; i < len; ++i) {
      const int slot = p.slot_list[row * p.list_stride + i];
      require_param(slot >= 0 && slot < p.slots_per_row, "sparse_decode_attention", "slot_list", "out of range");
      const int tokens = slot == p.tail_slot ? p.tail_tokens[b] : p.block_tokens;
      require_param(tokens >= 0 && tokens <= p.block_tokens, "sparse_decode_attention", "tail_tokens", "out of range");
    }
  }
}

}  // namespace

void sparse_decode_attention_cpu(const SparseDecodeAttentionParams& p) {
  validate_sparse_decode(p);
  check_sparse_lists(p);
  const auto& s = p.shape;
  const std::int64_t block_elems = std::int64_t{p.block_tokens} * s.head_dim;
  detail::parallel_for(std::int64_t{s.batch} * s.kv_heads, 1, [&](std::int64_t row) {
    const int b = static_cast<int>(row / s.kv_heads);
    std::vector<const bf16*> ks, vs;
    for (int i = 0; i < p.list_len[row]; ++i) {
      const int slot = p.slot_list[row * p.list_stride + i];
      const int tokens = slot == p.tail_slot ? p.tail_tokens[b] : p.block_tokens;
      const std::int64_t base = (row * p.slots_per_row + slot) * block_elems;
      for (int t = 0; t < tokens; ++t) {
        ks.push_back(p.slots_k + base + std::int64_t{t} * s.head_dim);
        vs.push_back(p.slots_v + base + std::int64_t{t} * s.head_dim);
      }
    }
    attend_group(s, p.q, p.out, b, static_cast<int>(row % s.kv_heads), ks, vs);
  });
}

void dense_decode_attention_cpu(const DenseDecodeAttentionParams& p) {
  validate_dense_decode(p);
  const auto& s = p.shape;
  for (int b = 0; b < s.batch; ++b)
    require_param(p.seq_len[b] >= 0 && p.seq_len[b] <= p.max_tokens, "dense_decode_attention", "seq_len",
                  "must be in [0, max_tokens]");
  detail::parallel_for(std::int64_t{s.batch} * s.kv_heads, 1, [&](std::int64_t row) {
    const int b = static_cast<int>(row / s.kv_heads);
    const std::int64_t base = row * p.max_tokens * s.head_dim;
    std::vector<const bf16*> ks, vs;
    for (int t = 0; t < p.seq_len[b]; ++t) {
      ks.push_back(p.k + base + std::int64_t{t} * s.head_dim);
      vs.push_back(p.v + base + std::int64_t{t} * s.head_dim);
    }
    attend_group(s, p.q, p.out, b, static_cast<int>(row % s.kv_heads), ks, vs);
  });
}

}  // namespace foresight::kernels

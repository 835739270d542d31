// Decode attention references: a hand-computed case, constant values (the
// softmax weights sum to 1), sparse == dense when every block is selected,
// and the same bits on any CPU thread count.
#include <algorithm>
#include <cmath>
#include <vector>

#include "catch.hpp"
#include "foresight/kernels/decode_attention.hpp"
#include "numeric.hpp"
#include "threads.hpp"

using namespace foresight;
using namespace foresight::kernels;

TEST_CASE("dense decode attention, hand case: two tokens, known softmax") {
  // head_dim 4, scale 1/2. q = (2,0,0,0); k0 = (1,0,0,0), k1 = 0 -> logits 1 and 0.
  std::vector<bf16> q(4), k(2 * 4), v(2 * 4), out(4);
  q[0] = float_to_bf16(2.f);
  k[0] = float_to_bf16(1.f);
  for (int i = 0; i < 4; ++i) v[i] = float_to_bf16(1.f), v[4 + i] = float_to_bf16(-1.f);
  const std::int32_t len = 2;
  DenseDecodeAttentionParams p;
  p.shape.batch = 1, p.shape.n_heads = 1, p.shape.kv_heads = 1, p.shape.head_dim = 4;
  p.q = q.data(), p.k = k.data(), p.v = v.data(), p.seq_len = &len, p.out = out.data(), p.max_tokens = 2;
  dense_decode_attention_cpu(p);
  const double e = std::exp(1.0), w0 = e / (1 + e);
  for (int i = 0; i < 4; ++i) CHECK(bf16_to_float(out[i]) == Approx(w0 - (1 - w0)).epsilon(1e-2));
}

TEST_CASE("constant values give that constant (weights sum to 1); empty rows give 0") {
  const int batch = 2, n_heads = 4, kv_heads = 2, d = 16, max_tokens = 50;
  const auto q = testing::random_bf16(std::size_t(batch) * n_heads * d, 4, -3.f, 3.f);
  const auto k = testing::random_bf16(std::size_t(batch) * kv_heads * max_tokens * d, 5, -3.f, 3.f);
  std::vector<bf16> v(k.size(), float_to_bf16(0.75f)), out(q.size(), bf16{0x7fc1});
  const std::vector<std::int32_t> len = {50, 0};
  DenseDecodeAttentionParams p;
  p.shape.batch = batch, p.shape.n_heads = n_heads, p.shape.kv_heads = kv_heads, p.shape.head_dim = d;
  p.q = q.data(), p.k = k.data(), p.v = v.data(), p.seq_len = len.data(), p.out = out.data();
  p.max_tokens = max_tokens;
  dense_decode_attention_cpu(p);
  for (int h = 0; h < n_heads; ++h)
    for (int i = 0; i < d; ++i) {
      CHECK(bf16_to_float(out[h * d + i]) == 0.75f);
      CHECK(bf16_to_float(out[(n_heads + h) * d + i]) == 0.f);
    }
}

TEST_CASE("sparse attention over every block (shuffled slots, partial tail) equals dense") {
  const int batch = 2, n_heads = 8, kv_heads = 2, d = 32, bt = 8, max_tokens = 61;
  const std::vector<std::int32_t> len = {61, 24};  // 7 full blocks + 5 tokens; 3 full blocks
  const auto q = testing::random_bf16(std::size_t(batch) * n_heads * d, 11, -2.f, 2.f);
  const auto k = testing::random_bf16(std::size_t(batch) * kv_heads * max_tokens * d, 12, -2.f, 2.f);
  const auto v = testing::random_bf16(k.size(), 13);
  std::vector<bf16> dense_out(q.size()), sparse_out(q.size());
  DenseDecodeAttentionParams dp;
  dp.shape.batch = batch, dp.shape.n_heads = n_heads, dp.shape.kv_heads = kv_heads, dp.shape.head_dim = d;
  dp.q = q.data(), dp.k = k.data(), dp.v = v.data(), dp.seq_len = len.data(), dp.out = dense_out.data();
  dp.max_tokens = max_tokens;
  dense_decode_attention_cpu(dp);

  // Slots: block i of a row goes to slot (5 * i + 3) % 9; the partial block goes to tail slot 9.
  const int slots = 10, tail_slot = 9, stride = 9;
  std::vector<bf16> sk(std::size_t(batch) * kv_heads * slots * bt * d, bf16{0x7fc1}), sv(sk.size(), bf16{0x7fc1});
  std::vector<std::int32_t> list(std::size_t(batch) * kv_heads * stride, -1), list_len, tail_tokens;
  for (int b = 0; b < batch; ++b) {
    const int full = len[b] / bt, rest = len[b] % bt;
    tail_tokens.push_back(rest);
    for (int g = 0; g < kv_heads; ++g) {
      const int row = b * kv_heads + g;
      int n = 0;
      for (int blk = 0; blk * bt < len[b]; ++blk) {
        const int slot = blk < full ? (5 * blk + 3) % 9 : tail_slot;
        const int tokens = blk < full ? bt : rest;
        for (int t = 0; t < tokens; ++t)
          for (int i = 0; i < d; ++i) {
            const std::size_t src = ((std::size_t(row) * max_tokens) + blk * bt + t) * d + i;
            const std::size_t dst = ((std::size_t(row) * slots + slot) * bt + t) * d + i;
            sk[dst] = k[src];
            sv[dst] = v[src];
          }
        list[std::size_t(row) * stride + (n++)] = slot;
      }
      // Reverse the list order: attention must not depend on it.
      std::reverse(list.begin() + std::ptrdiff_t(row) * stride, list.begin() + std::ptrdiff_t(row) * stride + n);
      list_len.push_back(n);
    }
  }
  SparseDecodeAttentionParams sp;
  sp.shape = dp.shape;
  sp.q = q.data(), sp.slots_k = sk.data(), sp.slots_v = sv.data(), sp.slot_list = list.data();
  sp.list_len = list_len.data(), sp.tail_tokens = tail_tokens.data(), sp.out = sparse_out.data();
  sp.slots_per_row = slots, sp.list_stride = stride, sp.tail_slot = tail_slot, sp.block_tokens = bt;
  sparse_decode_attention_cpu(sp);
  CHECK(testing::rel_l2_error(sparse_out, dense_out) < 1e-2);
  // One task per (sequence, KV head) row: the same bits on any thread count.
  CHECK(testing::same_bits_on_threads([&] {
    std::vector<bf16> o(q.size());
    DenseDecodeAttentionParams p = dp;
    p.out = o.data();
    dense_decode_attention_cpu(p);
    return o;
  }));
  CHECK(testing::same_bits_on_threads([&] {
    std::vector<bf16> o(q.size());
    SparseDecodeAttentionParams p = sp;
    p.out = o.data();
    sparse_decode_attention_cpu(p);
    return o;
  }));
  int exact = 0;
  for (std::size_t i = 0; i < q.size(); ++i) exact += sparse_out[i].bits == dense_out[i].bits;
  CHECK(exact > static_cast<int>(q.size() * 9 / 10));  // same sums in another order: nearly bit-equal

  SECTION("dropping a block changes the result") {
    list_len[0] -= 1;
    sparse_decode_attention_cpu(sp);
    CHECK(testing::rel_l2_error(sparse_out, dense_out) > 1e-3);
  }
}

TEST_CASE("split planning: one CTA per SM, at most one split per tile") {
  CHECK(default_decode_splits(16, 2, 97, 132) == 4);   // MiniCPM batch 16: 128 CTAs on 132 SMs
  CHECK(default_decode_splits(16, 2, 512, 132) == 4);  // 32K dense
  CHECK(default_decode_splits(16, 2, 0, 132) == 1);    // no tiles
  CHECK(default_decode_splits(16, 2, 3, 132) == 3);    // at most one per tile
  CHECK(default_decode_splits(1, 2, 97, 132) == 66);   // one CTA per SM
  CHECK(default_decode_splits(64, 8, 97, 132) == 1);   // more rows than SMs
  for (int tiles : {1, 5, 97, 300, 4096})
    for (int batch : {1, 3, 16, 64}) {
      const int s = default_decode_splits(batch, 2, tiles, 132);
      CHECK(s >= 1);
      CHECK(s <= std::max(1, std::min(tiles, 132 / (2 * batch))));  // never more CTAs than SMs
    }
  DecodeAttentionShape s;
  s.batch = 2, s.n_heads = 4, s.head_dim = 64, s.n_splits = 3;
  CHECK(decode_attention_workspace_bytes(s) == sizeof(float) * 2 * 4 * 3 * (64 + 2));
}

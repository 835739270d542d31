// The sparse ops chained as the runtime uses them (CPU references):
// select -> working-set update -> gather from the block store -> tail write
// -> sparse attention. With k >= the block count every block is selected and
// the result must equal dense attention; with a small k it must differ.
#include <algorithm>
#include <vector>

#include "catch.hpp"
#include "foresight/kernels/block_select.hpp"
#include "foresight/kernels/decode_attention.hpp"
#include "foresight/kernels/kv_gather.hpp"
#include "foresight/kernels/working_set.hpp"
#include "numeric.hpp"

using namespace foresight;
using namespace foresight::kernels;

namespace {

// Returns sparse-minus-dense relative L2 error for top-k = k.
double pipeline_error(int k) {
  const int batch = 2, n_heads = 4, kv_heads = 2, d = 16, bt = 64, rows = batch * kv_heads;
  const std::vector<std::int32_t> len = {64 * 5 + 17, 64 * 3};  // partial and exactly-full last block
  const int max_tokens = 64 * 6, max_blocks = 6, max_comp = 4 * max_blocks;
  const auto q = testing::random_bf16(std::size_t(batch) * n_heads * d, 21, -2.f, 2.f);
  const auto k_cache = testing::random_bf16(std::size_t(rows) * max_tokens * d, 22, -2.f, 2.f);
  const auto v_cache = testing::random_bf16(k_cache.size(), 23);

  // Dense reference.
  std::vector<bf16> dense(q.size()), sparse(q.size());
  DenseDecodeAttentionParams dp;
  dp.shape.batch = batch, dp.shape.n_heads = n_heads, dp.shape.kv_heads = kv_heads, dp.shape.head_dim = d;
  dp.q = q.data(), dp.k = k_cache.data(), dp.v = v_cache.data(), dp.seq_len = len.data(), dp.out = dense.data();
  dp.max_tokens = max_tokens;
  dense_decode_attention_cpu(dp);

  // Block store = the cache cut into blocks: [seq][kv_head][block][token][d] is the same bytes.
  // Selection from arbitrary scores; the current block is the last one.
  std::vector<std::int32_t> n_blocks, n_comp, tail_block, tail_tokens;
  for (int b = 0; b < batch; ++b) {
    n_blocks.push_back((len[b] + bt - 1) / bt);
    n_comp.push_back(std::max(0, (len[b] - 32) / 16 + 1));
    tail_tokens.push_back(len[b] - (n_blocks[b] - 1) * bt);
  }
  const auto scores = testing::random_f32(std::size_t(rows) * max_comp, 24);
  std::vector<std::int32_t> selected(std::size_t(rows) * k);
  BlockSelectParams sp;
  sp.scores = scores.data(), sp.n_comp = n_comp.data(), sp.n_blocks = n_blocks.data(), sp.selected = selected.data();
  sp.batch = batch, sp.kv_heads = kv_heads, sp.max_comp = max_comp, sp.max_blocks = max_blocks, sp.k = k;
  sp.sink_blocks = 1, sp.local_blocks = 1;
  block_select_cpu(sp);

  const int slots = k;  // regular slots; the tail slot is slot index k
  std::vector<std::int32_t> map(std::size_t(rows) * slots, -1), lb(map.size()), ls(map.size()), cnt(rows);
  for (int r = 0; r < rows; ++r) tail_block.push_back(n_blocks[r / kv_heads] - 1);
  WorkingSetParams wp;
  wp.block_map = map.data(), wp.selected = selected.data(), wp.tail_block = tail_block.data();
  wp.load_block = lb.data(), wp.load_slot = ls.data(), wp.load_count = cnt.data();
  wp.rows = rows, wp.n_slots = slots, wp.k = k;
  working_set_update_cpu(wp);

  const std::size_t block_elems = std::size_t(bt) * d;
  std::vector<bf16> sk(std::size_t(rows) * (slots + 1) * block_elems, bf16{0x7fc1}), sv(sk.size(), bf16{0x7fc1});
  KvGatherParams gp;
  gp.store_k = k_cache.data(), gp.store_v = v_cache.data(), gp.slots_k = sk.data(), gp.slots_v = sv.data();
  gp.load_block = lb.data(), gp.load_slot = ls.data(), gp.load_count = cnt.data();
  gp.rows = rows, gp.kv_heads = kv_heads, gp.list_stride = slots, gp.slots_per_row = slots + 1;
  gp.max_blocks = max_blocks, gp.block_tokens = bt, gp.head_dim = d;
  kv_gather_cpu(gp);

  // Tail slot: the current block's valid tokens (written by the decode step in the runtime).
  std::vector<std::int32_t> list(std::size_t(rows) * (slots + 1)), list_len(rows);
  for (int r = 0; r < rows; ++r) {
    const int b = r / kv_heads, tb = tail_block[r];
    for (int t = 0; t < tail_tokens[b] * d; ++t) {
      sk[(std::size_t(r) * (slots + 1) + slots) * block_elems + t] = k_cache[(std::size_t(r) * max_blocks + tb) * block_elems + t];
      sv[(std::size_t(r) * (slots + 1) + slots) * block_elems + t] = v_cache[(std::size_t(r) * max_blocks + tb) * block_elems + t];
    }
    int n = 0;
    for (int s = 0; s < slots; ++s)
      if (map[std::size_t(r) * slots + s] >= 0) list[std::size_t(r) * (slots + 1) + n++] = s;
    list[std::size_t(r) * (slots + 1) + n++] = slots;
    list_len[r] = n;
  }
  SparseDecodeAttentionParams ap;
  ap.shape = dp.shape;
  ap.q = q.data(), ap.slots_k = sk.data(), ap.slots_v = sv.data(), ap.slot_list = list.data();
  ap.list_len = list_len.data(), ap.tail_tokens = tail_tokens.data(), ap.out = sparse.data();
  ap.slots_per_row = slots + 1, ap.list_stride = slots + 1, ap.tail_slot = slots, ap.block_tokens = bt;
  sparse_decode_attention_cpu(ap);
  return testing::rel_l2_error(sparse, dense);
}

}  // namespace

TEST_CASE("select + working set + gather + sparse attention with every block equals dense") {
  CHECK(pipeline_error(6) < 1e-2);
  CHECK(pipeline_error(8) < 1e-2);  // k larger than the block count
  CHECK(pipeline_error(3) > 1e-2);  // dropping blocks changes the output
}

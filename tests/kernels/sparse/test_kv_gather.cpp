// Gather / write-back references: exactly the listed blocks are copied into
// exactly their slots; everything else is untouched.
#include <vector>

#include "catch.hpp"
#include "foresight/kernels/kv_gather.hpp"

using namespace foresight;
using namespace foresight::kernels;

namespace {
// Every element encodes (tensor, row, block, element) so a copy is traceable.
bf16 tag(int tensor, int row, int block, int elem) {
  return bf16{static_cast<std::uint16_t>((tensor << 15) | (row << 11) | (block << 6) | (elem & 63))};
}
}  // namespace

TEST_CASE("layout helpers") {
  CHECK(kv_block_bytes(64, 128) == 16384);
  // [layer][seq][kv_head][block]: layer 1, seq 2, head 1, block 5 of (4 seqs, 2 heads, 100 blocks)
  CHECK(kv_store_block_index(1, 2, 1, 5, 4, 2, 100) == ((1 * 4 + 2) * 2 + 1) * 100 + 5);
}

TEST_CASE("gather copies exactly the listed blocks; write-back copies the tail slot") {
  const int rows = 4, kv_heads = 2, max_blocks = 10, slots = 5, bt = 4, d = 8, elems = bt * d;
  std::vector<bf16> sk(std::size_t(rows) * max_blocks * elems), sv(sk.size());
  for (int r = 0; r < rows; ++r)
    for (int b = 0; b < max_blocks; ++b)
      for (int e = 0; e < elems; ++e) {
        sk[(std::size_t(r) * max_blocks + b) * elems + e] = tag(0, r, b, e);
        sv[(std::size_t(r) * max_blocks + b) * elems + e] = tag(1, r, b, e);
      }
  const bf16 poison{0x7fc1};
  std::vector<bf16> dk(std::size_t(rows) * slots * elems, poison), dv(dk.size(), poison);
  const int stride = 3;
  std::vector<std::int32_t> lb = {7, 2, 0, /*row1*/ 9, 0, 0, /*row2*/ 0, 0, 0, /*row3*/ 1, 3, 5};
  std::vector<std::int32_t> ls = {4, 0, 0, /*row1*/ 2, 0, 0, /*row2*/ 0, 0, 0, /*row3*/ 3, 1, 0};
  std::vector<std::int32_t> cnt = {2, 1, 0, 3};
  KvGatherParams p;
  p.store_k = sk.data(), p.store_v = sv.data(), p.slots_k = dk.data(), p.slots_v = dv.data();
  p.load_block = lb.data(), p.load_slot = ls.data(), p.load_count = cnt.data();
  p.rows = rows, p.kv_heads = kv_heads, p.list_stride = stride, p.slots_per_row = slots;
  p.max_blocks = max_blocks, p.block_tokens = bt, p.head_dim = d;
  kv_gather_cpu(p);
  for (int r = 0; r < rows; ++r)
    for (int s = 0; s < slots; ++s) {
      int expect_block = -1;
      for (int i = 0; i < cnt[r]; ++i)
        if (ls[r * stride + i] == s) expect_block = lb[r * stride + i];
      for (int e = 0; e < elems; ++e) {
        const std::size_t at = (std::size_t(r) * slots + s) * elems + e;
        if (expect_block < 0) {
          CHECK(dk[at].bits == poison.bits);
          CHECK(dv[at].bits == poison.bits);
        } else {
          CHECK(dk[at].bits == tag(0, r, expect_block, e).bits);
          CHECK(dv[at].bits == tag(1, r, expect_block, e).bits);
        }
      }
    }

  // Write-back: slot 3 (the tail) of rows 0 and 3 to blocks 8 and 4.
  for (int r = 0; r < rows; ++r)
    for (int e = 0; e < elems; ++e) {
      dk[(std::size_t(r) * slots + 3) * elems + e] = tag(0, r, 31, e);
      dv[(std::size_t(r) * slots + 3) * elems + e] = tag(1, r, 31, e);
    }
  const auto sk_before = sk, sv_before = sv;
  std::vector<std::int32_t> wb = {8, -1, -1, 4};
  KvWritebackParams w;
  w.slots_k = dk.data(), w.slots_v = dv.data(), w.store_k = sk.data(), w.store_v = sv.data();
  w.writeback_block = wb.data(), w.rows = rows, w.kv_heads = kv_heads, w.slots_per_row = slots, w.tail_slot = 3;
  w.max_blocks = max_blocks, w.block_tokens = bt, w.head_dim = d;
  kv_writeback_cpu(w);
  for (int r = 0; r < rows; ++r)
    for (int b = 0; b < max_blocks; ++b)
      for (int e = 0; e < elems; ++e) {
        const std::size_t at = (std::size_t(r) * max_blocks + b) * elems + e;
        const bool written = wb[r] == b;
        CHECK(sk[at].bits == (written ? tag(0, r, 31, e) : sk_before[at]).bits);
        CHECK(sv[at].bits == (written ? tag(1, r, 31, e) : sv_before[at]).bits);
      }
}

TEST_CASE("gather rejects a slot out of range") {
  std::vector<bf16> buf(64 * 8 * 4);
  std::vector<std::int32_t> lb = {0}, ls = {7}, cnt = {1};
  KvGatherParams p;
  p.store_k = p.store_v = buf.data(), p.slots_k = p.slots_v = buf.data();
  p.load_block = lb.data(), p.load_slot = ls.data(), p.load_count = cnt.data();
  p.rows = 1, p.kv_heads = 1, p.list_stride = 1, p.slots_per_row = 2, p.max_blocks = 2;
  p.block_tokens = 4, p.head_dim = 8;
  CHECK_THROWS_AS(kv_gather_cpu(p), std::invalid_argument);
}

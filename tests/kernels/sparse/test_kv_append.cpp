// K/V append reference: each row's K and V land at its position in the store
// and at position % block_tokens in the tail slot, tail_block gets the
// position's block, and nothing else is touched.
#include <string>
#include <vector>

#include "catch.hpp"
#include "foresight/kernels/kv_append.hpp"

using namespace foresight;
using namespace foresight::kernels;

namespace {

constexpr int kHeads = 2, kDim = 8, kSeqs = 4, kMaxTokens = 200, kBlock = 64, kSlots = 3, kTail = 2;
constexpr int kKOff = 16, kVOff = kKOff + kHeads * kDim, kStride = kVOff + kHeads * kDim + 8;
const bf16 kPoison{0x7fc1};

// Source element of row i, column c: traceable back to (i, c).
bf16 src_tag(int i, int c) { return bf16{static_cast<std::uint16_t>(i * 128 + c)}; }
bf16 k_of(int i, int g, int d) { return src_tag(i, kKOff + g * kDim + d); }
bf16 v_of(int i, int g, int d) { return src_tag(i, kVOff + g * kDim + d); }

struct Buffers {
  std::vector<bf16> src, store_k, store_v, slots_k, slots_v;
  std::vector<std::int32_t> positions, tail_block;
  KvAppendParams params(bool store, bool slots, bool tail) {
    KvAppendParams p;
    p.src = src.data(), p.src_row_stride = kStride, p.k_offset = kKOff, p.v_offset = kVOff;
    p.positions = positions.data(), p.rows = static_cast<int>(positions.size());
    if (store) p.store_k = store_k.data(), p.store_v = store_v.data();
    p.max_tokens = kMaxTokens;
    if (slots) p.slots_k = slots_k.data(), p.slots_v = slots_v.data();
    p.slots_per_row = kSlots, p.tail_slot = kTail, p.block_tokens = kBlock;
    if (tail) p.tail_block = tail_block.data();
    p.kv_heads = kHeads, p.head_dim = kDim;
    return p;
  }
};

Buffers make(std::vector<std::int32_t> positions) {
  Buffers b;
  b.positions = std::move(positions);
  b.src.resize(b.positions.size() * kStride);
  for (std::size_t i = 0; i < b.positions.size(); ++i)
    for (int c = 0; c < kStride; ++c) b.src[i * kStride + c] = src_tag(static_cast<int>(i), c);
  b.store_k.assign(std::size_t(kSeqs) * kHeads * kMaxTokens * kDim, kPoison), b.store_v = b.store_k;
  b.slots_k.assign(std::size_t(kSeqs) * kHeads * kSlots * kBlock * kDim, kPoison), b.slots_v = b.slots_k;
  b.tail_block.assign(std::size_t(kSeqs) * kHeads, -7);
  return b;
}

std::size_t store_at(int seq, int g, int t, int d) { return ((std::size_t(seq) * kHeads + g) * kMaxTokens + t) * kDim + d; }
std::size_t slot_at(int seq, int g, int s, int t, int d) {
  return (((std::size_t(seq) * kHeads + g) * kSlots + s) * kBlock + t) * kDim + d;
}

// Number of elements of `v` that differ from the poison value.
std::size_t touched(const std::vector<bf16>& v) {
  std::size_t n = 0;
  for (bf16 x : v) n += x.bits != kPoison.bits;
  return n;
}

std::string error_of(const KvAppendParams& p) {
  try {
    kv_append_cpu(p);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("kv_append, decode: one row per sequence, positions across block boundaries") {
  auto b = make({63, 64, 130});  // last token of block 0, first of block 1, inside block 2
  auto p = b.params(true, true, true);
  p.first_seq = 1;
  kv_append_cpu(p);
  for (int i = 0; i < 3; ++i)
    for (int g = 0; g < kHeads; ++g) {
      const int seq = 1 + i, pos = b.positions[i];
      for (int d = 0; d < kDim; ++d) {
        CHECK(b.store_k[store_at(seq, g, pos, d)].bits == k_of(i, g, d).bits);
        CHECK(b.store_v[store_at(seq, g, pos, d)].bits == v_of(i, g, d).bits);
        CHECK(b.slots_k[slot_at(seq, g, kTail, pos % kBlock, d)].bits == k_of(i, g, d).bits);
        CHECK(b.slots_v[slot_at(seq, g, kTail, pos % kBlock, d)].bits == v_of(i, g, d).bits);
      }
      CHECK(b.tail_block[std::size_t(seq) * kHeads + g] == pos / kBlock);
    }
  CHECK(b.tail_block[0] == -7);  // sequence 0 not written
  CHECK(b.tail_block[1] == -7);
  // Exactly 3 rows x 2 heads x 8 elements written in each tensor.
  CHECK(touched(b.store_k) == 48);
  CHECK(touched(b.store_v) == 48);
  CHECK(touched(b.slots_k) == 48);
  CHECK(touched(b.slots_v) == 48);
}

TEST_CASE("kv_append, prefill chunk of one sequence: later rows win in the tail slot") {
  std::vector<std::int32_t> pos;
  for (int t = 40; t < 140; ++t) pos.push_back(t);  // blocks 0, 1 and 2
  auto b = make(pos);
  auto p = b.params(true, true, true);
  p.one_sequence = true, p.first_seq = 2;
  kv_append_cpu(p);
  for (int i = 0; i < 100; ++i)
    for (int g = 0; g < kHeads; ++g)
      for (int d = 0; d < kDim; ++d) {
        CHECK(b.store_k[store_at(2, g, 40 + i, d)].bits == k_of(i, g, d).bits);
        CHECK(b.store_v[store_at(2, g, 40 + i, d)].bits == v_of(i, g, d).bits);
      }
  CHECK(touched(b.store_k) == std::size_t(100) * kHeads * kDim);
  // Tail slot token index x holds the highest position p with p % 64 == x:
  // 128..139 (block 2) for x < 12, block 1 (76..127) above.
  for (int x = 0; x < kBlock; ++x) {
    const int last_pos = x < 12 ? 128 + x : 64 + x, row = last_pos - 40;
    for (int g = 0; g < kHeads; ++g) {
      CHECK(b.slots_k[slot_at(2, g, kTail, x, 0)].bits == k_of(row, g, 0).bits);
      CHECK(b.slots_v[slot_at(2, g, kTail, x, kDim - 1)].bits == v_of(row, g, kDim - 1).bits);
    }
  }
  CHECK(touched(b.slots_k) == std::size_t(kBlock) * kHeads * kDim);  // the tail slot of sequence 2 only
  CHECK(b.tail_block[2 * kHeads] == 2);
  CHECK(b.tail_block[2 * kHeads + 1] == 2);
  CHECK(b.tail_block[0] == -7);
  CHECK(b.tail_block[3 * kHeads] == -7);
}

TEST_CASE("kv_append with null store, null slots or no tail_block") {
  SECTION("slots only") {
    auto b = make({5, 70});
    kv_append_cpu(b.params(false, true, false));
    CHECK(touched(b.store_k) == 0);
    CHECK(touched(b.slots_k) == 2 * kHeads * kDim);
    CHECK(b.slots_k[slot_at(1, 1, kTail, 70 % kBlock, 3)].bits == k_of(1, 1, 3).bits);
    CHECK(b.tail_block == std::vector<std::int32_t>(kSeqs * kHeads, -7));
  }
  SECTION("store only") {
    auto b = make({5, 199});
    kv_append_cpu(b.params(true, false, true));
    CHECK(touched(b.slots_k) == 0);
    CHECK(touched(b.slots_v) == 0);
    CHECK(b.store_v[store_at(1, 0, 199, 7)].bits == v_of(1, 0, 7).bits);
    CHECK(b.tail_block[0] == 0);
    CHECK(b.tail_block[1 * kHeads + 1] == 3);
  }
  SECTION("tail_block only") {
    auto b = make({128});
    auto p = b.params(false, false, true);
    p.first_seq = 3;
    kv_append_cpu(p);
    CHECK(touched(b.store_k) + touched(b.slots_k) == 0);
    CHECK(b.tail_block == std::vector<std::int32_t>{-7, -7, -7, -7, -7, -7, 2, 2});
  }
}

TEST_CASE("kv_append rejects bad params, naming the field") {
  auto b = make({5, 6});
  auto p = b.params(true, true, true);
  CHECK(error_of(p) == "no error");
  auto q = p;
  q.head_dim = 12;
  CHECK(error_of(q).find("head_dim") != std::string::npos);
  q = p, q.store_v = nullptr;
  CHECK(error_of(q).find("store_k/store_v") != std::string::npos);
  q = p, q.tail_slot = kSlots;
  CHECK(error_of(q).find("tail_slot") != std::string::npos);
  q = p, q.src_row_stride = kVOff + kHeads * kDim - 1;
  CHECK(error_of(q).find("src_row_stride") != std::string::npos);
  q = p, q.rows = 0;
  CHECK(error_of(q).find("rows") != std::string::npos);
  b.positions[1] = kMaxTokens;
  CHECK(error_of(p).find("positions") != std::string::npos);
  b.positions[1] = -1;
  CHECK(error_of(p).find("positions") != std::string::npos);
}

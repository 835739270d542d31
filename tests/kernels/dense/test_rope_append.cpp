// Fused decode rope + q gather + K/V append, CPU reference: equals rope_cpu,
// the q copy and kv_append_cpu bit for bit over a grid of options; position 0
// (rope is the identity) pins the output layout independently; bad parameters
// throw naming the field, before anything is written.
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "catch.hpp"
#include "foresight/kernels/rope_append.hpp"
#include "numeric.hpp"

using namespace foresight;
using namespace foresight::kernels;

namespace {
constexpr int kNh = 4, kNkv = 2, kD = 16;
constexpr int kRow = (kNh + 3 * kNkv) * kD;  // q | k | v | f, elements
constexpr int kQOff = 0, kKOff = kNh * kD, kVOff = (kNh + kNkv) * kD, kFOff = (kNh + 2 * kNkv) * kD;

struct Options {
  bool f = true, store = true, slots = true, q_out = true, tail = true;
};

// Every buffer the op reads or writes, host side.
struct Buffers {
  std::vector<bf16> qkvf, q_out, store_k, store_v, slots_k, slots_v;
  std::vector<std::int32_t> positions, tail_block;
  std::vector<float> inv_freq;
  std::int64_t max_tokens = 0;
  int first_seq = 1, slots_per_row = 3, tail_slot = 2, block_tokens = 8;
};

Buffers make_buffers(const std::vector<std::int32_t>& positions, std::int64_t max_tokens, std::uint64_t seed) {
  Buffers b;
  const auto batch = positions.size();
  const std::size_t seqs = batch + static_cast<std::size_t>(b.first_seq);
  b.qkvf = testing::random_bf16(batch * kRow, seed);
  b.q_out = testing::random_bf16(batch * kNh * kD, seed + 1);
  b.max_tokens = max_tokens;
  const std::size_t store_elems = seqs * kNkv * static_cast<std::size_t>(max_tokens) * kD;
  b.store_k = testing::random_bf16(store_elems, seed + 2);
  b.store_v = testing::random_bf16(store_elems, seed + 3);
  const std::size_t slot_elems = seqs * kNkv * static_cast<std::size_t>(b.slots_per_row * b.block_tokens) * kD;
  b.slots_k = testing::random_bf16(slot_elems, seed + 4);
  b.slots_v = testing::random_bf16(slot_elems, seed + 5);
  b.positions = positions;
  b.tail_block.assign(seqs * kNkv, -7);
  b.inv_freq = rope_inv_freq({RopeFrequencies::Kind::kPlain, 10000.0}, kD);
  return b;
}

RopeAppendParams params(Buffers& b, const Options& o) {
  RopeAppendParams p;
  bf16* row = b.qkvf.data();
  const int batch = static_cast<int>(b.positions.size());
  p.rope = {row + kQOff, row + kKOff, o.f ? row + kFOff : nullptr, b.positions.data(), b.inv_freq.data(),
            batch, kNh, kNkv, kD, kRow, kRow, kRow};
  p.q_out = o.q_out ? b.q_out.data() : nullptr;
  KvAppendParams& a = p.append;
  a.src = row; a.src_row_stride = kRow; a.k_offset = kKOff; a.v_offset = kVOff;
  a.positions = b.positions.data(); a.rows = batch; a.first_seq = b.first_seq;
  if (o.store) {
    a.store_k = b.store_k.data(); a.store_v = b.store_v.data(); a.max_tokens = b.max_tokens;
  }
  if (o.slots) {
    a.slots_k = b.slots_k.data(); a.slots_v = b.slots_v.data();
    a.slots_per_row = b.slots_per_row; a.tail_slot = b.tail_slot;
  }
  a.block_tokens = b.block_tokens;
  a.tail_block = o.tail ? b.tail_block.data() : nullptr;
  a.kv_heads = kNkv; a.head_dim = kD;
  return p;
}

// The three steps the op replaces, run separately.
void unfused(Buffers& b, const Options& o) {
  RopeAppendParams p = params(b, o);
  rope_cpu(p.rope);
  if (p.q_out)
    for (std::size_t s = 0; s < b.positions.size(); ++s)
      std::memcpy(p.q_out + s * kNh * kD, b.qkvf.data() + s * kRow + kQOff, kNh * kD * sizeof(bf16));
  kv_append_cpu(p.append);
}

bool same_bits(const std::vector<bf16>& x, const std::vector<bf16>& y) {
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(bf16)) == 0;
}

void require_same(const Buffers& x, const Buffers& y) {
  CHECK(same_bits(x.qkvf, y.qkvf));
  CHECK(same_bits(x.q_out, y.q_out));
  CHECK(same_bits(x.store_k, y.store_k));
  CHECK(same_bits(x.store_v, y.store_v));
  CHECK(same_bits(x.slots_k, y.slots_k));
  CHECK(same_bits(x.slots_v, y.slots_v));
  CHECK(x.tail_block == y.tail_block);
}

std::string thrown_message(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(nothing thrown)";
}
}  // namespace

TEST_CASE("rope_append_cpu equals rope_cpu + q copy + kv_append_cpu bit for bit") {
  const std::vector<std::vector<std::int32_t>> position_sets = {
      {5}, {0, 63, 64}, {1, 7, 8, 9, 100, 255, 17, 200}, {131071, 99999, 65536}};
  std::uint64_t seed = 10;
  for (const auto& pos : position_sets) {
    const bool big = pos[0] >= 1000;  // no store for 128K positions (the store would be ~100 MB)
    for (int mask = 0; mask < 32; ++mask) {
      const Options o{(mask & 1) != 0, !big && (mask & 2) != 0, (mask & 4) != 0, (mask & 8) != 0, (mask & 16) != 0};
      Buffers fused = make_buffers(pos, 256, seed), ref = make_buffers(pos, 256, seed);
      seed += 10;
      CAPTURE(pos.size(), pos[0], mask);
      rope_append_cpu(params(fused, o));
      unfused(ref, o);
      require_same(fused, ref);
      const Buffers before = make_buffers(pos, 256, seed - 10);
      CHECK_FALSE(same_bits(fused.qkvf, before.qkvf));  // something was rotated
    }
  }
}

TEST_CASE("rope_append_cpu at position 0 copies q, K and V unrotated to their places") {
  Buffers b = make_buffers({0, 0}, 16, 77);
  const Buffers before = b;
  rope_append_cpu(params(b, Options{}));
  CHECK(same_bits(b.qkvf, before.qkvf));  // rope at position 0 is the identity
  for (int s = 0; s < 2; ++s) {
    for (int i = 0; i < kNh * kD; ++i) CHECK(b.q_out[s * kNh * kD + i].bits == before.qkvf[s * kRow + kQOff + i].bits);
    for (int g = 0; g < kNkv; ++g) {
      const std::int64_t head_row = std::int64_t{b.first_seq + s} * kNkv + g;
      const std::int64_t at_store = head_row * b.max_tokens * kD;  // token 0
      const std::int64_t at_slot = (head_row * b.slots_per_row + b.tail_slot) * b.block_tokens * kD;
      for (int d = 0; d < kD; ++d) {
        const bf16 k = before.qkvf[s * kRow + kKOff + g * kD + d], v = before.qkvf[s * kRow + kVOff + g * kD + d];
        CHECK(b.store_k[at_store + d].bits == k.bits);
        CHECK(b.store_v[at_store + d].bits == v.bits);
        CHECK(b.slots_k[at_slot + d].bits == k.bits);
        CHECK(b.slots_v[at_slot + d].bits == v.bits);
      }
      CHECK(b.tail_block[head_row] == 0);
    }
  }
  CHECK(b.tail_block[0] == -7);  // sequence 0 (before first_seq) untouched
}

TEST_CASE("rope_append validation names the field and writes nothing") {
  Buffers b = make_buffers({3, 4}, 16, 5);
  const Options o;
  auto expect = [&](const std::function<void(RopeAppendParams&)>& spoil, const std::string& field) {
    RopeAppendParams p = params(b, o);
    spoil(p);
    const std::string msg = thrown_message([&] { rope_append_cpu(p); });
    CAPTURE(msg);
    CHECK(msg.find("rope_append") != std::string::npos);
    CHECK(msg.find(field) != std::string::npos);
  };
  expect([](RopeAppendParams& p) { p.append.rows = 1; }, "append.rows");
  expect([](RopeAppendParams& p) { p.append.one_sequence = true; }, "append.one_sequence");
  expect([](RopeAppendParams& p) { p.append.positions = nullptr; }, "positions");
  expect([&](RopeAppendParams& p) { p.append.positions = b.tail_block.data(); }, "append.positions");
  expect([](RopeAppendParams& p) { p.append.kv_heads = 1; }, "append.kv_heads");
  expect([](RopeAppendParams& p) { p.append.k_offset += 8; }, "append.src");
  expect([](RopeAppendParams& p) { p.append.src_row_stride += 8; }, "append.src_row_stride");
  expect([](RopeAppendParams& p) { p.rope.batch = 0; }, "rope.batch");
  expect([](RopeAppendParams& p) { p.rope.inv_freq = nullptr; }, "inv_freq");
  expect([](RopeAppendParams& p) { p.rope.head_dim = 7; }, "head_dim");
  expect([](RopeAppendParams& p) { p.append.store_v = nullptr; }, "store_k/store_v");
  expect([](RopeAppendParams& p) { p.append.tail_slot = 3; }, "tail_slot");

  const Buffers before = b;  // positions: checked before the rotation writes anything
  b.positions[1] = 16;       // == max_tokens
  CHECK(thrown_message([&] { rope_append_cpu(params(b, o)); }).find("positions[b]") != std::string::npos);
  b.positions[1] = -1;
  CHECK(thrown_message([&] { rope_append_cpu(params(b, o)); }).find("positions[b]") != std::string::npos);
  CHECK(same_bits(b.qkvf, before.qkvf));
  CHECK(same_bits(b.store_k, before.store_k));
  CHECK(same_bits(b.q_out, before.q_out));
}

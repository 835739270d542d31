// Key compression: hand-computed windows; decode (incremental, batched over
// different lengths) equals the whole-prefill variant bit for bit.
#include <vector>

#include "catch.hpp"
#include "foresight/kernels/key_compress.hpp"
#include "numeric.hpp"

using namespace foresight;
using namespace foresight::kernels;

TEST_CASE("window count") {
  CHECK(compressed_key_count(0, 32, 16) == 0);
  CHECK(compressed_key_count(31, 32, 16) == 0);
  CHECK(compressed_key_count(32, 32, 16) == 1);
  CHECK(compressed_key_count(47, 32, 16) == 1);
  CHECK(compressed_key_count(48, 32, 16) == 2);
  CHECK(compressed_key_count(131072, 32, 16) == 8191);
}

TEST_CASE("prefill compression of k = token index is the window centre") {
  const int tokens = 70, kv = 2, d = 4;  // windows start 0, 16, 32 -> 3 windows
  std::vector<bf16> k(tokens * kv * d);
  for (int t = 0; t < tokens; ++t)
    for (int e = 0; e < kv * d; ++e) k[t * kv * d + e] = float_to_bf16(float(t) * (e % 2 ? -1 : 1));
  std::vector<bf16> kc(4 * kv * d, float_to_bf16(-99.f));
  key_compress_prefill_cpu({k.data(), kc.data(), tokens, 0, kv, d});
  for (int w = 0; w < 3; ++w) {
    for (int e = 0; e < kv * d; ++e) {
      CHECK(bf16_to_float(kc[w * kv * d + e]) == (16.f * w + 15.5f) * (e % 2 ? -1 : 1));
    }
  }
  CHECK(bf16_to_float(kc[3 * kv * d]) == -99.f);  // no 4th window
}

TEST_CASE("incremental decode compression equals whole-prefill compression") {
  const int batch = 3, kv = 2, d = 8, kernel = 32, stride = 16;
  const std::vector<int> lengths = {31, 80, 137};
  const int max_len = 137;
  const std::int64_t width = kv * d, max_windows = compressed_key_count(max_len, kernel, stride);
  std::vector<std::vector<bf16>> keys;
  for (int b = 0; b < batch; ++b) keys.push_back(testing::random_bf16(lengths[b] * width, 100 + b));

  std::vector<bf16> ring(batch * kernel * width), kc(batch * max_windows * width, bf16{0xFFFF});
  std::vector<bf16> k_new(batch * width);
  std::vector<std::int32_t> counts(batch);
  for (int t = 1; t <= max_len; ++t) {
    // Sequences that are already complete still step (their count stays),
    // but get no new key: emulate by stepping only live ones.
    std::vector<int> live;
    for (int b = 0; b < batch; ++b)
      if (t <= lengths[b]) live.push_back(b);
    for (int b : live) {
      counts[b] = t;
      std::copy(&keys[b][(t - 1) * width], &keys[b][t * width], &k_new[b * width]);
    }
    for (int b : live) {  // one call per live sequence keeps the batch layout simple
      KeyCompressDecodeParams p{&k_new[b * width], &ring[b * kernel * width],
                                &kc[b * max_windows * width], &counts[b], 1, kv, d};
      p.kc_batch_stride = max_windows * width;
      key_compress_decode_cpu(p);
    }
  }
  for (int b = 0; b < batch; ++b) {
    const auto n = compressed_key_count(lengths[b], kernel, stride);
    std::vector<bf16> ref(n * width);
    key_compress_prefill_cpu({keys[b].data(), ref.data(), lengths[b], 0, kv, d});
    for (std::int64_t i = 0; i < n * width; ++i) REQUIRE(kc[b * max_windows * width + i].bits == ref[i].bits);
    if (n < max_windows) CHECK(kc[b * max_windows * width + n * width].bits == 0xFFFF);  // untouched
  }
}

TEST_CASE("batched decode call writes only sequences at a window boundary") {
  const int kv = 1, d = 2, kernel = 4, stride = 2;
  std::vector<bf16> ring(2 * kernel * kv * d, float_to_bf16(1.f)), kc(2 * 8 * d, bf16{0xFFFF});
  std::vector<bf16> k_new = {float_to_bf16(5), float_to_bf16(5), float_to_bf16(5), float_to_bf16(5)};
  std::vector<std::int32_t> counts = {6, 7};  // 6: (6-4)%2==0 -> window 1; 7: none
  KeyCompressDecodeParams p{k_new.data(), ring.data(), kc.data(), counts.data(), 2, kv, d, 0, 8 * d,
                            kernel, stride};
  key_compress_decode_cpu(p);
  CHECK(bf16_to_float(kc[1 * d]) == 2.f);  // (1 + 1 + 1 + 5) / 4
  CHECK(kc[0].bits == 0xFFFF);
  for (int i = 0; i < 8 * d; ++i) CHECK(kc[8 * d + i].bits == 0xFFFF);
  CHECK(bf16_to_float(ring[kernel * d + 2 * d]) == 5.f);  // seq 1's key 6 stored at slot 6 % 4
}

TEST_CASE("prefill seeds the ring; decoding on from it equals a longer prefill") {
  const int kv = 2, d = 4, width = kv * d, prefix = 70, total = 100;
  auto keys = testing::random_bf16(total * width, 77);
  const auto n_total = compressed_key_count(total, 32, 16);
  std::vector<bf16> kc(n_total * width, bf16{0xFFFF}), ring(32 * width, bf16{0xFFFF});
  KeyCompressPrefillParams pre{keys.data(), kc.data(), prefix, 0, kv, d};
  pre.ring = ring.data();
  key_compress_prefill_cpu(pre);
  for (int t = prefix; t < total; ++t) {
    std::int32_t count = t + 1;
    KeyCompressDecodeParams dec{&keys[t * width], ring.data(), kc.data(), &count, 1, kv, d};
    key_compress_decode_cpu(dec);
  }
  std::vector<bf16> ref(n_total * width);
  key_compress_prefill_cpu({keys.data(), ref.data(), total, 0, kv, d});
  for (std::size_t i = 0; i < ref.size(); ++i) REQUIRE(kc[i].bits == ref[i].bits);

  std::vector<bf16> short_ring(32 * width, bf16{0xFFFF});  // fewer tokens than the kernel
  KeyCompressPrefillParams tiny{keys.data(), kc.data(), 5, 0, kv, d};
  tiny.ring = short_ring.data();
  key_compress_prefill_cpu(tiny);
  CHECK(short_ring[4 * width].bits == keys[4 * width].bits);
  CHECK(short_ring[5 * width].bits == 0xFFFF);
}

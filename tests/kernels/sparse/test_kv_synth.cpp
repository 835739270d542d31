// Synthetic KV reference: deterministic in the seed, the layout only moves
// values, mean ~0 and the requested standard deviation, bad params rejected.
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "catch.hpp"
#include "foresight/kernels/kv_synth.hpp"

using namespace foresight;
using namespace foresight::kernels;

namespace {

// Fills [kv_heads, tokens, head_dim] (head-major) or [tokens, kv_heads,
// head_dim] (token-major) and returns it.
std::vector<bf16> synth(bool head_major, int kv_heads, std::int64_t tokens, int head_dim, std::uint64_t seed,
                        float stddev) {
  std::vector<bf16> out(static_cast<std::size_t>(kv_heads * tokens * head_dim), bf16{0x7fc1});
  KvSynthParams p;
  p.dst = out.data(), p.tokens = tokens, p.kv_heads = kv_heads, p.head_dim = head_dim, p.seed = seed;
  p.stddev = stddev;
  p.head_stride = head_major ? tokens * head_dim : head_dim;
  p.token_stride = head_major ? head_dim : std::int64_t{kv_heads} * head_dim;
  kv_synth_cpu(p);
  return out;
}

bool same_bits(const std::vector<bf16>& a, const std::vector<bf16>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(bf16)) == 0;
}

std::string error_of(const KvSynthParams& p) {
  try {
    kv_synth_cpu(p);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("kv_synth is deterministic, seed-dependent and matches kv_synth_value") {
  const auto a = synth(true, 2, 300, 64, 42, 1.f), b = synth(true, 2, 300, 64, 42, 1.f);
  CHECK(same_bits(a, b));
  const auto c = synth(true, 2, 300, 64, 43, 1.f);
  std::size_t differ = 0;
  for (std::size_t i = 0; i < a.size(); ++i) differ += a[i].bits != c[i].bits;
  CHECK(differ > a.size() * 9 / 10);
  // Spot values equal the header's definition, rounded to bf16.
  CHECK(a[0].bits == float_to_bf16(kv_synth_value(42, 0, 0, 0, 64, 1.f)).bits);
  CHECK(a[(1 * 300 + 299) * 64 + 63].bits == float_to_bf16(kv_synth_value(42, 1, 299, 63, 64, 1.f)).bits);
  // A stream's prefix does not depend on how many tokens are filled.
  const auto shorter = synth(true, 1, 100, 64, 42, 1.f);
  CHECK(std::memcmp(shorter.data(), a.data(), shorter.size() * sizeof(bf16)) == 0);
}

TEST_CASE("kv_synth layouts hold the same values at the same (g, t, d)") {
  const int heads = 3, d = 16;
  const std::int64_t tokens = 50;
  const auto hm = synth(true, heads, tokens, d, 7, 0.5f), tm = synth(false, heads, tokens, d, 7, 0.5f);
  int mismatches = 0;
  for (int g = 0; g < heads; ++g)
    for (std::int64_t t = 0; t < tokens; ++t)
      for (int e = 0; e < d; ++e)
        mismatches += hm[(g * tokens + t) * d + e].bits != tm[(t * heads + g) * d + e].bits;
  CHECK(mismatches == 0);
  // A padded token stride leaves the gaps untouched.
  std::vector<bf16> padded(static_cast<std::size_t>(tokens) * (d + 8), bf16{0x7fc1});
  KvSynthParams p;
  p.dst = padded.data(), p.tokens = tokens, p.kv_heads = 1, p.head_dim = d, p.head_stride = 0;
  p.token_stride = d + 8, p.seed = 7, p.stddev = 0.5f;
  kv_synth_cpu(p);
  for (std::int64_t t = 0; t < tokens; ++t) {
    CHECK(padded[t * (d + 8) + 3].bits == hm[t * d + 3].bits);
    CHECK(padded[t * (d + 8) + d].bits == 0x7fc1);
  }
}

TEST_CASE("kv_synth has mean ~0 and the requested standard deviation") {
  for (float stddev : {1.f, 0.25f}) {
    const auto v = synth(true, 2, 4096, 128, 1234, stddev);  // 1M values
    double sum = 0, sq = 0, max_abs = 0;
    for (bf16 x : v) {
      const double f = bf16_to_float(x);
      sum += f, sq += f * f, max_abs = std::max(max_abs, std::abs(f));
    }
    const double n = static_cast<double>(v.size()), mean = sum / n, sd = std::sqrt(sq / n - mean * mean);
    CHECK(std::abs(mean) < 0.01 * stddev);
    CHECK(std::abs(sd / stddev - 1.0) < 0.01);
    CHECK(max_abs <= 3.47 * stddev);  // range +-sqrt(12) stddev
    CHECK(max_abs > 2.5 * stddev);
  }
}

TEST_CASE("kv_synth: zero tokens is a no-op; bad params throw naming the field") {
  KvSynthParams p;
  p.kv_heads = 2, p.head_dim = 8, p.head_stride = 0, p.token_stride = 8, p.tokens = 0;
  CHECK(error_of(p) == "no error");  // nothing to write, dst may be null
  p.tokens = 1;
  CHECK(error_of(p).find("dst") != std::string::npos);
  std::vector<bf16> buf(64);
  p.dst = buf.data();
  auto q = p;
  q.token_stride = 7;
  CHECK(error_of(q).find("token_stride") != std::string::npos);
  q = p, q.head_dim = 0;
  CHECK(error_of(q).find("head_dim") != std::string::npos);
  q = p, q.tokens = -1;
  CHECK(error_of(q).find("tokens") != std::string::npos);
  q = p, q.tokens = std::int64_t{1} << 32;
  CHECK(error_of(q).find("tokens") != std::string::npos);
}

// Counter-based normal fill (see synthetic_fill.hpp).
#include "synthetic_fill.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <exception>
#include <mutex>
#include <thread>

#include "foresight/workload/splitmix64.hpp"

namespace foresight::runtime {
namespace {

using workload::kSplitMix64Golden;
using workload::splitmix64_mix;

constexpr std::size_t kLevels = 65536;               // 16 bits per element
constexpr std::size_t kChunkElements = std::size_t{1} << 20;

// z_k = Phi^-1((k + 0.5) / 65536), rescaled so the 65536 levels have unit
// variance. Newton on the upper tail Q(z) = erfc(z / sqrt 2) / 2 from the
// previous (smaller) root: g(z) = q - Q(z) is concave and increasing for
// z >= 0, so every step stays below the root and converges monotonically.
const std::array<float, kLevels>& unit_normal_levels() {
  static const std::array<float, kLevels> levels = [] {
    std::array<double, kLevels / 2> upper{};  // z of k = 32768 + j
    double z = 0;
    for (std::size_t j = 0; j < kLevels / 2; ++j) {
      const double q = (static_cast<double>(kLevels / 2 - j) - 0.5) / static_cast<double>(kLevels);
      for (int it = 0; it < 100; ++it) {
        const double step = (0.5 * std::erfc(z / std::sqrt(2.0)) - q) /
                            (std::exp(-0.5 * z * z) / std::sqrt(2.0 * M_PI));
        z += step;
        if (step < 1e-13) break;
      }
      upper[j] = z;
    }
    double sum2 = 0;
    for (double v : upper) sum2 += v * v;
    const double scale = 1.0 / std::sqrt(sum2 / static_cast<double>(kLevels / 2));
    std::array<float, kLevels> out{};
    for (std::size_t j = 0; j < kLevels / 2; ++j) {
      const auto v = static_cast<float>(upper[j] * scale);
      out[kLevels / 2 + j] = v;
      out[kLevels / 2 - 1 - j] = -v;
    }
    return out;
  }();
  return levels;
}

std::vector<bf16> bf16_levels(float stddev) {
  const auto& z = unit_normal_levels();
  std::vector<bf16> t(kLevels);
  for (std::size_t k = 0; k < kLevels; ++k) t[k] = float_to_bf16(z[k] * stddev);
  return t;
}

// Distinct seeds give distinct keys for one tensor (the map is a bijection in
// seed); element groups of 4 then run a splitmix64 stream from the key.
std::uint64_t tensor_key(std::uint64_t seed, std::uint64_t tensor) {
  return splitmix64_mix(seed * kSplitMix64Golden + splitmix64_mix(tensor + 1));
}
std::uint64_t group_bits(std::uint64_t key, std::size_t group) {
  return splitmix64_mix(key + (static_cast<std::uint64_t>(group) + 1) * kSplitMix64Golden);
}

void fill_range(bf16* p, std::size_t begin, std::size_t end, std::uint64_t key, const bf16* levels) {
  std::size_t i = begin;
  std::uint64_t h = group_bits(key, i / 4);
  for (; i < end && i % 4 != 0; ++i) p[i] = levels[(h >> (16 * (i % 4))) & 0xffff];
  for (; i + 4 <= end; i += 4) {
    h = group_bits(key, i / 4);
    p[i] = levels[h & 0xffff];
    p[i + 1] = levels[(h >> 16) & 0xffff];
    p[i + 2] = levels[(h >> 32) & 0xffff];
    p[i + 3] = levels[h >> 48];
  }
  if (i < end) h = group_bits(key, i / 4);
  for (; i < end; ++i) p[i] = levels[(h >> (16 * (i % 4))) & 0xffff];
}

// Runs work(index) for index in [0, count) on `threads` workers; rethrows the
// first exception on the calling thread.
template <class F>
void parallel_for(std::size_t count, unsigned threads, F work) {
  const std::size_t n_workers = std::min<std::size_t>(threads, count);
  if (n_workers <= 1) {
    for (std::size_t k = 0; k < count; ++k) work(k);
    return;
  }
  std::atomic<std::size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto run = [&] {
    try {
      for (std::size_t k; (k = next.fetch_add(1)) < count;) work(k);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
      next = count;
    }
  };
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < n_workers; ++t) pool.emplace_back(run);
  run();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace

bf16 synthetic_normal(std::uint64_t seed, std::uint64_t tensor, std::size_t i, float stddev) {
  const std::uint64_t h = group_bits(tensor_key(seed, tensor), i / 4);
  return float_to_bf16(unit_normal_levels()[(h >> (16 * (i % 4))) & 0xffff] * stddev);
}

void fill_normal_tensors(const std::vector<NormalTensor>& tensors, std::uint64_t seed, float stddev,
                         unsigned threads) {
  if (threads == 0) threads = std::max(1u, std::thread::hardware_concurrency());
  const std::vector<bf16> levels = bf16_levels(stddev);
  // Allocation (zeroing, first touch) in parallel over tensors, largest first.
  std::vector<std::size_t> order(tensors.size());
  for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return tensors[a].n > tensors[b].n; });
  parallel_for(order.size(), threads, [&](std::size_t k) { tensors[order[k]].dst->resize(tensors[order[k]].n); });
  // Fill in chunks of whole 4-element groups.
  struct Chunk {
    std::size_t tensor, begin, end;
  };
  std::vector<Chunk> chunks;
  for (std::size_t k : order) {
    for (std::size_t b = 0; b < tensors[k].n; b += kChunkElements) {
      chunks.push_back({k, b, std::min(tensors[k].n, b + kChunkElements)});
    }
  }
  parallel_for(chunks.size(), threads, [&](std::size_t c) {
    const auto& t = tensors[chunks[c].tensor];
    fill_range(t.dst->data(), chunks[c].begin, chunks[c].end, tensor_key(seed, t.tensor), levels.data());
  });
}

}  // namespace foresight::runtime

// CPU benchmark: block-cache replay speed per policy on MiniCPM4.1-8B-shaped
// selection streams (2048 blocks, top-k 96, 1 sink + 32 window blocks, 64
// decode steps; 32 layers x 2 KV heads x batch 16 = 1024 streams), from the
// workload model with its default locality. Also prints the locality the
// streams actually have. Times are thread CPU time, best of `repeats`.
// Usage: bench_cache_policies [batch] [repeats] [reuse] [cross_layer] [zipf_s]
#include <algorithm>
#include <ctime>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include <fmt/format.h>

#include "foresight/sim/cache_policy.hpp"
#include "foresight/workload/selection_model.hpp"

using foresight::config::Eviction;
using Stream = std::vector<std::vector<std::uint32_t>>;

namespace {

constexpr int kLayers = 32, kHeads = 2, kSteps = 64;
constexpr std::int64_t kContext = 131008;  // + 1 token = 2048 blocks of 64 at step 0

// CPU time of this thread (s): robust to other processes sharing the cores.
double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

bool contains(const std::vector<std::uint32_t>& s, std::uint32_t b) {
  return std::binary_search(s.begin(), s.end(), b);
}

const char* name(Eviction e) {  // local: config::to_string lives in another branch
  switch (e) {
    case Eviction::sparda: return "sparda";
    case Eviction::lru: return "lru";
    case Eviction::lfu: return "lfu";
    case Eviction::fifo: return "fifo";
    case Eviction::arc: return "arc";
    case Eviction::opt: return "opt";
  }
  return "?";
}

}  // namespace

int main(int argc, char** argv) {
  const int batch = argc > 1 ? std::atoi(argv[1]) : 16;
  const int repeats = argc > 2 ? std::atoi(argv[2]) : 3;
  foresight::workload::SelectionModelParams p;  // defaults: top-k 96, sink 1, window 32
  if (argc > 3) p.locality.reuse = std::atof(argv[3]);
  if (argc > 4) p.locality.cross_layer = std::atof(argv[4]);
  if (argc > 5) p.locality.zipf_s = std::atof(argv[5]);
  if (batch < 1 || repeats < 1 || argc > 6) {
    fmt::print(stderr,
               "usage: bench_cache_policies [batch >= 1] [repeats >= 1] [reuse] [cross_layer] "
               "[zipf_s]\n");
    return 2;
  }
  foresight::workload::SelectionModel model(p, kLayers, kHeads,
                                            std::vector<std::int64_t>(batch, kContext));
  // streams[(layer * batch + seq) * heads + head][step]
  std::vector<Stream> streams(static_cast<std::size_t>(kLayers * batch * kHeads));
  const double t0 = cpu_seconds();
  for (int t = 0; t < kSteps; ++t)
    for (int l = 0; l < kLayers; ++l)
      for (int s = 0; s < batch; ++s)
        for (int h = 0; h < kHeads; ++h)
          streams[static_cast<std::size_t>((l * batch + s) * kHeads + h)].push_back(
              model.next(t, l, s, h));
  const double gen_s = cpu_seconds() - t0;
  std::uint64_t accesses = 0;
  for (const auto& st : streams)
    for (const auto& sel : st) accesses += sel.size();

  // Locality actually present: step overlap (SparDA hit rate) and adjacent layers.
  double step_overlap = 0, step_n = 0, layer_overlap = 0, layer_n = 0;
  for (int l = 0; l < kLayers; ++l)
    for (int s = 0; s < batch; ++s)
      for (int h = 0; h < kHeads; ++h) {
        const Stream& st = streams[static_cast<std::size_t>((l * batch + s) * kHeads + h)];
        const Stream* up =
            l > 0 ? &streams[static_cast<std::size_t>(((l - 1) * batch + s) * kHeads + h)] : nullptr;
        for (int t = 0; t < kSteps; ++t)
          for (std::uint32_t b : st[t]) {
            if (t > 0) step_overlap += contains(st[t - 1], b), step_n += 1;
            if (up) layer_overlap += contains((*up)[t], b), layer_n += 1;
          }
      }
  fmt::print("workload: {} streams x {} steps, {} block accesses, generated in {:.3f} s "
             "({:.1f} M selections/s)\n",
             streams.size(), kSteps, accesses, gen_s, streams.size() * kSteps / gen_s / 1e6);
  fmt::print("locality: reuse={} cross_layer={} zipf_s={}; measured step overlap {:.3f}, "
             "adjacent-layer overlap {:.3f}\n\n",
             p.locality.reuse, p.locality.cross_layer, p.locality.zipf_s,
             step_overlap / step_n, layer_overlap / layer_n);

  fmt::print("{:<8} {:>9} {:>9} {:>14} {:>12}\n", "policy", "capacity", "hit rate",
             "M accesses/s", "ns per step");
  const Eviction policies[] = {Eviction::sparda, Eviction::lru, Eviction::lfu,
                               Eviction::fifo,   Eviction::arc, Eviction::opt};
  for (std::int64_t cap : {std::int64_t{96}, std::int64_t{128}, std::int64_t{192}})
    for (Eviction pol : policies) {
      double best_s = 1e30;
      std::uint64_t hits = 0;
      for (int r = 0; r < repeats; ++r) {
        hits = 0;
        const double t1 = cpu_seconds();
        for (const auto& st : streams) {  // includes cache construction (opt: its future)
          auto cache = foresight::sim::make_block_cache(pol, cap, st);
          for (const auto& sel : st) hits += cache->access(sel).hits;
        }
        best_s = std::min(best_s, cpu_seconds() - t1);
      }
      fmt::print("{:<8} {:>9} {:>9.4f} {:>14.1f} {:>12.1f}\n", name(pol),
                 cap, static_cast<double>(hits) / accesses, accesses / best_s / 1e6,
                 best_s / (streams.size() * kSteps) * 1e9);
    }
  return 0;
}

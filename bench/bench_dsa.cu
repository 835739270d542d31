// DSA decode kernels at MiniCPM4.1-8B shapes (indexer 4 heads x 64, top-k
// 2048, 2 KV heads x 128): indexer_score, token_select and token_gather (KV
// store in GPU memory, and in mapped pinned host memory as token_gather_host)
// for batch 1, 4, 16 and 32K, 128K cached tokens per sequence (all full).
// Each op is timed alone between CUDA events, `reps` times after 3 warm-ups;
// one JSON line per (op, batch, tokens) with the median microseconds and
// GB/s over the op's compulsory bytes: indexer keys read + scores written;
// scores read once + ids written (token_select reads them 5 times, mostly
// from L2); K and V rows read + written.
// Usage: bench_dsa [--reps N] [--quick]   (--quick: 5 reps, batch 1 and 4, 32K)
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <vector>

#include "../tests/kernels/sparse/device_buffer.cuh"
#include "foresight/kernels/cuda_check.hpp"
#include "foresight/kernels/dsa.hpp"
#include "gpu_present.hpp"

using namespace foresight;
using namespace foresight::kernels;
using testing::DeviceBuffer;

namespace {
constexpr int kIndexerHeads = 4, kIndexerDim = 64, kTopk = 2048, kKvHeads = 2, kHeadDim = 128;

// Deterministic pseudo-random bf16 in [-1, 1) from the element index.
__global__ void fill_bf16(bf16* p, std::size_t n, std::uint32_t seed) {
  const std::size_t step = std::size_t{gridDim.x} * blockDim.x;
  for (std::size_t i = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; i < n; i += step) {
    std::uint32_t x = static_cast<std::uint32_t>(i) * 2654435761u ^ seed;
    x ^= x >> 15, x *= 2246822519u, x ^= x >> 13;
    p[i] = float_to_bf16(static_cast<float>(x >> 8) / 8388608.f - 1.f);
  }
}

void fill(bf16* p, std::size_t n, std::uint32_t seed) {
  fill_bf16<<<1024, 256>>>(p, n, seed);
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

double median_us(const std::function<void()>& op, int reps) {
  cudaEvent_t a, b;
  FORESIGHT_CUDA_CHECK(cudaEventCreate(&a));
  FORESIGHT_CUDA_CHECK(cudaEventCreate(&b));
  for (int i = 0; i < 3; ++i) op();
  std::vector<double> us;
  for (int i = 0; i < reps; ++i) {
    FORESIGHT_CUDA_CHECK(cudaEventRecord(a, nullptr));
    op();
    FORESIGHT_CUDA_CHECK(cudaEventRecord(b, nullptr));
    FORESIGHT_CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    FORESIGHT_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    us.push_back(1000.0 * ms);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(us.begin(), us.end());
  return us[us.size() / 2];
}

void emit(const char* op, int batch, int tokens, double us, double bytes) {
  std::printf("{\"op\":\"%s\",\"batch\":%d,\"tokens\":%d,\"topk\":%d,\"median_us\":%.2f,\"gbps\":%.1f,"
              "\"bytes\":%.0f}\n",
              op, batch, tokens, kTopk, us, bytes / (us * 1e3), bytes);
  std::fflush(stdout);
}

void bench(int batch, int tokens, int reps) {
  const std::size_t b = static_cast<std::size_t>(batch), t = static_cast<std::size_t>(tokens);
  DeviceBuffer<bf16> q(b * kIndexerHeads * kIndexerDim), keys(b * t * kIndexerDim);
  DeviceBuffer<bf16> w(b * kIndexerHeads);
  DeviceBuffer<float> scores(b * t);
  DeviceBuffer<std::int32_t> n_tokens(std::vector<std::int32_t>(b, tokens)), ids(b * kTopk), count(b);
  fill(q.get(), q.size(), 1), fill(keys.get(), keys.size(), 2), fill(w.get(), w.size(), 5);

  IndexerScoreParams ip;
  ip.q = q.get(), ip.w = w.get(), ip.k = keys.get(), ip.n_tokens = n_tokens.get(), ip.scores = scores.get();
  ip.batch = batch, ip.heads = kIndexerHeads, ip.head_dim = kIndexerDim, ip.max_tokens = tokens;
  const double score_us = median_us([&] { indexer_score_cuda(ip, nullptr); }, reps);
  emit("indexer_score", batch, tokens, score_us, double(b * t) * (kIndexerDim * 2 + 4));

  TokenSelectParams sp;
  sp.scores = scores.get(), sp.n_tokens = n_tokens.get(), sp.ids = ids.get(), sp.count = count.get();
  sp.batch = batch, sp.max_tokens = tokens, sp.topk = kTopk, sp.sink_tokens = 4, sp.local_tokens = 64;
  DeviceBuffer<unsigned char> ws(token_select_workspace_bytes(sp));
  sp.workspace = ws.get();
  const double select_us = median_us([&] { token_select_cuda(sp, nullptr); }, reps);
  emit("token_select", batch, tokens, select_us, double(b * t) * 4 + double(b) * kTopk * 4);

  const std::size_t store = b * kKvHeads * t * kHeadDim;
  const double gather_bytes = 2.0 * 2 * double(b) * kTopk * kKvHeads * kHeadDim * 2;  // K+V, read+write
  DeviceBuffer<bf16> out_k(b * kTopk * kKvHeads * kHeadDim), out_v(out_k.size());
  TokenGatherParams gp;
  gp.ids = ids.get(), gp.count = count.get(), gp.out_k = out_k.get(), gp.out_v = out_v.get();
  gp.batch = batch, gp.topk = kTopk, gp.kv_heads = kKvHeads, gp.head_dim = kHeadDim, gp.max_tokens = tokens;
  {
    DeviceBuffer<bf16> sk(store), sv(store);
    fill(sk.get(), store, 3), fill(sv.get(), store, 4);
    gp.store_k = sk.get(), gp.store_v = sv.get();
    emit("token_gather", batch, tokens, median_us([&] { token_gather_cuda(gp, nullptr); }, reps), gather_bytes);
  }
  {
    testing::MappedHostBuffer<bf16> sk(store), sv(store);
    std::fill_n(sk.host(), store, float_to_bf16(0.5f)), std::fill_n(sv.host(), store, float_to_bf16(-0.5f));
    gp.store_k = sk.device(), gp.store_v = sv.device();
    emit("token_gather_host", batch, tokens, median_us([&] { token_gather_cuda(gp, nullptr); }, reps), gather_bytes);
  }
}
}  // namespace

int main(int argc, char** argv) {
  testing::require_gpu_or_skip("bench_dsa");
  bool quick = false;
  int reps = 0;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
      reps = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: bench_dsa [--reps N] [--quick]\n");
      return 2;
    }
  }
  if (reps <= 0) reps = quick ? 5 : 50;
  try {
    for (int batch : {1, 4, 16}) {
      if (quick && batch > 4) break;
      for (int tokens : {32768, 131072}) {
        if (quick && tokens > 32768) break;
        bench(batch, tokens, reps);
      }
    }
    FORESIGHT_CUDA_CHECK(cudaDeviceSynchronize());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_dsa: %s\n", e.what());
    return 1;
  }
  return 0;
}

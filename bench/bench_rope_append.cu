// Decode rope + q gather + K/V append of MiniCPM4.1-8B (32 q heads, 2 KV heads,
// head_dim 128, Forecast f, store in GPU memory, tail slot): the unfused
// sequence (rope_cuda + cudaMemcpy2DAsync of q + kv_append_cuda, 3 launches)
// against rope_append_cuda (1 launch), for batch 1, 4, 16, 64 at positions
// near 128K. Timing: each variant is captured `reps` times into one CUDA
// graph (as a decode step graph would hold it); after warm-up the graph is
// replayed `samples` times between CUDA events; the median per-op time is
// reported (launch gaps inside the graph included).
// Usage: bench_rope_append [--csv PATH] [--quick]
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "foresight/kernels/cuda_check.hpp"
#include "foresight/kernels/rope_append.hpp"
#include "gpu_present.hpp"

using namespace foresight;
using namespace foresight::kernels;

namespace {
constexpr int kNh = 32, kNkv = 2, kD = 128, kRow = (kNh + 3 * kNkv) * kD;
constexpr std::int64_t kMaxTokens = 131072;

template <class T>
T* device_alloc(std::size_t n) {
  void* p = nullptr;
  FORESIGHT_CUDA_CHECK(cudaMalloc(&p, n * sizeof(T)));
  FORESIGHT_CUDA_CHECK(cudaMemset(p, 0, n * sizeof(T)));
  return static_cast<T*>(p);
}

// Median microseconds per op of `op` captured reps times into one graph.
double time_graph(const std::function<void(cudaStream_t)>& op, int reps, int samples) {
  cudaStream_t s;
  FORESIGHT_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  cudaGraph_t g;
  cudaGraphExec_t e;
  FORESIGHT_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeGlobal));
  for (int i = 0; i < reps; ++i) op(s);
  FORESIGHT_CUDA_CHECK(cudaStreamEndCapture(s, &g));
  FORESIGHT_CUDA_CHECK(cudaGraphInstantiate(&e, g, 0));
  for (int i = 0; i < 3; ++i) FORESIGHT_CUDA_CHECK(cudaGraphLaunch(e, s));
  cudaEvent_t a, b;
  FORESIGHT_CUDA_CHECK(cudaEventCreate(&a));
  FORESIGHT_CUDA_CHECK(cudaEventCreate(&b));
  std::vector<double> us;
  for (int i = 0; i < samples; ++i) {
    FORESIGHT_CUDA_CHECK(cudaEventRecord(a, s));
    FORESIGHT_CUDA_CHECK(cudaGraphLaunch(e, s));
    FORESIGHT_CUDA_CHECK(cudaEventRecord(b, s));
    FORESIGHT_CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    FORESIGHT_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    us.push_back(1000.0 * ms / reps);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  cudaGraphExecDestroy(e);
  cudaGraphDestroy(g);
  cudaStreamDestroy(s);
  std::sort(us.begin(), us.end());
  return us[us.size() / 2];
}
}  // namespace

int main(int argc, char** argv) {
  testing::require_gpu_or_skip("bench_rope_append");
  bool quick = false;
  const char* csv_path = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) quick = true;
    else if (std::strcmp(argv[i], "--csv") == 0 && i + 1 < argc) csv_path = argv[++i];
    else {
      std::fprintf(stderr, "usage: bench_rope_append [--csv PATH] [--quick]\n");
      return 2;
    }
  }
  const int reps = quick ? 20 : 200, samples = quick ? 5 : 21;
  std::FILE* csv = csv_path ? std::fopen(csv_path, "w") : nullptr;
  if (csv_path && !csv) {
    std::fprintf(stderr, "bench_rope_append: cannot write %s\n", csv_path);
    return 1;
  }
  if (csv) std::fprintf(csv, "batch,unfused_us,fused_us\n");
  std::printf("%6s %12s %12s %8s\n", "batch", "unfused_us", "fused_us", "speedup");
  for (int batch : {1, 4, 16, 64}) {
    const std::size_t seqs = std::size_t(batch);
    bf16* qkvf = device_alloc<bf16>(seqs * kRow);
    bf16* q_out = device_alloc<bf16>(seqs * kNh * kD);
    bf16* store_k = device_alloc<bf16>(seqs * kNkv * kMaxTokens * kD);
    bf16* store_v = device_alloc<bf16>(seqs * kNkv * kMaxTokens * kD);
    bf16* slots_k = device_alloc<bf16>(seqs * kNkv * 65 * 64 * kD);
    bf16* slots_v = device_alloc<bf16>(seqs * kNkv * 65 * 64 * kD);
    std::int32_t* tail = device_alloc<std::int32_t>(seqs * kNkv);
    std::vector<std::int32_t> pos(batch);
    for (int b = 0; b < batch; ++b) pos[b] = static_cast<std::int32_t>(kMaxTokens - 1 - b);
    std::int32_t* dpos = device_alloc<std::int32_t>(seqs);
    FORESIGHT_CUDA_CHECK(cudaMemcpy(dpos, pos.data(), seqs * 4, cudaMemcpyHostToDevice));
    const auto inv = rope_inv_freq({RopeFrequencies::Kind::kPlain, 10000.0}, kD);
    float* dinv = device_alloc<float>(inv.size());
    FORESIGHT_CUDA_CHECK(cudaMemcpy(dinv, inv.data(), inv.size() * 4, cudaMemcpyHostToDevice));

    RopeAppendParams p;
    p.rope = {qkvf, qkvf + kNh * kD, qkvf + (kNh + 2 * kNkv) * kD, dpos, dinv, batch, kNh, kNkv, kD, kRow, kRow, kRow};
    p.q_out = q_out;
    KvAppendParams& a = p.append;
    a.src = qkvf; a.src_row_stride = kRow; a.k_offset = kNh * kD; a.v_offset = (kNh + kNkv) * kD;
    a.positions = dpos; a.rows = batch;
    a.store_k = store_k; a.store_v = store_v; a.max_tokens = kMaxTokens;
    a.slots_k = slots_k; a.slots_v = slots_v; a.slots_per_row = 65; a.tail_slot = 64; a.block_tokens = 64;
    a.tail_block = tail; a.kv_heads = kNkv; a.head_dim = kD;

    const double unfused = time_graph([&](cudaStream_t s) {
      rope_cuda(p.rope, s);
      const std::size_t qb = std::size_t(kNh) * kD * 2;
      FORESIGHT_CUDA_CHECK(cudaMemcpy2DAsync(q_out, qb, qkvf, kRow * 2, qb, batch, cudaMemcpyDeviceToDevice, s));
      kv_append_cuda(p.append, s);
    }, reps, samples);
    const double fused = time_graph([&](cudaStream_t s) { rope_append_cuda(p, s); }, reps, samples);
    std::printf("%6d %12.2f %12.2f %7.2fx\n", batch, unfused, fused, unfused / fused);
    if (csv) std::fprintf(csv, "%d,%.3f,%.3f\n", batch, unfused, fused);
    for (void* ptr : {static_cast<void*>(qkvf), static_cast<void*>(q_out), static_cast<void*>(store_k),
                      static_cast<void*>(store_v), static_cast<void*>(slots_k), static_cast<void*>(slots_v),
                      static_cast<void*>(tail), static_cast<void*>(dpos), static_cast<void*>(dinv)})
      cudaFree(ptr);
  }
  if (csv) std::fclose(csv);
  return 0;
}

// Benchmark of dynamic sparse prefill (kernels/.../sparse_prefill.hpp):
// single-layer whole-prompt prefill attention at long contexts, one JSON line
// per (context, shape, pattern):
//   dense           prefill_attention_cuda (cuDNN where it runs, else mma.sync)
//   triangular, interval-slash, block-cluster
//                   every head that kind, parameters chosen from the estimate
//                   for the target recall (choose_sparse_prefill with one kind)
//   dynamic         per head the cheapest kind (all kinds)
// Fields: ms (median kernel time over --reps after 2 warm-ups), blocks
// (64 x 64 tiles computed over all heads), dense_blocks, recall (mean over
// heads of the estimated recall: attention mass of the last 64 queries inside
// the pattern) and min_recall, out_rel_l2 (relative L2 error of the output
// against the dense output, all queries and heads); the dynamic row also has
// estimate_ms (GPU estimate), choose_ms and lower_ms (host) and the kind mix.
// Sparse rows time every kernel variant: ms_by_variant[v]; ms and
// speedup_vs_dense are the default variant's (`variant`).
// Shapes: MiniCPM4.1-8B (32 q heads, 2 KV heads, head_dim 128) and
// Llama-3.1-8B (32 q heads, 8 KV heads, head_dim 128). Inputs are synthetic,
// made on the GPU: keys carry a RoPE-like rotation (local band), 4 sink keys,
// 8 vertical-column keys and one cluster of 256 keys; each query head
// responds to a mix of those by head index, so heads differ in structure.
// Usage: bench_sparse_prefill [--reps N] [--quick] [--contexts 16384,32768,...] [--recall R]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "../tests/kernels/sparse/device_buffer.cuh"
#include "foresight/kernels/cuda_check.hpp"
#include "foresight/kernels/prefill_attention.hpp"
#include "foresight/kernels/sparse_prefill.hpp"
#include "gpu_present.hpp"

using namespace foresight;
using namespace foresight::kernels;
using testing::DeviceBuffer;

namespace {

struct Shape {
  const char* name;
  int nh, nkv, d;
};

__device__ float hash_unit(std::uint64_t x) {  // splitmix64 -> [-1, 1)
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  x ^= x >> 31;
  return static_cast<float>(x >> 40) / static_cast<float>(1 << 23) - 1.f;
}

// Structure of the synthetic keys (shared by all heads of a KV head).
struct Synth {
  int tokens, n, d;  // n: heads of the tensor being written
  bool is_query;
  int columns[8];
  int cluster_lo;
};

// One thread per (token, head, dim). Score = q . k / sqrt(d):
// dims 0..7: rotation (4 frequencies), amplitude per head -> local band of peak `local`;
// dim 8: sinks (keys 0..3); dim 9: columns; dim 10: cluster [lo, lo + 256); the rest noise.
__global__ void synth_kernel(bf16* out, Synth s, std::uint64_t seed) {
  const std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x;
  const std::int64_t total = std::int64_t{s.tokens} * s.n * s.d;
  if (i >= total) return;
  const int e = static_cast<int>(i % s.d), h = static_cast<int>((i / s.d) % s.n);
  const int t = static_cast<int>(i / (std::int64_t{s.d} * s.n));
  const float root = sqrtf(static_cast<float>(s.d));
  const float theta[4] = {0.005f, 0.008f, 0.011f, 0.015f};
  float v;
  if (!s.is_query) {  // keys
    if (e < 8) {
      const float ang = theta[e / 2] * static_cast<float>(t);
      v = (e & 1) ? sinf(ang) : cosf(ang);
    } else if (e == 8) {
      v = t < 4 ? 1.f : 0.f;
    } else if (e == 9) {
      v = 0.f;
      for (int c = 0; c < 8; ++c) v += t == s.columns[c] ? 1.f : 0.f;
    } else if (e == 10) {
      v = t >= s.cluster_lo && t < s.cluster_lo + 256 ? 1.f : 0.f;
    } else {
      v = 0.3f * hash_unit(seed ^ (static_cast<std::uint64_t>(i) * 0x100000001b3ull));
    }
  } else {  // queries: head type h % 4 -> sink+local, columns+local, cluster, diffuse
    const int type = h % 4;
    const float local = type == 0 ? 12.f : type == 1 ? 10.f : type == 2 ? 3.f : 2.f;
    if (e < 8) {
      const float ang = theta[e / 2] * static_cast<float>(t);
      v = local / 4.f * root * ((e & 1) ? sinf(ang) : cosf(ang));
    } else if (e == 8) {
      v = (type == 0 ? 16.f : type == 1 ? 9.f : 6.f) * root;
    } else if (e == 9) {
      v = (type == 1 ? 16.f : 0.f) * root;
    } else if (e == 10) {
      v = (type == 2 ? 10.f : 0.f) * root;
    } else {
      v = (type == 3 ? 4.f : 0.5f) * hash_unit(seed ^ (static_cast<std::uint64_t>(i) * 0x9e3779b1ull + 7));
    }
  }
  out[i] = float_to_bf16(v);
}

void synth(bf16* out, const Synth& s, std::uint64_t seed) {
  const std::int64_t total = std::int64_t{s.tokens} * s.n * s.d;
  synth_kernel<<<static_cast<unsigned>((total + 255) / 256), 256>>>(out, s, seed);
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

__global__ void fill_random_kernel(bf16* out, std::int64_t n, std::uint64_t seed) {
  const std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x;
  if (i < n) out[i] = float_to_bf16(hash_unit(seed ^ (static_cast<std::uint64_t>(i) * 0xff51afd7ed558ccdull)));
}

// sums[0] += sum (a - b)^2, sums[1] += sum b^2 over n elements.
__global__ void rel_err_kernel(const bf16* a, const bf16* b, std::int64_t n, double* sums) {
  double num = 0, den = 0;
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < n;
       i += std::int64_t{gridDim.x} * blockDim.x) {
    const double x = bf16_to_float(a[i]), y = bf16_to_float(b[i]);
    num += (x - y) * (x - y);
    den += y * y;
  }
  for (int o = 16; o > 0; o >>= 1) {
    num += __shfl_xor_sync(0xffffffffu, num, o);
    den += __shfl_xor_sync(0xffffffffu, den, o);
  }
  if (threadIdx.x % 32 == 0) {
    atomicAdd(sums, num);
    atomicAdd(sums + 1, den);
  }
}

// ||a - b|| / ||b|| over n bf16 elements on the device (NaN anywhere gives NaN).
double rel_l2(const bf16* a, const bf16* b, std::int64_t n) {
  DeviceBuffer<double> sums(2);
  FORESIGHT_CUDA_CHECK(cudaMemset(sums.get(), 0, 2 * sizeof(double)));
  rel_err_kernel<<<1024, 256>>>(a, b, n, sums.get());
  FORESIGHT_CUDA_CHECK_LAUNCH();
  const std::vector<double> h = sums.download();
  return std::sqrt(h[0] / h[1]);
}

// Median ms of run() over reps after 2 warm-ups.
double time_ms(int reps, const std::function<void()>& run) {
  cudaEvent_t a, b;
  FORESIGHT_CUDA_CHECK(cudaEventCreate(&a));
  FORESIGHT_CUDA_CHECK(cudaEventCreate(&b));
  for (int w = 0; w < 2; ++w) run();
  std::vector<double> ms;
  for (int r = 0; r < reps; ++r) {
    FORESIGHT_CUDA_CHECK(cudaEventRecord(a));
    run();
    FORESIGHT_CUDA_CHECK(cudaEventRecord(b));
    FORESIGHT_CUDA_CHECK(cudaEventSynchronize(b));
    float x = 0;
    FORESIGHT_CUDA_CHECK(cudaEventElapsedTime(&x, a, b));
    ms.push_back(x);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

double host_ms(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

void bench_one(std::int64_t tokens, const Shape& sh, int reps, double target) {
  const int n = static_cast<int>(tokens);
  DeviceBuffer<bf16> q(static_cast<std::size_t>(tokens * sh.nh * sh.d)), k(static_cast<std::size_t>(tokens * sh.nkv * sh.d)),
      v(k.size()), o(q.size()), o_dense(q.size());
  Synth s{n, sh.nkv, sh.d, false, {}, n / 3};
  for (int c = 0; c < 8; ++c) s.columns[c] = (c + 1) * (n / 10);  // spread over the context
  synth(k.get(), s, 1);
  s.n = sh.nh, s.is_query = true;
  synth(q.get(), s, 2);
  fill_random_kernel<<<static_cast<unsigned>((v.size() + 255) / 256), 256>>>(v.get(), static_cast<std::int64_t>(v.size()), 3);
  FORESIGHT_CUDA_CHECK_LAUNCH();
  const PrefillAttentionParams attn{q.get(), k.get(), v.get(), o.get(), 0, tokens, sh.nh, sh.nkv, sh.d};
  const std::int64_t dense_blocks = dense_causal_blocks(tokens) * sh.nh;
  const char* shape = sh.name;

  const char* impl = "";
  PrefillAttentionParams dense_attn = attn;
  dense_attn.o = o_dense.get();  // kept: the sparse rows report their output error against it
  const double dense_ms = time_ms(reps, [&] { impl = prefill_attention_cuda(dense_attn, nullptr); });
  std::printf("{\"context\":%lld,\"shape\":\"%s\",\"pattern\":\"dense\",\"impl\":\"%s\",\"ms\":%.3f,\"blocks\":%lld,"
              "\"dense_blocks\":%lld,\"recall\":1,\"min_recall\":1}\n",
              static_cast<long long>(tokens), shape, impl, dense_ms, static_cast<long long>(dense_blocks),
              static_cast<long long>(dense_blocks));
  std::fflush(stdout);

  // Estimate on the GPU (timed), summaries to the host.
  const int n_last = 64;
  const std::int64_t qb = (tokens + 63) / 64;
  DeviceBuffer<float> key(static_cast<std::size_t>(sh.nh * tokens)), off(key.size()),
      blk(static_cast<std::size_t>(sh.nh * qb)), stats(static_cast<std::size_t>(sparse_prefill_estimate_scratch_floats(sh.nh, tokens, n_last)));
  const double estimate_ms = time_ms(reps, [&] {
    estimate_sparse_prefill_cuda(attn, n_last, key.get(), off.get(), blk.get(), stats.get(), nullptr);
  });
  SparsePrefillEstimate est;
  est.n_heads = sh.nh, est.tokens = tokens, est.n_last = static_cast<int>(std::min<std::int64_t>(n_last, tokens));
  est.key_mass = key.download(), est.offset_mass = off.download(), est.block_offset_mass = blk.download();

  struct Row {
    const char* name;
    unsigned kinds;
  };
  const Row rows[4] = {{"triangular", 1u << static_cast<int>(SparsePatternKind::triangular)},
                       {"interval-slash", 1u << static_cast<int>(SparsePatternKind::interval_slash)},
                       {"block-cluster", 1u << static_cast<int>(SparsePatternKind::block_cluster)},
                       {"dynamic", kAllSparsePatterns}};
  for (const Row& r : rows) {
    auto t0 = std::chrono::steady_clock::now();
    const auto choice = choose_sparse_prefill(est, target, r.kinds);
    const double choose_ms = host_ms(t0);
    std::vector<HeadPattern> pats;
    double recall = 0, min_recall = 1;
    int mix[3] = {0, 0, 0};
    for (const auto& c : choice) {
      pats.push_back(c.pattern);
      recall += c.recall / sh.nh;
      min_recall = std::min(min_recall, c.recall);
      ++mix[static_cast<int>(c.pattern.kind)];
    }
    t0 = std::chrono::steady_clock::now();
    const SparsePrefillLayout layout = lower_sparse_prefill(pats, tokens);
    const double lower_ms = host_ms(t0);
    SparsePrefillDeviceLayout dl(layout);
    double ms_by_variant[kSparsePrefillVariants];
    for (int v = 0; v < kSparsePrefillVariants; ++v) {
      ms_by_variant[v] = time_ms(reps, [&] { sparse_prefill_cuda_variant({attn, dl.view()}, v, nullptr); });
    }
    const double ms = ms_by_variant[kSparsePrefillDefaultVariant];
    const double err = rel_l2(o.get(), o_dense.get(), static_cast<std::int64_t>(o.size()));
    std::printf("{\"context\":%lld,\"shape\":\"%s\",\"pattern\":\"%s\",\"ms\":%.3f,\"blocks\":%lld,\"dense_blocks\":%lld,"
                "\"recall\":%.4f,\"min_recall\":%.4f,\"out_rel_l2\":%.4f,\"speedup_vs_dense\":%.2f",
                static_cast<long long>(tokens), shape, r.name, ms, static_cast<long long>(layout.blocks_computed()),
                static_cast<long long>(dense_blocks), recall, min_recall, err, dense_ms / ms);
    std::printf(",\"variant\":%d,\"ms_by_variant\":[", kSparsePrefillDefaultVariant);
    for (int v = 0; v < kSparsePrefillVariants; ++v) std::printf("%s%.3f", v ? "," : "", ms_by_variant[v]);
    std::printf("]");
    if (r.kinds == kAllSparsePatterns) {
      std::printf(",\"estimate_ms\":%.3f,\"choose_ms\":%.2f,\"lower_ms\":%.2f,\"mix\":{\"triangular\":%d,"
                  "\"interval-slash\":%d,\"block-cluster\":%d}",
                  estimate_ms, choose_ms, lower_ms, mix[0], mix[1], mix[2]);
    }
    std::printf("}\n");
    std::fflush(stdout);
  }
}

bool parse_contexts(const char* text, std::vector<std::int64_t>* out) {
  out->clear();
  const char* p = text;
  while (*p) {
    char* end = nullptr;
    const long long v = std::strtoll(p, &end, 10);
    if (end == p || v < 1 || v >= (1ll << 30)) return false;
    out->push_back(v);
    p = *end == ',' ? end + 1 : end;
    if (*end != ',' && *end != '\0') return false;
  }
  return !out->empty();
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 10;
  double target = 0.95;
  bool quick = false;
  std::vector<std::int64_t> contexts = {16384, 32768, 65536, 131072};
  bool contexts_given = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
      reps = std::max(1, std::atoi(argv[++i]));
    } else if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strcmp(argv[i], "--recall") == 0 && i + 1 < argc) {
      target = std::atof(argv[++i]);
    } else if (std::strcmp(argv[i], "--contexts") == 0 && i + 1 < argc && parse_contexts(argv[i + 1], &contexts)) {
      contexts_given = true;
      ++i;
    } else {
      std::fprintf(stderr, "Usage: bench_sparse_prefill [--reps N] [--quick] [--contexts 16384,32768,...] [--recall R]\n");
      return 2;
    }
  }
  testing::require_gpu_or_skip("bench_sparse_prefill");
  if (quick) {
    reps = std::min(reps, 3);
    if (!contexts_given) contexts = {16384};
  }
  const Shape shapes[2] = {{"MiniCPM4.1-8B", 32, 2, 128}, {"Llama-3.1-8B", 32, 8, 128}};
  for (std::int64_t tokens : contexts) {
    for (const Shape& sh : shapes) {
      try {
        bench_one(tokens, sh, reps, target);
      } catch (const std::exception& e) {
        std::printf("{\"context\":%lld,\"shape\":\"%s\",\"error\":\"%s\"}\n", static_cast<long long>(tokens), sh.name,
                    e.what());
        std::fflush(stdout);
      }
    }
  }
  return 0;
}

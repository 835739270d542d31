// Benchmark of the dense-path CUDA kernels at MiniCPM4.1-8B shapes.
// Timing: CUDA events around `inner` back-to-back launches on rotating copies
// of the operands (together > 256 MiB, so the 50 MiB L2 cannot serve them),
// after warm-up; the reported time is the median over samples, per launch.
// Each op declares its bytes moved and FLOPs; "% roof" is the roofline time
// max(bytes / HBM, FLOPs / tensor rate) over the measured time, and "bound"
// says which ceiling applies. Prefill attention is timed through cuDNN's fused
// attention (where built in and supported), the dispatcher and every mma.sync
// tile variant. GEMM and prefill attention shapes are the GPU check's
// (tests/support/kernel_cases.hpp). Usage: bench_kernels_dense [--csv PATH]
// [--quick] [--attention-only]
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "foresight/kernels/argmax.hpp"
#include "foresight/kernels/cuda_check.hpp"
#include "foresight/kernels/embedding.hpp"
#include "foresight/kernels/gemm.hpp"
#include "foresight/kernels/key_compress.hpp"
#include "foresight/kernels/prefill_attention.hpp"
#include "foresight/kernels/residual_add.hpp"
#include "foresight/kernels/rmsnorm.hpp"
#include "foresight/kernels/rope.hpp"
#include "foresight/kernels/swiglu.hpp"
#include "gpu_present.hpp"
#include "kernel_cases.hpp"

using namespace foresight;
using namespace foresight::kernels;

namespace {
constexpr double kHbmBytesPerS = 3.0e12;       // measured H100 HBM ceiling
constexpr double kTensorFlopsPerS = 790e12;    // measured dense bf16 GEMM rate
constexpr std::size_t kRotateBytes = 256u << 20;

__global__ void fill_bf16(bf16* p, std::size_t n, std::uint32_t seed, float lo, float hi) {
  for (std::size_t i = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; i < n; i += std::size_t{gridDim.x} * blockDim.x) {
    std::uint32_t h = static_cast<std::uint32_t>(i) * 2654435761u ^ seed;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    const float u = static_cast<float>(h & 0xFFFFFF) / 16777216.f;
    p[i] = float_to_bf16(lo + (hi - lo) * u);
  }
}
__global__ void fill_i32(std::int32_t* p, std::size_t n, std::int32_t modulo, std::int32_t offset) {
  for (std::size_t i = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; i < n; i += std::size_t{gridDim.x} * blockDim.x) {
    p[i] = offset + static_cast<std::int32_t>((i * 7919u) % static_cast<std::size_t>(modulo));
  }
}

// `copies` copies of an n-element tensor, each starting 256-byte aligned.
template <class T>
class Slab {
 public:
  Slab(std::size_t n, int copies) : stride_((n * sizeof(T) + 255) / 256 * 256 / sizeof(T)), n_(n) {
    FORESIGHT_CUDA_CHECK(cudaMalloc(&base_, stride_ * copies * sizeof(T)));
    total_ = stride_ * copies;
  }
  ~Slab() { cudaFree(base_); }
  Slab(const Slab&) = delete;
  Slab& operator=(const Slab&) = delete;
  T* at(int copy) const { return base_ + stride_ * copy; }
  std::size_t total() const { return total_; }
  T* base() const { return base_; }

 private:
  std::size_t stride_, n_, total_ = 0;
  T* base_ = nullptr;
};

Slab<bf16>* random_slab(std::vector<std::unique_ptr<Slab<bf16>>>& keep, std::size_t n, int copies,
                        float lo = -1.f, float hi = 1.f) {
  keep.push_back(std::make_unique<Slab<bf16>>(n, copies));
  static std::uint32_t seed = 1;
  fill_bf16<<<1024, 256>>>(keep.back()->base(), keep.back()->total(), seed++ * 0x9E3779B9u, lo, hi);
  FORESIGHT_CUDA_CHECK_LAUNCH();
  return keep.back().get();
}
Slab<std::int32_t>* int_slab(std::vector<std::unique_ptr<Slab<std::int32_t>>>& keep, std::size_t n,
                             int copies, std::int32_t modulo, std::int32_t offset) {
  keep.push_back(std::make_unique<Slab<std::int32_t>>(n, copies));
  fill_i32<<<256, 256>>>(keep.back()->base(), keep.back()->total(), modulo, offset);
  FORESIGHT_CUDA_CHECK_LAUNCH();
  return keep.back().get();
}

int copies_for(double footprint_bytes) {
  return static_cast<int>(std::clamp(kRotateBytes / footprint_bytes + 1, 1.0, 512.0));
}

struct Row {
  std::string op, shape;
  double us, gbps, tflops, roof_pct;
  const char* bound;
};

// Median per-launch microseconds of launch(copy) over rotating copies.
double time_us(const std::function<void(int)>& launch, int copies, int samples) {
  const int inner = std::min(copies, 20);
  cudaEvent_t a, b;
  FORESIGHT_CUDA_CHECK(cudaEventCreate(&a));
  FORESIGHT_CUDA_CHECK(cudaEventCreate(&b));
  int next = 0;
  for (int i = 0; i < 3 * inner; ++i) launch(next++ % copies);  // warm-up
  std::vector<double> us;
  for (int s = 0; s < samples; ++s) {
    FORESIGHT_CUDA_CHECK(cudaEventRecord(a));
    for (int i = 0; i < inner; ++i) launch(next++ % copies);
    FORESIGHT_CUDA_CHECK(cudaEventRecord(b));
    FORESIGHT_CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    FORESIGHT_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    us.push_back(1000.0 * ms / inner);
  }
  FORESIGHT_CUDA_CHECK(cudaEventDestroy(a));
  FORESIGHT_CUDA_CHECK(cudaEventDestroy(b));
  std::sort(us.begin(), us.end());
  return us[us.size() / 2];
}

class Bench {
 public:
  explicit Bench(int samples) : samples_(samples) {}
  void run(const std::string& op, const std::string& shape, double bytes, double flops, int copies,
           const std::function<void(int)>& launch) {
    const double us = time_us(launch, copies, samples_);
    const double t_hbm = bytes / kHbmBytesPerS, t_tc = flops / kTensorFlopsPerS;
    Row r{op, shape, us, bytes / (us * 1e-6) / 1e9, flops / (us * 1e-6) / 1e12,
          100.0 * std::max(t_hbm, t_tc) / (us * 1e-6), t_tc > t_hbm ? "tensor" : "HBM"};
    std::printf("%-20s %-34s %10.2f %9.1f %9.1f %7.1f%%  %s\n", r.op.c_str(), r.shape.c_str(), r.us, r.gbps,
                r.tflops, r.roof_pct, r.bound);
    std::fflush(stdout);
    rows_.push_back(r);
  }
  bool write_csv(const std::string& path) const {
    FILE* f = std::fopen(path.c_str(), "w");
    if (!f) return false;
    std::fprintf(f, "op,shape,us,gbps,tflops,roof_pct,bound\n");
    for (const Row& r : rows_) {
      std::fprintf(f, "%s,%s,%.3f,%.2f,%.2f,%.2f,%s\n", r.op.c_str(), r.shape.c_str(), r.us, r.gbps, r.tflops,
                   r.roof_pct, r.bound);
    }
    return std::fclose(f) == 0;
  }

 private:
  int samples_;
  std::vector<Row> rows_;
};

std::string dims(std::initializer_list<long long> v) {
  std::string s;
  for (long long x : v) s += (s.empty() ? "" : "x") + std::to_string(x);
  return s;
}

void bench_all(Bench& bench, bool quick, bool attention_only);
void bench_prefill_attention(Bench& bench, bool quick);
}  // namespace

int main(int argc, char** argv) {
  std::string csv;
  bool quick = false, attention_only = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--csv") == 0 && i + 1 < argc) {
      csv = argv[++i];
    } else if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else if (std::strcmp(argv[i], "--attention-only") == 0) {
      attention_only = true;
    } else {
      std::printf(
          "Usage: bench_kernels_dense [--csv PATH] [--quick] [--attention-only]\n"
          "  --csv PATH        also write the table as CSV to PATH (default: none)\n"
          "  --quick           fewer samples, only the quick shapes of tests/support/kernel_cases.hpp\n"
          "                    (no 32K prefill attention, no big GEMMs) (default: off)\n"
          "  --attention-only  time only prefill attention (default: off, all ops)\n");
      return std::strcmp(argv[i], "--help") == 0 ? 0 : 2;
    }
  }
  testing::require_gpu_or_skip("bench_kernels_dense");
  cudaDeviceProp prop{};
  FORESIGHT_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device: %s; ceilings: HBM %.1f TB/s, bf16 tensor %.0f TFLOP/s\n", prop.name,
              kHbmBytesPerS / 1e12, kTensorFlopsPerS / 1e12);
  std::printf("%-20s %-34s %10s %9s %9s %8s  %s\n", "op", "shape", "us", "GB/s", "TFLOP/s", "% roof", "bound");
  Bench bench(quick ? 5 : 30);
  try {
    bench_all(bench, quick, attention_only);
  } catch (const std::exception& e) {
    std::printf("benchmark failed: %s\n", e.what());
    return 1;
  }
  if (!csv.empty() && !bench.write_csv(csv)) {
    std::printf("cannot write CSV to %s\n", csv.c_str());
    return 1;
  }
  return 0;
}

namespace {
void bench_all(Bench& bench, bool quick, bool attention_only) {
  if (attention_only) {
    bench_prefill_attention(bench, quick);
    return;
  }
  const int H = 4096, NH = 32, NKV = 2, D = 128, INTER = 16384, VOCAB = 73448;
  std::vector<std::unique_ptr<Slab<bf16>>> keep;
  std::vector<std::unique_ptr<Slab<std::int32_t>>> keep_i;

  for (int rows : {16, 16384}) {  // a decode batch; a prefill chunk
    const double io = 2.0 * rows * H * 2 + H * 2;
    const int cp = copies_for(io);
    auto* x = random_slab(keep, std::size_t(rows) * H, cp);
    auto* w = random_slab(keep, H, 1, 0.5f, 1.5f);
    auto* y = random_slab(keep, std::size_t(rows) * H, cp);
    bench.run("rmsnorm", dims({rows, H}), io, 0, cp, [&](int c) {
      rmsnorm_cuda({x->at(c), w->at(0), y->at(c), rows, H}, nullptr);
    });
    bench.run("residual_add", dims({rows, H}), 3.0 * rows * H * 2, 0, cp, [&](int c) {
      residual_add_cuda({x->at(c), y->at(c), y->at(c), std::int64_t(rows) * H}, nullptr);
    });
    auto* table = random_slab(keep, std::size_t(VOCAB) * H, 1);
    auto* ids = int_slab(keep_i, rows, cp, VOCAB, 0);
    bench.run("embedding", dims({rows, H}), 2.0 * rows * H * 2 + rows * 4.0, 0, cp, [&](int c) {
      embedding_cuda({ids->at(c), table->at(0), y->at(c), rows, VOCAB, H}, nullptr);
    });
  }
  for (int rows : {16, 16384}) {  // RoPE on q, k and f inside the fused projection output
    const std::int64_t row = std::int64_t(NH + 3 * NKV) * D;
    const double io = 2.0 * rows * (NH + 2 * NKV) * D * 2 + rows * 4.0;
    const int cp = copies_for(io);
    auto* qkvf = random_slab(keep, std::size_t(rows) * row, cp);
    auto* pos = int_slab(keep_i, rows, cp, 131072, 0);
    auto inv = rope_inv_freq({RopeFrequencies::Kind::kLlama3, 500000.0}, D);
    float* dinv = nullptr;
    FORESIGHT_CUDA_CHECK(cudaMalloc(&dinv, inv.size() * sizeof(float)));
    FORESIGHT_CUDA_CHECK(cudaMemcpy(dinv, inv.data(), inv.size() * sizeof(float), cudaMemcpyHostToDevice));
    bench.run("rope q+k+f", dims({rows, NH, NKV, D}), io, 0, cp, [&](int c) {
      bf16* b = qkvf->at(c);
      rope_cuda({b, b + NH * D, b + (NH + 2 * NKV) * D, pos->at(c), dinv, rows, NH, NKV, D, row, row, row}, nullptr);
    });
    FORESIGHT_CUDA_CHECK(cudaDeviceSynchronize());
    FORESIGHT_CUDA_CHECK(cudaFree(dinv));
  }
  for (int rows : {16, 4096}) {
    const double io = 3.0 * rows * INTER * 2;
    const int cp = copies_for(io);
    auto* gu = random_slab(keep, std::size_t(rows) * 2 * INTER, cp, -4, 4);
    auto* out = random_slab(keep, std::size_t(rows) * INTER, cp);
    bench.run("swiglu", dims({rows, INTER}), io, 0, cp, [&](int c) {
      swiglu_cuda({gu->at(c), out->at(c), rows, INTER}, nullptr);
    });
  }
  for (int rows : {1, 16, 128}) {
    const double io = double(rows) * VOCAB * 2 + rows * 4.0;
    const int cp = copies_for(io);
    auto* logits = random_slab(keep, std::size_t(rows) * VOCAB, cp);
    auto* out = int_slab(keep_i, rows, cp, 1, 0);
    bench.run("argmax", dims({rows, VOCAB}), io, 0, cp, [&](int c) {
      argmax_cuda({logits->at(c), out->at(c), rows, VOCAB}, nullptr);
    });
  }

  GemmHandle gemm;
  for (const testing::cases::GemmCase& g : testing::cases::gemm_cases(quick)) {
    // Bytes of the operands (y read too with accumulate); padding not counted.
    const double io = (double(g.rows) * g.in + double(g.out) * g.in + double(g.rows) * g.out * (g.accumulate ? 2 : 1)) * 2;
    const std::int64_t ldx = g.in + g.pad, ldw = g.in + g.pad, ldy = g.out + g.pad;
    const int cp = copies_for(io);
    auto* x = random_slab(keep, g.offset + std::size_t(g.rows) * ldx, cp);
    auto* w = random_slab(keep, g.offset + std::size_t(g.out) * ldw, cp, -0.05f, 0.05f);
    auto* y = random_slab(keep, g.offset + std::size_t(g.rows) * ldy, cp);
    std::string shape = dims({g.rows, g.in, g.out});
    if (g.pad) shape += " pad " + std::to_string(g.pad);
    if (g.offset) shape += " off " + std::to_string(g.offset);
    bench.run(g.name, shape, io, 2.0 * g.rows * g.in * g.out, cp, [&](int c) {
      GemmParams p{x->at(c) + g.offset, w->at(c) + g.offset, y->at(c) + g.offset, g.rows, g.in, g.out, ldx, ldw, ldy};
      p.accumulate = g.accumulate;
      gemm_cuda(gemm, p, nullptr);
    });
    keep.clear();  // weights of several GEMMs x copies would not fit together
  }

  {  // key compression: a 32K prefill, and one decode step of batch 16 at a window boundary
    const std::int64_t tokens = 32768, width = NKV * D, nw = compressed_key_count(tokens, 32, 16);
    const double io = (double(tokens) + double(nw)) * width * 2;
    const int cp = copies_for(io);
    auto* k = random_slab(keep, tokens * width, cp);
    auto* kc = random_slab(keep, nw * width, cp);
    bench.run("compress prefill", dims({tokens, NKV, D}), io, 0, cp, [&](int c) {
      key_compress_prefill_cuda({k->at(c), kc->at(c), tokens, 0, NKV, D}, nullptr);
    });
    const int batch = 16, max_windows = 8192;
    const double dio = batch * (32.0 + 3.0) * width * 2;
    auto* ring = random_slab(keep, std::size_t(batch) * 32 * width, 1);
    auto* knew = random_slab(keep, std::size_t(batch) * width, 1);
    auto* kcd = random_slab(keep, std::size_t(batch) * max_windows * width, 1);
    auto* counts = int_slab(keep_i, batch, 1, 1, 32 + 16 * 100);
    bench.run("compress decode", dims({batch, NKV, D}), dio, 0, 1, [&](int) {
      KeyCompressDecodeParams p{knew->at(0), ring->at(0), kcd->at(0), counts->at(0), batch, NKV, D, 0,
                                max_windows * width};
      key_compress_decode_cuda(p, nullptr);
    });
    keep.clear();
  }

  keep.clear();
  bench_prefill_attention(bench, quick);
}

void bench_prefill_attention(Bench& bench, bool quick) {
  std::vector<std::unique_ptr<Slab<bf16>>> keep;
  std::printf("cuDNN runtime version: %d (0: not built in)\n", prefill_attention_cudnn_version());
  for (const testing::cases::PrefillAttentionCase& a : testing::cases::prefill_attention_cases(quick)) {
    const std::int64_t kv = a.start + a.chunk;
    const std::int64_t q_row = std::int64_t(a.nh) * a.d + a.pad, kv_row = std::int64_t(a.nkv) * a.d + a.pad;
    PrefillAttentionParams p{nullptr, nullptr, nullptr, nullptr, a.start, a.chunk, a.nh, a.nkv, a.d, 0.f,
                             q_row, kv_row, q_row};
    const double io = (2.0 * a.chunk * a.nh * a.d + 2.0 * kv * a.nkv * a.d) * 2;  // padding not counted
    auto* q = random_slab(keep, std::size_t(a.chunk) * q_row, 1, -2, 2);
    auto* k = random_slab(keep, std::size_t(kv) * kv_row, 1, -2, 2);
    auto* v = random_slab(keep, std::size_t(kv) * kv_row, 1);
    auto* o = random_slab(keep, std::size_t(a.chunk) * q_row, 1);
    p.q = q->at(0);
    p.k = k->at(0);
    p.v = v->at(0);
    p.o = o->at(0);
    const std::string shape = "start " + std::to_string(a.start) + " " + dims({a.chunk, a.nh, a.nkv, a.d}) +
                              (a.pad ? " pad " + std::to_string(a.pad) : "");
    const int kCudnn = -2, kDispatch = -1;
    for (int variant = kCudnn; variant < kPrefillAttentionVariants; ++variant) {
      std::string op = variant == kCudnn ? "prefill_attn cudnn" : "prefill_attn v" + std::to_string(variant);
      if (variant == kCudnn) {
        std::string why;
        if (!prefill_attention_cudnn(p, nullptr, &why)) {  // also builds and caches the plan
          std::printf("%-20s %-34s not run: %s\n", op.c_str(), shape.c_str(), why.c_str());
          continue;
        }
      }
      if (variant == kDispatch) op = std::string("prefill_attention(") + prefill_attention_cuda(p, nullptr) + ")";
      bench.run(op, shape, io, prefill_attention_flops(p), 1, [&](int) {
        if (variant == kCudnn) {
          prefill_attention_cudnn(p, nullptr);
        } else if (variant == kDispatch) {
          prefill_attention_cuda(p, nullptr);
        } else {
          prefill_attention_cuda_variant(p, variant, nullptr);
        }
      });
    }
    FORESIGHT_CUDA_CHECK(cudaDeviceSynchronize());
    keep.clear();
  }
}
}  // namespace

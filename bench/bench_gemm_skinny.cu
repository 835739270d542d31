// Skinny projection GEMMs of MiniCPM4.1-8B decode (y[rows, out] = x[rows, in]
// W^T, bf16, fp32 accumulate): cublasGemmEx(CUBLAS_GEMM_DEFAULT) against the
// per-shape tuned choice of gemm_cuda (GemmTuning::kOn), for rows 1, 4, 16, 64.
// Timing: after warm-up (which also tunes), `samples` back-to-back calls with
// a CUDA event between consecutive calls; the median per-call time is
// reported. Weights rotate over >= 3 copies totalling > 256 MiB, so each call
// reads W from HBM, not the 50 MiB L2. GB/s counts W + x + y bytes; "% roof"
// is that over 3.0 TB/s (the measured H100 HBM ceiling). The per-step lines
// add 32 x (qkvf + o + gate+up + down) + lm_head.
//
// Fused decode projection (linear_cuda, foresight/kernels/linear.hpp) for rows
// 1, 2, 4, 8 and the layer shapes with their real fusions (qkvf: RMSNorm
// prologue; o: residual accumulate; gate+up: RMSNorm + SwiGLU; down:
// accumulate; lm_head: final RMSNorm). Variants: linear_fused (PDL off),
// linear_fused_pdl, linear_unfused (rmsnorm_cuda + tuned gemm_cuda +
// swiglu_cuda, the cuBLAS composition). Each is timed per call (median, events
// between calls, as above) and as a chain of back-to-back calls without events
// in between (events only around the chain; mean per call), since launch gaps
// and PDL overlap only show in a chain. GB/s counts the fused op's minimal
// traffic (W, x, y, norm weight and norm_out, y read with accumulate). The
// "step" lines time one whole decode step without attention as one chain:
// 32 x (qkvf, o, gate+up, down) + lm_head with the real data dependencies.
// Usage: bench_gemm_skinny [--csv PATH] [--quick]
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "foresight/kernels/cuda_check.hpp"
#include "foresight/kernels/gemm.hpp"
#include "foresight/kernels/linear.hpp"
#include "gpu_present.hpp"

using namespace foresight;
using namespace foresight::kernels;

namespace {
constexpr double kHbmBytesPerS = 3.0e12;
constexpr std::size_t kRotateBytes = std::size_t{256} << 20;
constexpr int kLayers = 32;

__global__ void fill_bf16(bf16* p, std::size_t n, std::uint32_t seed, float scale) {
  for (std::size_t i = blockIdx.x * std::size_t{blockDim.x} + threadIdx.x; i < n;
       i += std::size_t{gridDim.x} * blockDim.x) {
    std::uint32_t h = static_cast<std::uint32_t>(i) * 2654435761u ^ seed;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    p[i] = float_to_bf16(scale * (static_cast<float>(h & 0xFFFFFF) / 8388608.f - 1.f));
  }
}

// `copies` 256-byte-aligned copies of an n-element bf16 tensor, filled with
// values uniform in [-scale, scale).
class Copies {
 public:
  Copies(std::size_t n, int copies, float scale, std::uint32_t seed) : stride_((n + 127) / 128 * 128) {
    FORESIGHT_CUDA_CHECK(cudaMalloc(&base_, stride_ * copies * sizeof(bf16)));
    fill_bf16<<<1024, 256>>>(base_, stride_ * copies, seed, scale);
    FORESIGHT_CUDA_CHECK_LAUNCH();
  }
  ~Copies() { cudaFree(base_); }
  Copies(const Copies&) = delete;
  Copies& operator=(const Copies&) = delete;
  bf16* at(int c) const { return base_ + stride_ * c; }

 private:
  std::size_t stride_;
  bf16* base_ = nullptr;
};

struct Shape {
  const char* name;
  int in, out;
};

struct Result {
  std::string shape;
  int rows, in, out;
  double default_us, tuned_us, bytes;
  std::string choice;
};

// Median microseconds per call of call(copy), copies rotating.
template <class Call>
double median_us(Call call, int copies, int samples) {
  int next = 0;
  for (int i = 0; i < std::max(2 * copies, 10); ++i) call(next++ % copies);  // warm-up (tunes)
  std::vector<cudaEvent_t> ev(samples + 1);
  for (auto& e : ev) FORESIGHT_CUDA_CHECK(cudaEventCreate(&e));
  FORESIGHT_CUDA_CHECK(cudaEventRecord(ev[0]));
  for (int i = 0; i < samples; ++i) {
    call(next++ % copies);
    FORESIGHT_CUDA_CHECK(cudaEventRecord(ev[i + 1]));
  }
  FORESIGHT_CUDA_CHECK(cudaEventSynchronize(ev[samples]));
  std::vector<double> us(samples);
  for (int i = 0; i < samples; ++i) {
    float ms = 0;
    FORESIGHT_CUDA_CHECK(cudaEventElapsedTime(&ms, ev[i], ev[i + 1]));
    us[i] = 1000.0 * ms;
  }
  for (auto e : ev) FORESIGHT_CUDA_CHECK(cudaEventDestroy(e));
  std::sort(us.begin(), us.end());
  return us[samples / 2];
}

double gbps(double bytes, double us) { return bytes / (us * 1e-6) / 1e9; }

std::vector<Result> bench_shape(const Shape& s, const std::vector<int>& rows_list, int samples,
                                GemmHandle& plain, GemmHandle& tuned) {
  const double w_bytes = 2.0 * s.in * s.out;
  const int copies = static_cast<int>(std::clamp(static_cast<double>(kRotateBytes) / w_bytes + 1, 3.0, 64.0));
  const int max_rows = *std::max_element(rows_list.begin(), rows_list.end());
  static std::uint32_t seed = 1;
  Copies w(std::size_t(s.out) * s.in, copies, 0.05f, seed++ * 0x9E3779B9u);
  Copies x(std::size_t(max_rows) * s.in, copies, 1.f, seed++ * 0x9E3779B9u);
  Copies y(std::size_t(max_rows) * s.out, copies, 0.f, 0);
  std::vector<Result> out;
  for (int rows : rows_list) {
    auto params = [&](int c) { return GemmParams{x.at(c), w.at(c), y.at(c), rows, s.in, s.out}; };
    const double d = median_us([&](int c) { gemm_cuda(plain, params(c), nullptr); }, copies, samples);
    const double t = median_us([&](int c) { gemm_cuda(tuned, params(c), nullptr); }, copies, samples);
    const auto info = gemm_cuda_choice(tuned, params(0));
    const double bytes = w_bytes + 2.0 * rows * (s.in + s.out);
    Result r{s.name, rows, s.in, s.out, d, t, bytes, info ? info->description : "(no choice recorded)"};
    std::printf("%-8s %5d %6d %6d | %9.2f %7.0f %5.1f%% | %9.2f %7.0f %5.1f%% | %5.2fx | %s\n", r.shape.c_str(), rows,
                s.in, s.out, d, gbps(bytes, d), 100 * gbps(bytes, d) * 1e9 / kHbmBytesPerS, t, gbps(bytes, t),
                100 * gbps(bytes, t) * 1e9 / kHbmBytesPerS, d / t, r.choice.c_str());
    std::fflush(stdout);
    out.push_back(r);
  }
  FORESIGHT_CUDA_CHECK(cudaDeviceSynchronize());
  return out;
}

// ---- fused linear ----
struct LinearOp {
  const char* name;
  int in, out;
  bool norm, swiglu, accumulate;
  const char* fusion;
};
const LinearOp kLinearOps[] = {{"qkvf", 4096, 4864, true, false, false, "norm"},
                               {"o", 4096, 4096, false, false, true, "accumulate"},
                               {"gate+up", 4096, 32768, true, true, false, "norm+swiglu"},
                               {"down", 16384, 4096, false, false, true, "accumulate"},
                               {"lm_head", 4096, 73448, true, false, false, "norm"}};
enum { kQkvf, kO, kGateUp, kDown, kLmHead };

struct LinearVariant {
  const char* name;
  LinearLaunch launch;
};
const LinearVariant kLinearVariants[] = {{"linear_fused", {LinearPath::kFused, 0}},
                                         {"linear_fused_pdl", {LinearPath::kFused, 1}},
                                         {"linear_unfused", {LinearPath::kUnfused, 0}}};
constexpr int kMaxRows = 8;

// Rotating copies of one op's weights and activations (sized for kMaxRows).
struct LinearBuffers {
  LinearOp op;
  int copies;
  Copies w, x, y, norm_w, norm_out, scratch;
  LinearBuffers(const LinearOp& o, int n, std::uint32_t seed)
      : op(o), copies(n), w(std::size_t(o.out) * o.in, n, 0.05f, seed), x(std::size_t(kMaxRows) * o.in, n, 1.f, seed + 1),
        y(std::size_t(kMaxRows) * o.out, n, 0.5f, seed + 2), norm_w(o.in, 1, 1.f, seed + 3),
        norm_out(std::size_t(kMaxRows) * o.in, n, 0.f, 0), scratch(std::size_t(kMaxRows) * o.out, n, 0.f, 0) {}
  // Params reading x_in (default: this op's copy c) and writing y_out.
  LinearParams params(int rows, int c, const bf16* x_in = nullptr, bf16* y_out = nullptr,
                      bf16* xn = nullptr) const {
    LinearParams p{x_in ? x_in : x.at(c), w.at(c), y_out ? y_out : y.at(c), rows, op.in, op.out};
    if (op.norm) {
      p.norm_weight = norm_w.at(0);
      p.norm_out = xn ? xn : norm_out.at(c);
    }
    p.swiglu = op.swiglu;
    p.swiglu_scratch = op.swiglu ? scratch.at(c) : nullptr;
    p.accumulate = op.accumulate;
    return p;
  }
  double bytes(int rows) const {
    const double y_cols = op.swiglu ? op.out / 2 : op.out;
    return 2.0 * (double(op.in) * op.out + double(rows) * op.in + rows * y_cols * (op.accumulate ? 2 : 1) +
                  (op.norm ? op.in + double(rows) * op.in : 0));
  }
};

// Mean microseconds per call over `calls` back-to-back calls, events only around the chain.
template <class Call>
double chain_us(Call call, int copies, int calls) {
  for (int i = 0; i < std::max(2 * copies, 10); ++i) call(i % copies);  // warm-up (tunes the GEMM)
  cudaEvent_t start, stop;
  FORESIGHT_CUDA_CHECK(cudaEventCreate(&start));
  FORESIGHT_CUDA_CHECK(cudaEventCreate(&stop));
  FORESIGHT_CUDA_CHECK(cudaEventRecord(start));
  for (int i = 0; i < calls; ++i) call(i % copies);
  FORESIGHT_CUDA_CHECK(cudaEventRecord(stop));
  FORESIGHT_CUDA_CHECK(cudaEventSynchronize(stop));
  float ms = 0;
  FORESIGHT_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  FORESIGHT_CUDA_CHECK(cudaEventDestroy(start));
  FORESIGHT_CUDA_CHECK(cudaEventDestroy(stop));
  return 1000.0 * ms / calls;
}

struct LinearResult {
  std::string shape, variant, fusion;
  int rows, in, out;
  double per_call_us, chain_us, bytes;
};

std::vector<LinearResult> bench_linear(const std::vector<std::unique_ptr<LinearBuffers>>& bufs,
                                       const std::vector<int>& rows_list, int samples, GemmHandle& gemm) {
  std::vector<LinearResult> out;
  std::printf("\nfused linear: per call (median, events between calls) and chain (mean of back-to-back calls)\n");
  std::printf("%-8s %-11s %4s | %-17s | %9s %5s | %9s %5s\n", "shape", "fusion", "rows", "variant", "call us",
              "roof", "chain us", "roof");
  for (int rows : rows_list) {
    for (const auto& b : bufs) {
      for (const LinearVariant& v : kLinearVariants) {
        auto call = [&](int c) { linear_cuda(gemm, b->params(rows, c), nullptr, v.launch); };
        if (v.launch.path == LinearPath::kFused && !linear_fused_supported(b->params(rows, 0))) {
          std::printf("%-8s %-11s %4d | %-17s | not supported by the fused kernel\n", b->op.name, b->op.fusion,
                      rows, v.name);
          continue;
        }
        const double per_call = median_us(call, b->copies, samples);
        const double chain = chain_us(call, b->copies, samples * 4);
        const double bytes = b->bytes(rows);
        auto roof = [&](double us) { return 100 * gbps(bytes, us) * 1e9 / kHbmBytesPerS; };
        std::printf("%-8s %-11s %4d | %-17s | %9.2f %4.0f%% | %9.2f %4.0f%%\n", b->op.name, b->op.fusion, rows,
                    v.name, per_call, roof(per_call), chain, roof(chain));
        std::fflush(stdout);
        out.push_back({b->op.name, v.name, b->op.fusion, rows, b->op.in, b->op.out, per_call, chain, bytes});
      }
    }
    FORESIGHT_CUDA_CHECK(cudaDeviceSynchronize());
  }
  return out;
}

// One decode step without attention, as one chain: per layer qkvf (norm of h),
// o (attention output -> h += ...), gate+up (norm of h, swiglu), down
// (h += ...); then lm_head (final norm of h). Weights rotate per layer.
// Returns the mean step time in microseconds over `reps` steps.
double step_us(const std::vector<std::unique_ptr<LinearBuffers>>& bufs, int rows, LinearLaunch launch,
               GemmHandle& gemm, int reps) {
  const std::size_t n = kMaxRows;
  Copies h(n * 4096, 1, 1.f, 7), xn(n * 4096, 1, 0.f, 0), qkvf(n * 4864, 1, 0.f, 0), attn(n * 4096, 1, 1.f, 8),
      act(n * 16384, 1, 0.f, 0), logits(n * 73448, 1, 0.f, 0);
  auto step = [&] {
    for (int l = 0; l < kLayers; ++l) {
      auto run = [&](int op, const bf16* x, bf16* y) {
        const LinearBuffers& b = *bufs[op];
        linear_cuda(gemm, b.params(rows, l % b.copies, x, y, xn.at(0)), nullptr, launch);
      };
      run(kQkvf, h.at(0), qkvf.at(0));
      run(kO, attn.at(0), h.at(0));
      run(kGateUp, h.at(0), act.at(0));
      run(kDown, act.at(0), h.at(0));
    }
    const LinearBuffers& b = *bufs[kLmHead];
    linear_cuda(gemm, b.params(rows, 0, h.at(0), logits.at(0), xn.at(0)), nullptr, launch);
  };
  return chain_us([&](int) { step(); }, 1, reps);
}

struct StepResult {
  int rows;
  std::string variant;
  double us;
};

bool write_csv(const std::string& path, const std::vector<Result>& results, const std::vector<LinearResult>& linear,
               const std::vector<StepResult>& steps) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return false;
  std::fprintf(f, "shape,rows,in,out,variant,us,gbps,roof_pct,choice\n");
  for (const LinearResult& r : linear) {
    for (int chain = 0; chain < 2; ++chain) {
      const double us = chain ? r.chain_us : r.per_call_us;
      std::fprintf(f, "%s,%d,%d,%d,%s%s,%.3f,%.1f,%.1f,\"%s\"\n", r.shape.c_str(), r.rows, r.in, r.out,
                   r.variant.c_str(), chain ? "_chain" : "", us, gbps(r.bytes, us),
                   100 * gbps(r.bytes, us) * 1e9 / kHbmBytesPerS, r.fusion.c_str());
    }
  }
  for (const StepResult& r : steps) {
    std::fprintf(f, "step,%d,0,0,%s_step,%.3f,,,\"32 layers + lm_head as one chain\"\n", r.rows,
                 r.variant.c_str(), r.us);
  }
  for (const Result& r : results) {
    for (int v = 0; v < 2; ++v) {
      const double us = v == 0 ? r.default_us : r.tuned_us;
      std::string choice = v == 0 ? "cublasGemmEx default" : r.choice;
      std::replace(choice.begin(), choice.end(), ',', ';');
      std::fprintf(f, "%s,%d,%d,%d,%s,%.3f,%.1f,%.1f,\"%s\"\n", r.shape.c_str(), r.rows, r.in, r.out,
                   v == 0 ? "gemmex_default" : "tuned", us, gbps(r.bytes, us),
                   100 * gbps(r.bytes, us) * 1e9 / kHbmBytesPerS, choice.c_str());
    }
  }
  return std::fclose(f) == 0;
}
}  // namespace

int main(int argc, char** argv) {
  std::string csv;
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--csv") == 0 && i + 1 < argc) {
      csv = argv[++i];
    } else if (std::strcmp(argv[i], "--quick") == 0) {
      quick = true;
    } else {
      std::printf(
          "Usage: bench_gemm_skinny [--csv PATH] [--quick]\n"
          "  --csv PATH  also write the results as CSV to PATH (default: none)\n"
          "  --quick     GEMM rows 1 and 64, linear rows 1 and 4, 20 timed calls per variant, 3 timed steps\n"
          "              (default: GEMM rows 1, 4, 16, 64; linear rows 1, 2, 4, 8; 50 calls; 10 steps)\n");
      return std::strcmp(argv[i], "--help") == 0 ? 0 : 2;
    }
  }
  testing::require_gpu_or_skip("bench_gemm_skinny");
  const std::vector<int> rows = quick ? std::vector<int>{1, 64} : std::vector<int>{1, 4, 16, 64};
  const std::vector<int> linear_rows = quick ? std::vector<int>{1, 4} : std::vector<int>{1, 2, 4, 8};
  const int samples = quick ? 20 : 50;
  std::vector<LinearResult> linear;
  std::vector<StepResult> steps;
  const std::vector<Shape> shapes = {{"qkvf", 4096, 4864}, {"o", 4096, 4096}, {"gate+up", 4096, 32768},
                                     {"down", 16384, 4096}, {"lm_head", 4096, 73448}};
  std::vector<Result> results;
  try {
    cudaDeviceProp prop{};
    FORESIGHT_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    std::printf("device: %s; HBM ceiling %.1f TB/s; median of %d calls\n", prop.name, kHbmBytesPerS / 1e12, samples);
    std::printf("%-8s %5s %6s %6s | %9s %7s %6s | %9s %7s %6s | %6s | %s\n", "shape", "rows", "in", "out",
                "GemmEx us", "GB/s", "roof", "tuned us", "GB/s", "roof", "speed", "tuned choice");
    GemmHandle plain(std::size_t{32} << 20, GemmTuning::kOff), tuned(std::size_t{32} << 20, GemmTuning::kOn);
    for (const Shape& s : shapes) {
      for (Result& r : bench_shape(s, rows, samples, plain, tuned)) results.push_back(r);
    }
    std::vector<std::unique_ptr<LinearBuffers>> bufs;
    std::uint32_t seed = 1000;
    for (const LinearOp& op : kLinearOps) {
      const double w_bytes = 2.0 * op.in * op.out;
      const int copies = static_cast<int>(std::clamp(static_cast<double>(kRotateBytes) / w_bytes + 1, 3.0, 64.0));
      bufs.push_back(std::make_unique<LinearBuffers>(op, copies, seed += 16));
    }
    linear = bench_linear(bufs, linear_rows, samples, tuned);
    std::printf("\nper step (32 layers + lm_head), from the per-op numbers and measured as one chain:\n");
    for (int r : linear_rows) {
      for (const LinearVariant& v : kLinearVariants) {
        double call = 0, chain = 0;
        for (const LinearResult& res : linear) {
          if (res.rows != r || res.variant != v.name) continue;
          const double n = res.shape == "lm_head" ? 1 : kLayers;
          call += n * res.per_call_us;
          chain += n * res.chain_us;
        }
        bool supported = true;
        for (const auto& b : bufs) supported = supported && linear_fused_supported(b->params(r, 0));
        const double step = v.launch.path == LinearPath::kFused && !supported
                                ? 0
                                : step_us(bufs, r, v.launch, tuned, quick ? 3 : 10);
        steps.push_back({r, v.name, step});
        std::printf("step rows %-3d %-17s: sum of per-call %.3f ms, sum of chain means %.3f ms, step chain %.3f ms\n",
                    r, v.name, call / 1000, chain / 1000, step / 1000);
      }
    }
  } catch (const std::exception& e) {
    std::printf("benchmark failed: %s\n", e.what());
    return 1;
  }
  for (int r : rows) {  // one decode step: 32 layers of the four projections, then the LM head
    double d = 0, t = 0;
    for (const Result& res : results) {
      if (res.rows != r) continue;
      const double n = res.shape == "lm_head" ? 1 : kLayers;
      d += n * res.default_us;
      t += n * res.tuned_us;
    }
    std::printf("step rows %-3d: GemmEx %.3f ms, tuned %.3f ms (%.2fx)\n", r, d / 1000, t / 1000, d / t);
  }
  if (!csv.empty() && !write_csv(csv, results, linear, steps)) {
    std::printf("cannot write CSV to %s\n", csv.c_str());
    return 1;
  }
  return 0;
}

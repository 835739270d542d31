// Skinny projection GEMMs of MiniCPM4.1-8B decode (y[rows, out] = x[rows, in]
// W^T, bf16, fp32 accumulate): cublasGemmEx(CUBLAS_GEMM_DEFAULT) against the
// per-shape tuned choice of gemm_cuda (GemmTuning::kOn), for rows 1, 4, 16, 64.
// Timing: after warm-up (which also tunes), `samples` back-to-back calls with
// a CUDA event between consecutive calls; the median per-call time is
// reported. Weights rotate over >= 3 copies totalling > 256 MiB, so each call
// reads W from HBM, not the 50 MiB L2. GB/s counts W + x + y bytes; "% roof"
// is that over 3.0 TB/s (the measured H100 HBM ceiling). The per-step lines
// add 32 x (qkvf + o + gate+up + down) + lm_head.
// Usage: bench_gemm_skinny [--csv PATH] [--quick]
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "foresight/kernels/cuda_check.hpp"
#include "foresight/kernels/gemm.hpp"
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

bool write_csv(const std::string& path, const std::vector<Result>& results) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return false;
  std::fprintf(f, "shape,rows,in,out,variant,us,gbps,roof_pct,choice\n");
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
          "  --quick     rows 1 and 64 only, 20 timed calls per variant (default: rows 1, 4, 16, 64; 50 calls)\n");
      return std::strcmp(argv[i], "--help") == 0 ? 0 : 2;
    }
  }
  testing::require_gpu_or_skip("bench_gemm_skinny");
  const std::vector<int> rows = quick ? std::vector<int>{1, 64} : std::vector<int>{1, 4, 16, 64};
  const int samples = quick ? 20 : 50;
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
  if (!csv.empty() && !write_csv(csv, results)) {
    std::printf("cannot write CSV to %s\n", csv.c_str());
    return 1;
  }
  return 0;
}

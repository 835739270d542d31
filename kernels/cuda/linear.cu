// Fused decode projection (see foresight/kernels/linear.hpp for why this is a
// hand-written kernel and not cuBLAS). Memory-bound GEMV design:
// - one warp owns one output feature at a time (two adjacent ones from 4 rows
//   up; with swiglu the pair i, inter + i, so the epilogue needs no other
//   warp); lanes read consecutive 16-byte chunks of the weight rows
//   (coalesced, L1 bypassed), kLoadsInFlight loads per lane (half from 5 rows
//   up) issued before any is used;
// - x (or the normalized xn) is staged once per CTA in shared memory as bf16
//   [rows, in] (read from L2 instead when it does not fit);
// - fp32 register accumulators per row (ROWS is a template, 1..8), reduced
//   with warp shuffles;
// - the grid is one wave (resident CTAs on all SMs), warps stride over the
//   features, so every SM streams weights;
// - optional programmatic dependent launch: the first weight loads are issued
//   before griddepcontrol.wait, x is read only after it. Everything the
//   previous kernel may have written (x, y with accumulate) is read with
//   ld.global.cg (L2, never a possibly stale L1 line): with PDL this kernel's
//   CTAs start while the previous kernel still runs. W (read-only) streams
//   through ld.global.nc.L1::no_allocate.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <tuple>

#include "dense_cuda_util.cuh"
#include "foresight/kernels/cuda_check.hpp"
#include "foresight/kernels/linear.hpp"
#include "foresight/kernels/param_check.hpp"
#include "foresight/kernels/switches.hpp"
#include "foresight/kernels/rmsnorm.hpp"
#include "foresight/kernels/swiglu.hpp"

namespace foresight::kernels {
namespace {
using namespace cuda_detail;

constexpr int kThreads = 256;  // also rmsnorm_cuda's block size: the norm prologue repeats its sum order
constexpr int kWarps = kThreads / 32;
constexpr int kLoadsInFlight = 16;               // 16-byte weight loads per lane before the first use
constexpr int kMaxSmemXBytes = 128 << 10;        // staged x (above 64 KiB: 1 CTA per SM)
constexpr int kNormCachedChunks = 4;             // rmsnorm_cuda's cached kernel: 4 chunks per thread
constexpr int kNormMaxIn = kThreads * kNormCachedChunks * 8;

// Weight rows per warp task: with SWIGLU the pair (i, inter + i); without, 2
// adjacent features from 4 rows up (each x chunk read from shared memory and
// converted then serves two weight chunks), else 1 (finer work split).
__host__ __device__ constexpr int feats_for(int rows, bool swiglu) { return swiglu || rows >= 4 ? 2 : 1; }

// volatile: stays before griddepcontrol.wait (the point of PDL); W is read-only.
__device__ __forceinline__ uint4 load_weights(const uint4* ptr) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(ptr));
  return v;
}

__device__ __forceinline__ void unpack8(const uint4& v, float (&f)[8]) {
  const unsigned u[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    f[2 * i] = __uint_as_float(u[i] << 16);
    f[2 * i + 1] = __uint_as_float(u[i] & 0xffff0000u);
  }
}

// Programmatic dependent launch (sm_90): wait for the previous kernel's
// results / let the next kernel start. No-ops when not launched with PDL.
__device__ __forceinline__ void grid_dependency_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
__device__ __forceinline__ void allow_dependents() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// Stages xn = rmsnorm(x) into xs [ROWS, chunks] exactly as rmsnorm_cuda's
// cached kernel computes it (same thread-to-chunk map, same sum order); CTA 0
// also writes it to norm_out.
template <int ROWS>
__device__ void stage_normalized(const LinearParams& p, uint4* xs, int chunks) {
  const Vec8* wn = reinterpret_cast<const Vec8*>(p.norm_weight);
  for (int r = 0; r < ROWS; ++r) {
    const uint4* x = reinterpret_cast<const uint4*>(p.x + std::int64_t{r} * p.in);
    float f[kNormCachedChunks][8];
    float sum_sq = 0.f;
#pragma unroll
    for (int k = 0; k < kNormCachedChunks; ++k) {
      const int c = threadIdx.x + k * kThreads;
      if (c < chunks) {
        unpack8(__ldcg(x + c), f[k]);  // the same values as rmsnorm_cuda's unpack
#pragma unroll
        for (int i = 0; i < 8; ++i) sum_sq += f[k][i] * f[k][i];
      }
    }
    const float inv_rms = rsqrtf(block_sum(sum_sq) / static_cast<float>(p.in) + p.eps);
#pragma unroll
    for (int k = 0; k < kNormCachedChunks; ++k) {
      const int c = threadIdx.x + k * kThreads;
      if (c < chunks) {
        float wv[8];
        unpack(wn[c], wv);
#pragma unroll
        for (int i = 0; i < 8; ++i) f[k][i] = f[k][i] * inv_rms * wv[i];
        const Vec8 v = pack(f[k]);
        reinterpret_cast<Vec8*>(xs)[r * chunks + c] = v;
        if (blockIdx.x == 0) reinterpret_cast<Vec8*>(p.norm_out + std::int64_t{r} * p.in)[c] = v;
      }
    }
  }
}

// acc[r][f] += dot(weight chunk f, x chunk c of row r).
template <int ROWS, int FEATS, bool XSMEM>
__device__ __forceinline__ void fma_chunk(float (&acc)[ROWS][FEATS], const uint4 (&wv)[FEATS], const uint4* xsrc,
                                          int chunks, int c) {
  float wf[FEATS][8];
#pragma unroll
  for (int f = 0; f < FEATS; ++f) unpack8(wv[f], wf[f]);
#pragma unroll
  for (int r = 0; r < ROWS; ++r) {
    const uint4 xv = XSMEM ? xsrc[r * chunks + c] : __ldcg(xsrc + r * chunks + c);
    float xf[8];
    unpack8(xv, xf);
#pragma unroll
    for (int f = 0; f < FEATS; ++f) {
#pragma unroll
      for (int e = 0; e < 8; ++e) acc[r][f] = fmaf(wf[f][e], xf[e], acc[r][f]);
    }
  }
}

// grid: one wave of CTAs; warp w of CTA b handles groups b * kWarps + w,
// + gridDim.x * kWarps, ...; a group is FEATS adjacent output features
// (the last group may hang over `out`: its extra row is read, not written), or
// with SWIGLU the pair (i, inter + i).
template <int ROWS, bool NORM, bool SWIGLU, bool XSMEM>
__global__ void __launch_bounds__(kThreads, 2) linear_fused_kernel(LinearParams p, int groups) {
  constexpr int FEATS = feats_for(ROWS, SWIGLU);
  // chunks per lane and weight row in one batch (halved above 4 rows: registers)
  constexpr int U = (ROWS > 4 ? kLoadsInFlight / 2 : kLoadsInFlight) / FEATS;
  extern __shared__ uint4 xs[];              // [ROWS, chunks] when XSMEM
  const int lane = threadIdx.x % 32;
  const int chunks = p.in / 8;
  const int full_batches = chunks / (U * 32);
  const int inter = p.out / 2;
  const uint4* w = reinterpret_cast<const uint4*>(p.w);
  auto weight_row = [&](int g, int f) {
    const int row = SWIGLU ? g + f * inter : min(g * FEATS + f, p.out - 1);
    return w + std::int64_t{row} * chunks;
  };

  int g = blockIdx.x * kWarps + threadIdx.x / 32;
  const int g_stride = gridDim.x * kWarps;
  uint4 wb[U][FEATS];
  bool preloaded = false;
  if (g < groups && full_batches > 0) {  // weights do not depend on the previous kernel
#pragma unroll
    for (int u = 0; u < U; ++u) {
#pragma unroll
      for (int f = 0; f < FEATS; ++f) wb[u][f] = load_weights(weight_row(g, f) + u * 32 + lane);
    }
    preloaded = true;
  }
  grid_dependency_wait();
  allow_dependents();
  const uint4* xglobal = reinterpret_cast<const uint4*>(p.x);
  if constexpr (XSMEM) {
    if constexpr (NORM) {
      stage_normalized<ROWS>(p, xs, chunks);
    } else {
      for (int i = threadIdx.x; i < ROWS * chunks; i += kThreads) xs[i] = __ldcg(xglobal + i);
    }
    __syncthreads();
  }
  const uint4* xsrc = XSMEM ? xs : xglobal;

  for (; g < groups; g += g_stride) {
    float acc[ROWS][FEATS];
#pragma unroll
    for (int r = 0; r < ROWS; ++r) {
#pragma unroll
      for (int f = 0; f < FEATS; ++f) acc[r][f] = 0.f;
    }
    for (int b = 0; b < full_batches; ++b) {
      const int base = b * U * 32 + lane;
      if (!preloaded) {
#pragma unroll
        for (int u = 0; u < U; ++u) {
#pragma unroll
          for (int f = 0; f < FEATS; ++f) wb[u][f] = load_weights(weight_row(g, f) + base + u * 32);
        }
      }
      preloaded = false;
#pragma unroll
      for (int u = 0; u < U; ++u) fma_chunk<ROWS, FEATS, XSMEM>(acc, wb[u], xsrc, chunks, base + u * 32);
    }
    for (int c = full_batches * U * 32 + lane; c < chunks; c += 32) {  // tail: one chunk at a time
      uint4 wv[FEATS];
#pragma unroll
      for (int f = 0; f < FEATS; ++f) wv[f] = load_weights(weight_row(g, f) + c);
      fma_chunk<ROWS, FEATS, XSMEM>(acc, wv, xsrc, chunks, c);
    }
#pragma unroll
    for (int r = 0; r < ROWS; ++r) {
#pragma unroll
      for (int f = 0; f < FEATS; ++f) acc[r][f] = warp_sum(acc[r][f]);
      if (lane != r) continue;  // lane r writes row r
      if constexpr (SWIGLU) {
        const float gate = to_f(to_bf(acc[r][0])), up = to_f(to_bf(acc[r][1]));  // the GEMM output's rounding
        p.y[std::int64_t{r} * inter + g] = to_bf(gate / (1.f + __expf(-gate)) * up);  // swiglu_cuda's formula
      } else {
#pragma unroll
        for (int f = 0; f < FEATS; ++f) {
          const int feature = g * FEATS + f;
          if (feature >= p.out) break;
          bf16& y = p.y[std::int64_t{r} * p.out + feature];
          const float old = p.accumulate ? to_f(bf16{__ldcg(&y.bits)}) : 0.f;
          y = to_bf(p.accumulate ? acc[r][f] + old : acc[r][f]);
        }
      }
    }
  }
}

bool env_flag(const char* name) {
  const auto v = kernel_switch(name);
  if (!v || *v == "1") return true;
  if (*v == "0") return false;
  throw std::invalid_argument(std::string(name) + " must be 0 or 1, got '" + *v + "'");
}

bool x_fits_smem(const LinearParams& p) { return std::int64_t{p.rows} * p.in * 2 <= kMaxSmemXBytes; }

using KernelFn = void (*)(LinearParams, int);

// Resident CTAs of `fn` on the whole device (SMs x CTAs per SM), cached.
int resident_ctas(KernelFn fn, int smem_bytes) {
  static std::mutex mu;
  static std::map<std::tuple<const void*, int, int>, int> cache;
  int device = 0;
  FORESIGHT_CUDA_CHECK(cudaGetDevice(&device));
  const std::lock_guard<std::mutex> lock(mu);
  const auto key = std::make_tuple(reinterpret_cast<const void*>(fn), smem_bytes, device);
  if (auto it = cache.find(key); it != cache.end()) return it->second;
  FORESIGHT_CUDA_CHECK(cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, kMaxSmemXBytes));
  int sms = 0, per_sm = 0;
  FORESIGHT_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  FORESIGHT_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, fn, kThreads, smem_bytes));
  const int n = sms * (per_sm > 0 ? per_sm : 1);
  cache.emplace(key, n);
  return n;
}

template <bool NORM, bool SWIGLU, bool XSMEM>
KernelFn pick_kernel(int rows) {
  switch (rows) {
    case 1: return linear_fused_kernel<1, NORM, SWIGLU, XSMEM>;
    case 2: return linear_fused_kernel<2, NORM, SWIGLU, XSMEM>;
    case 3: return linear_fused_kernel<3, NORM, SWIGLU, XSMEM>;
    case 4: return linear_fused_kernel<4, NORM, SWIGLU, XSMEM>;
    case 5: return linear_fused_kernel<5, NORM, SWIGLU, XSMEM>;
    case 6: return linear_fused_kernel<6, NORM, SWIGLU, XSMEM>;
    case 7: return linear_fused_kernel<7, NORM, SWIGLU, XSMEM>;
    default: return linear_fused_kernel<8, NORM, SWIGLU, XSMEM>;
  }
}

KernelFn kernel_for(const LinearParams& p) {
  const bool norm = p.norm_weight != nullptr;
  if (!x_fits_smem(p)) return pick_kernel<false, false, false>(p.rows);  // plain only (linear_fused_supported)
  if (norm && p.swiglu) return pick_kernel<true, true, true>(p.rows);
  if (norm) return pick_kernel<true, false, true>(p.rows);
  if (p.swiglu) return pick_kernel<false, true, true>(p.rows);
  return pick_kernel<false, false, true>(p.rows);
}

void launch_fused(const LinearParams& p, cudaStream_t stream, bool pdl) {
  const KernelFn fn = kernel_for(p);
  const int smem = x_fits_smem(p) ? p.rows * p.in * 2 : 0;
  const int feats = feats_for(p.rows, p.swiglu);
  const int groups = p.swiglu ? p.out / 2 : (p.out + feats - 1) / feats;
  const int grid = std::max(1, std::min((groups + kWarps - 1) / kWarps, resident_ctas(fn, smem)));
  if (!pdl) {
    fn<<<grid, kThreads, smem, stream>>>(p, groups);
    FORESIGHT_CUDA_CHECK_LAUNCH();
    return;
  }
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = dim3(static_cast<unsigned>(grid));
  cfg.blockDim = dim3(kThreads);
  cfg.dynamicSmemBytes = static_cast<std::size_t>(smem);
  cfg.stream = stream;
  cudaLaunchAttribute attr{};
  attr.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr.val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = &attr;
  cfg.numAttrs = 1;
  FORESIGHT_CUDA_CHECK(cudaLaunchKernelEx(&cfg, fn, p, groups));
}

void launch_unfused(GemmHandle& gemm, const LinearParams& p, cudaStream_t stream) {
  const bf16* xn = p.x;
  if (p.norm_weight) {
    rmsnorm_cuda({p.x, p.norm_weight, p.norm_out, p.rows, p.in, 0, 0, p.eps}, stream);
    xn = p.norm_out;
  }
  GemmParams g{xn, p.w, p.swiglu ? p.swiglu_scratch : p.y, p.rows, p.in, p.out};
  g.accumulate = p.accumulate;
  gemm_cuda(gemm, g, stream);
  if (p.swiglu) swiglu_cuda({p.swiglu_scratch, p.y, p.rows, p.out / 2}, stream);
}
}  // namespace

bool linear_fused_enabled() { return env_flag("FORESIGHT_LINEAR_FUSED"); }
bool linear_pdl_enabled() { return env_flag("FORESIGHT_LINEAR_PDL"); }

bool linear_fused_preferred(const LinearParams& p) {
  return linear_fused_supported(p) && p.rows <= 2;
}

bool linear_fused_supported(const LinearParams& p) {
  if (p.rows < 1 || p.rows > kLinearFusedMaxRows || p.in <= 0 || p.out <= 0 || p.in % 8 != 0) return false;
  if (!aligned16(p.x) || !aligned16(p.w)) return false;
  const bool staged = x_fits_smem(p);
  if (p.norm_weight) {
    if (!staged || p.in > kNormMaxIn || !aligned16(p.norm_weight) || !aligned16(p.norm_out)) return false;
  }
  return !p.swiglu || staged;
}

void linear_cuda(GemmHandle& gemm, const LinearParams& p, cudaStream_t stream, LinearLaunch launch) {
  validate_linear(p);
  if (p.rows == 0) return;
  bool fused = false;
  switch (launch.path) {
    case LinearPath::kAuto: fused = linear_fused_enabled() && linear_fused_preferred(p); break;
    case LinearPath::kFused:
      require_param(linear_fused_supported(p), "linear", "rows/in/alignment",
                    "not supported by the fused kernel (see linear_fused_supported)");
      fused = true;
      break;
    case LinearPath::kUnfused: break;
  }
  if (!fused) return launch_unfused(gemm, p, stream);
  launch_fused(p, stream, launch.pdl < 0 ? linear_pdl_enabled() : launch.pdl != 0);
}

void linear_cuda(GemmHandle& gemm, const LinearParams& p, cudaStream_t stream) {
  linear_cuda(gemm, p, stream, LinearLaunch{});
}

}  // namespace foresight::kernels

// Per-shape choice between cublasGemmEx(DEFAULT) and the cuBLASLt heuristic's
// candidates, by timing them on the caller's stream (see gemm.hpp).
#include <algorithm>
#include <cstdio>
#include <cstring>

#include "foresight/kernels/cuda_check.hpp"
#include "gemm_tune.cuh"

namespace foresight::kernels::gemm_detail {
namespace {
constexpr int kMaxCandidates = 16;
constexpr int kTimedCalls = 7;                 // per candidate, after one validating call
constexpr float kMaxDiffOfMaxAbs = 1.f / 32;   // allowed max |got - ref| over max |ref|
constexpr std::size_t kAlign = 256;

// stats[0]: max |got - ref| (float bits), stats[1]: max |ref| (float bits),
// stats[2]: elements where got is not finite and ref is, or ref is not finite
// and got differs. got, ref: [rows, out], rows ld elements apart.
__global__ void compare_outputs(const bf16* got, const bf16* ref, int rows, int out, std::int64_t ld,
                                unsigned* stats) {
  float diff = 0.f, mag = 0.f;
  unsigned bad = 0;
  const std::int64_t n = std::int64_t{rows} * out;
  for (std::int64_t i = blockIdx.x * std::int64_t{blockDim.x} + threadIdx.x; i < n;
       i += std::int64_t{gridDim.x} * blockDim.x) {
    const std::int64_t at = (i / out) * ld + i % out;
    const float g = bf16_to_float(got[at]), r = bf16_to_float(ref[at]);
    if (!isfinite(r)) {
      bad += (isnan(r) ? isnan(g) : g == r) ? 0u : 1u;
    } else if (!isfinite(g)) {
      ++bad;
    } else {
      diff = fmaxf(diff, fabsf(g - r));
      mag = fmaxf(mag, fabsf(r));
    }
  }
  atomicMax(&stats[0], __float_as_uint(diff));  // non-negative floats order like their bits
  atomicMax(&stats[1], __float_as_uint(mag));
  if (bad) atomicAdd(&stats[2], bad);
}

std::size_t round_up(std::size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// Elements from y's first to last element: [rows, out] with ld ldy.
std::size_t span_elems(const GemmParams& p) { return std::size_t(p.rows - 1) * p.ldy + p.out; }

// cudaMalloc; nullptr (error cleared) when the device is out of memory.
void* try_malloc(std::size_t bytes) {
  void* ptr = nullptr;
  const cudaError_t err = cudaMalloc(&ptr, bytes);
  if (err == cudaErrorMemoryAllocation) {
    (void)cudaGetLastError();
    return nullptr;
  }
  FORESIGHT_CUDA_CHECK(err);
  return ptr;
}
struct DeviceFree {
  void operator()(void* p) const noexcept { cudaFree(p); }
};

// Lets this thread synchronize while some other stream may be capturing;
// restores the previous mode on scope exit.
class RelaxedCaptureMode {
 public:
  RelaxedCaptureMode() { FORESIGHT_CUDA_CHECK(cudaThreadExchangeStreamCaptureMode(&saved_)); }
  ~RelaxedCaptureMode() { cudaThreadExchangeStreamCaptureMode(&saved_); }
  RelaxedCaptureMode(const RelaxedCaptureMode&) = delete;
  RelaxedCaptureMode& operator=(const RelaxedCaptureMode&) = delete;

 private:
  cudaStreamCaptureMode saved_ = cudaStreamCaptureModeRelaxed;
};

LayoutPtr make_layout(int rows, int cols, std::int64_t ld) {
  cublasLtMatrixLayout_t l = nullptr;
  FORESIGHT_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&l, CUDA_R_16BF, static_cast<std::uint64_t>(rows),
                                                    static_cast<std::uint64_t>(cols), ld));
  return LayoutPtr(l);
}

template <class T>
T algo_attr(const cublasLtMatmulAlgo_t& algo, cublasLtMatmulAlgoConfigAttributes_t attr) {
  T v{};
  std::size_t written = 0;
  FORESIGHT_CUBLAS_CHECK(cublasLtMatmulAlgoConfigGetAttribute(&algo, attr, &v, sizeof v, &written));
  return v;
}

// Named wrapper: nvcc's front end crashes destroying a std::vector of the
// anonymous struct cublasLtMatmulAlgo_t.
struct Candidate {
  cublasLtMatmulAlgo_t algo;
};

struct PreferenceDeleter {
  void operator()(cublasLtMatmulPreference_t p) const noexcept { cublasLtMatmulPreferenceDestroy(p); }
};

// Heuristic candidates that fit the workspace and whose split-K (if any)
// reduces in fp32 (CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE): the in-place and
// output-type schemes add partial sums in bf16, which would change results
// beyond fp32 reordering.
std::vector<Candidate> heuristic(HandleState& h, const Choice& c, const GemmParams& p) {
  cublasLtMatmulPreference_t raw = nullptr;
  FORESIGHT_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&raw));
  std::unique_ptr<std::remove_pointer_t<cublasLtMatmulPreference_t>, PreferenceDeleter> pref(raw);
  const std::uint64_t ws = h.workspace_bytes;
  FORESIGHT_CUBLAS_CHECK(
      cublasLtMatmulPreferenceSetAttribute(raw, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
  const std::uint32_t align_a = alignment_bytes(p.w, p.ldw), align_b = alignment_bytes(p.x, p.ldx),
                      align_c = alignment_bytes(p.y, p.ldy);
  FORESIGHT_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(raw, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                                                              &align_a, sizeof align_a));
  FORESIGHT_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(raw, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                                                              &align_b, sizeof align_b));
  FORESIGHT_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(raw, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                                                              &align_c, sizeof align_c));
  FORESIGHT_CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(raw, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
                                                              &align_c, sizeof align_c));
  cublasLtMatmulHeuristicResult_t results[kMaxCandidates] = {};
  int n = 0;
  const cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(h.lt, h.desc, c.a.get(), c.b.get(), c.c.get(),
                                                           c.c.get(), raw, kMaxCandidates, results, &n);
  if (st == CUBLAS_STATUS_NOT_SUPPORTED) return {};  // no algorithm for this shape/alignment
  FORESIGHT_CUBLAS_CHECK(st);
  std::vector<Candidate> out;
  for (int i = 0; i < std::min(n, kMaxCandidates); ++i) {
    if (results[i].state != CUBLAS_STATUS_SUCCESS || results[i].workspaceSize > h.workspace_bytes) continue;
    const auto scheme = algo_attr<std::uint32_t>(results[i].algo, CUBLASLT_ALGO_CONFIG_REDUCTION_SCHEME);
    const auto splitk = algo_attr<std::int32_t>(results[i].algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM);
    if (splitk > 1 && scheme != CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE) continue;
    out.push_back(Candidate{results[i].algo});
  }
  return out;
}

cublasStatus_t run_lt(HandleState& h, const Choice& c, const cublasLtMatmulAlgo_t& algo, const GemmParams& p,
                      bf16* y, cudaStream_t stream) {
  const float alpha = 1.f, beta = p.accumulate ? 1.f : 0.f;
  return cublasLtMatmul(h.lt, h.desc, &alpha, p.w, c.a.get(), p.x, c.b.get(), &beta, y, c.c.get(), y, c.c.get(),
                        &algo, h.workspace, h.workspace_bytes, stream);
}

// Median microseconds of one launch() over kTimedCalls calls, each after an
// L2 flush (a memset of `flush`, untimed) when flush is set.
template <class Launch>
double median_us(HandleState& h, cudaStream_t stream, void* flush, std::size_t flush_bytes, Launch launch) {
  for (int i = 0; i < kTimedCalls; ++i) {
    if (flush) FORESIGHT_CUDA_CHECK(cudaMemsetAsync(flush, i & 0xFF, flush_bytes, stream));
    FORESIGHT_CUDA_CHECK(cudaEventRecord(h.events[2 * i], stream));
    FORESIGHT_CUBLAS_CHECK(launch());
    FORESIGHT_CUDA_CHECK(cudaEventRecord(h.events[2 * i + 1], stream));
  }
  FORESIGHT_CUDA_CHECK(cudaEventSynchronize(h.events[2 * kTimedCalls - 1]));
  std::vector<double> us(kTimedCalls);
  for (int i = 0; i < kTimedCalls; ++i) {
    float ms = 0.f;
    FORESIGHT_CUDA_CHECK(cudaEventElapsedTime(&ms, h.events[2 * i], h.events[2 * i + 1]));
    us[i] = 1000.0 * ms;
  }
  std::sort(us.begin(), us.end());
  return us[kTimedCalls / 2];
}

// True when got matches ref up to fp32 reordering (see compare_outputs).
bool same_result(const bf16* got, const bf16* ref, unsigned* stats, const GemmParams& p, cudaStream_t stream) {
  FORESIGHT_CUDA_CHECK(cudaMemsetAsync(stats, 0, 4 * sizeof(unsigned), stream));
  const std::int64_t n = std::int64_t{p.rows} * p.out;
  const int blocks = static_cast<int>(std::min<std::int64_t>((n + 255) / 256, 1024));
  compare_outputs<<<blocks, 256, 0, stream>>>(got, ref, p.rows, p.out, p.ldy, stats);
  FORESIGHT_CUDA_CHECK_LAUNCH();
  unsigned host[4] = {};
  FORESIGHT_CUDA_CHECK(cudaMemcpyAsync(host, stats, sizeof host, cudaMemcpyDeviceToHost, stream));
  FORESIGHT_CUDA_CHECK(cudaStreamSynchronize(stream));
  float diff = 0.f, mag = 0.f;
  std::memcpy(&diff, &host[0], sizeof diff);
  std::memcpy(&mag, &host[1], sizeof mag);
  return host[2] == 0 && diff <= kMaxDiffOfMaxAbs * mag;
}

std::string describe(const GemmChoiceInfo& i) {
  char buf[256];
  if (i.lt) {
    std::snprintf(buf, sizeof buf, "cublasLt algo %d tile %d splitK %d stages %d: %.1f us vs GemmEx %.1f us",
                  i.algo_id, i.tile_id, i.splitk, i.stages_id, i.chosen_us, i.default_us);
  } else {
    std::snprintf(buf, sizeof buf, "cublasGemmEx default: %.1f us", i.default_us);
  }
  return std::string(buf) + " (" + std::to_string(i.candidates) + " timed, " + std::to_string(i.rejected) +
         " rejected)";
}
}  // namespace

HandleState::~HandleState() {
  cache.clear();  // layouts before the handles (independent objects, but tidy)
  for (cudaEvent_t e : events) cudaEventDestroy(e);
  if (workspace) cudaFree(workspace);
  if (desc) cublasLtMatmulDescDestroy(desc);
  if (lt) cublasLtDestroy(lt);
  if (blas) cublasDestroy(blas);
}

cublasStatus_t run_gemmex(HandleState& h, const GemmParams& p, bf16* y, cudaStream_t stream) {
  cublasStatus_t st = cublasSetStream(h.blas, stream);
  if (st != CUBLAS_STATUS_SUCCESS) return st;
  st = cublasSetWorkspace(h.blas, h.workspace, h.workspace_bytes);
  if (st != CUBLAS_STATUS_SUCCESS) return st;
  const float alpha = 1.f, beta = p.accumulate ? 1.f : 0.f;
  return cublasGemmEx(h.blas, CUBLAS_OP_T, CUBLAS_OP_N, p.out, p.rows, p.in, &alpha, p.w, CUDA_R_16BF,
                      static_cast<int>(p.ldw), p.x, CUDA_R_16BF, static_cast<int>(p.ldx), &beta, y, CUDA_R_16BF,
                      static_cast<int>(p.ldy), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
}

cublasStatus_t run_choice(HandleState& h, const Choice& c, const GemmParams& p, bf16* y, cudaStream_t stream) {
  return c.lt ? run_lt(h, c, c.algo, p, y, stream) : run_gemmex(h, p, y, stream);
}

std::unique_ptr<Choice> untimed_choice(const GemmParams&, const std::string& why) {
  auto c = std::make_unique<Choice>();
  c->info.description = "cublasGemmEx default, untuned: " + why;
  return c;
}

std::unique_ptr<Choice> tune(HandleState& h, const GemmParams& p, cudaStream_t stream) {
  if (p.rows > kMaxTunedRows) return untimed_choice(p, "rows above " + std::to_string(kMaxTunedRows));
  RelaxedCaptureMode relaxed;
  auto choice = std::make_unique<Choice>();
  choice->a = make_layout(p.in, p.out, p.ldw);
  choice->b = make_layout(p.in, p.rows, p.ldx);
  choice->c = make_layout(p.out, p.rows, p.ldy);
  const std::vector<Candidate> candidates = heuristic(h, *choice, p);

  // Scratch, freed when tuning ends (the handle keeps no tuning memory):
  // [reference output][candidate output][4 result words], each 256-aligned.
  const std::size_t span = span_elems(p), out_bytes = round_up(span * sizeof(bf16));
  std::unique_ptr<void, DeviceFree> scratch(try_malloc(2 * out_bytes + kAlign));
  if (!scratch) return untimed_choice(p, "no device memory for the tuning scratch outputs");
  auto* base = static_cast<unsigned char*>(scratch.get());
  bf16* ref_y = reinterpret_cast<bf16*>(base);
  bf16* cand_y = reinterpret_cast<bf16*>(base + out_bytes);
  auto* stats = reinterpret_cast<unsigned*>(base + 2 * out_bytes);
  while (h.events.size() < std::size_t{2 * kTimedCalls}) {
    cudaEvent_t e = nullptr;
    FORESIGHT_CUDA_CHECK(cudaEventCreate(&e));
    h.events.push_back(e);
  }
  int device = 0, l2_bytes = 0;
  FORESIGHT_CUDA_CHECK(cudaGetDevice(&device));
  FORESIGHT_CUDA_CHECK(cudaDeviceGetAttribute(&l2_bytes, cudaDevAttrL2CacheSize, device));
  const std::size_t flush_bytes = 2 * static_cast<std::size_t>(std::max(l2_bytes, 0));
  std::unique_ptr<void, DeviceFree> flush(flush_bytes ? try_malloc(flush_bytes) : nullptr);

  // Candidate outputs start as y (accumulate) or NaN (so an algorithm that
  // skips elements, or reads C although beta is 0, is caught).
  auto prepare = [&](bf16* dst) {
    if (p.accumulate) {
      FORESIGHT_CUDA_CHECK(cudaMemcpyAsync(dst, p.y, span * sizeof(bf16), cudaMemcpyDeviceToDevice, stream));
    } else {
      FORESIGHT_CUDA_CHECK(cudaMemsetAsync(dst, 0xFF, span * sizeof(bf16), stream));
    }
  };
  if (p.accumulate) prepare(ref_y);  // beta 0 never reads C: the reference needs no fill otherwise
  FORESIGHT_CUBLAS_CHECK(run_gemmex(h, p, ref_y, stream));

  GemmChoiceInfo& info = choice->info;
  info.tuned = true;
  info.candidates = 1;
  info.default_us = median_us(h, stream, flush.get(), flush_bytes, [&] { return run_gemmex(h, p, cand_y, stream); });
  info.chosen_us = info.default_us;
  int best = -1;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    prepare(cand_y);
    const cublasStatus_t st = run_lt(h, *choice, candidates[i].algo, p, cand_y, stream);
    if (st == CUBLAS_STATUS_NOT_SUPPORTED || st == CUBLAS_STATUS_INVALID_VALUE) {
      ++info.rejected;
      continue;
    }
    FORESIGHT_CUBLAS_CHECK(st);
    if (!same_result(cand_y, ref_y, stats, p, stream)) {
      ++info.rejected;
      continue;
    }
    ++info.candidates;
    const double us = median_us(h, stream, flush.get(), flush_bytes,
                                [&] { return run_lt(h, *choice, candidates[i].algo, p, cand_y, stream); });
    if (us < info.chosen_us) {
      info.chosen_us = us;
      best = static_cast<int>(i);
    }
  }
  if (best >= 0) {
    choice->lt = true;
    choice->algo = candidates[best].algo;
    info.lt = true;
    info.algo_id = algo_attr<std::int32_t>(choice->algo, CUBLASLT_ALGO_CONFIG_ID);
    info.tile_id = static_cast<int>(algo_attr<std::uint32_t>(choice->algo, CUBLASLT_ALGO_CONFIG_TILE_ID));
    info.splitk = algo_attr<std::int32_t>(choice->algo, CUBLASLT_ALGO_CONFIG_SPLITK_NUM);
    info.stages_id = static_cast<int>(algo_attr<std::uint32_t>(choice->algo, CUBLASLT_ALGO_CONFIG_STAGES_ID));
  }
  info.description = describe(info);
  FORESIGHT_CUDA_CHECK(cudaStreamSynchronize(stream));  // scratch and flush idle before they are freed
  return choice;
}

}  // namespace foresight::kernels::gemm_detail

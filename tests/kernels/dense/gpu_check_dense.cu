// GPU check of the dense-path CUDA kernels against their CPU references over
// a grid of shapes (MiniCPM4.1-8B: hidden 4096, 32 q heads, 2 KV heads,
// head_dim 128, intermediate 16384, vocab 73448). GEMM and prefill attention
// shapes come from tests/support/kernel_cases.hpp, shared with
// bench_kernels_dense. Outputs are poisoned with NaN before each kernel.
// Prints one line per case and "N passed, M failed"; exits 77 without a GPU.
// --quick runs a small grid (for compute-sanitizer).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "foresight/kernels/argmax.hpp"
#include "foresight/kernels/embedding.hpp"
#include "foresight/kernels/gemm.hpp"
#include "foresight/kernels/key_compress.hpp"
#include "foresight/kernels/prefill_attention.hpp"
#include "foresight/kernels/residual_add.hpp"
#include "foresight/kernels/rmsnorm.hpp"
#include "foresight/kernels/rope.hpp"
#include "foresight/kernels/swiglu.hpp"
#include "gpu_check_util.cuh"
#include "gpu_present.hpp"
#include "kernel_cases.hpp"
#include "numeric.hpp"

using namespace foresight;
using namespace foresight::kernels;
using foresight::testing::DeviceBuffer;

namespace {
constexpr double kBf16Tol = 1e-2;  // rel L2 for bf16 outputs
std::uint64_t g_seed = 1;
std::uint64_t next_seed() { return g_seed++; }
std::string dims(std::initializer_list<long long> v) {
  std::string s;
  for (long long x : v) s += (s.empty() ? "" : "x") + std::to_string(x);
  return s;
}

void run_case(testing::Tally& t, const std::string& op, const std::string& shape,
              const std::function<double()>& body, double tol) {
  try {
    t.report(op, shape, body(), tol);
  } catch (const std::exception& e) {
    t.error(op, shape, e.what());
  }
}

double check_rmsnorm(int rows, int hidden, std::int64_t stride) {
  auto x = testing::random_bf16(rows * stride, next_seed(), -4, 4);
  auto w = testing::random_bf16(hidden, next_seed(), 0.5f, 1.5f);
  std::vector<bf16> ref(rows * stride);
  DeviceBuffer<bf16> dx(x), dw(w), dy(ref.size());
  dy.poison();
  rmsnorm_cpu({x.data(), w.data(), ref.data(), rows, hidden, stride, stride, 1e-5f});
  rmsnorm_cuda({dx.get(), dw.get(), dy.get(), rows, hidden, stride, stride, 1e-5f}, nullptr);
  auto out = dy.download();
  double num = 0, den = 0;  // compare only the [rows, hidden] part (padding stays NaN)
  for (int r = 0; r < rows; ++r) {
    for (int i = 0; i < hidden; ++i) {
      const double o = bf16_to_float(out[r * stride + i]), e = bf16_to_float(ref[r * stride + i]);
      if (std::isnan(o)) return INFINITY;
      num += (o - e) * (o - e);
      den += e * e;
    }
  }
  return std::sqrt(num / den);
}

double check_residual(std::int64_t n, bool in_place) {
  auto a = testing::random_bf16(n, next_seed()), b = testing::random_bf16(n, next_seed());
  std::vector<bf16> ref(n);
  residual_add_cpu({a.data(), b.data(), ref.data(), n});
  DeviceBuffer<bf16> da(a), db(b), dout(n);
  dout.poison();
  bf16* out = in_place ? da.get() : dout.get();
  residual_add_cuda({da.get(), db.get(), out, n}, nullptr);
  return testing::bit_mismatches(in_place ? da.download() : dout.download(), ref);
}

double check_embedding(int batch, int vocab, int hidden) {
  auto table = testing::random_bf16(std::size_t(vocab) * hidden, next_seed());
  std::vector<std::int32_t> ids(batch);
  for (int b = 0; b < batch; ++b) ids[b] = static_cast<std::int32_t>((b * 7919LL + 13) % vocab);
  ids[0] = vocab - 1;
  std::vector<bf16> ref(std::size_t(batch) * hidden);
  embedding_cpu({ids.data(), table.data(), ref.data(), batch, vocab, hidden});
  DeviceBuffer<std::int32_t> did(ids);
  DeviceBuffer<bf16> dt(table), dout(ref.size());
  dout.poison();
  embedding_cuda({did.get(), dt.get(), dout.get(), batch, vocab, hidden}, nullptr);
  return testing::bit_mismatches(dout.download(), ref);
}

// An id outside the vocab must poison its row (NaN) and leave the others right.
double check_embedding_bad_id() {
  const int vocab = 50, hidden = 64;
  auto table = testing::random_bf16(std::size_t(vocab) * hidden, next_seed());
  std::vector<std::int32_t> ids = {3, vocab, -1, 49};
  DeviceBuffer<std::int32_t> did(ids);
  DeviceBuffer<bf16> dt(table), dout(ids.size() * hidden);
  dout.poison();
  embedding_cuda({did.get(), dt.get(), dout.get(), 4, vocab, hidden}, nullptr);
  auto out = dout.download();
  double bad = 0;
  for (int b = 0; b < 4; ++b) {
    for (int i = 0; i < hidden; ++i) {
      const bf16 got = out[b * hidden + i];
      const bool ok = (b == 1 || b == 2) ? std::isnan(bf16_to_float(got))
                                         : got.bits == table[ids[b] * hidden + i].bits;
      bad += ok ? 0 : 1;
    }
  }
  return bad;
}

// q, k and f inside a fused [batch, (nh + 3 nkv) * d] projection output (q | k | v | f).
double check_rope(int batch, int nh, int nkv, int d, RopeFrequencies freq, bool with_f) {
  const std::int64_t row = std::int64_t(nh + 3 * nkv) * d;
  auto qkvf = testing::random_bf16(batch * row, next_seed());
  std::vector<std::int32_t> pos(batch);
  for (int b = 0; b < batch; ++b) pos[b] = static_cast<std::int32_t>((b * 104729LL) % 131072);
  auto inv = rope_inv_freq(freq, d);
  auto ref = qkvf;
  auto params = [&](bf16* base, const std::int32_t* p, const float* f) {
    RopeParams rp{base, base + std::int64_t(nh) * d, with_f ? base + std::int64_t(nh + 2 * nkv) * d : nullptr,
                  p, f, batch, nh, nkv, d, row, row, row};
    return rp;
  };
  rope_cpu(params(ref.data(), pos.data(), inv.data()));
  DeviceBuffer<bf16> dx(qkvf);
  DeviceBuffer<std::int32_t> dpos(pos);
  DeviceBuffer<float> dinv(inv);
  rope_cuda(params(dx.get(), dpos.get(), dinv.get()), nullptr);
  return testing::rel_l2_error(dx.download(), ref);
}

double check_swiglu(int rows, int inter) {
  auto gu = testing::random_bf16(std::size_t(rows) * 2 * inter, next_seed(), -6, 6);
  std::vector<bf16> ref(std::size_t(rows) * inter);
  swiglu_cpu({gu.data(), ref.data(), rows, inter});
  DeviceBuffer<bf16> dgu(gu), dout(ref.size());
  dout.poison();
  swiglu_cuda({dgu.get(), dout.get(), rows, inter}, nullptr);
  return testing::rel_l2_error(dout.download(), ref);
}

// Random bf16 in [-1, 1) has many exact ties at the maximum: tie-breaking is exercised.
double check_argmax(int rows, int vocab, bool plant_nan) {
  auto logits = testing::random_bf16(std::size_t(rows) * vocab, next_seed());
  if (plant_nan) {
    for (int r = 0; r < rows; ++r) logits[std::size_t(r) * vocab + (r * 31) % vocab] = bf16{0xFFFF};
  }
  std::vector<std::int32_t> ref(rows);
  argmax_cpu({logits.data(), ref.data(), rows, vocab});
  DeviceBuffer<bf16> dl(logits);
  DeviceBuffer<std::int32_t> dout(rows);
  dout.poison();
  argmax_cuda({dl.get(), dout.get(), rows, vocab}, nullptr);
  return testing::mismatches(dout.download(), ref);
}

// GEMM cases (testing::cases::GemmCase): operands with `pad` extra elements
// per row (ldx, ldw, ldy) and base pointers `offset` elements past an
// allocation (offset 1 leaves them only 2-byte aligned). With accumulate y
// starts random, else NaN.
using testing::cases::GemmCase;

// rel L2 error of the [rows, cols] part (ld apart, from `offset`) of out vs
// ref; +inf on NaN there or when any element outside it (padding, the
// offset prefix) differs bitwise from ref.
double strided_error(const std::vector<bf16>& out, const std::vector<bf16>& ref, int rows, int cols,
                     std::int64_t ld, int offset) {
  double num = 0, den = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    const std::int64_t k = std::int64_t(i) - offset;
    const bool inside = k >= 0 && k / ld < rows && k % ld < cols;
    if (!inside) {
      if (out[i].bits != ref[i].bits) return INFINITY;
      continue;
    }
    const double o = bf16_to_float(out[i]), e = bf16_to_float(ref[i]);
    if (std::isnan(o) || std::isnan(e)) return INFINITY;
    num += (o - e) * (o - e);
    den += e * e;
  }
  return den == 0 ? (num == 0 ? 0 : INFINITY) : std::sqrt(num / den);
}

// gemm_cuda vs gemm_cpu. Runs twice (the second call takes the cached choice)
// and requires the same bits both times; a tuning handle must have recorded a
// tuned choice for the shape, which is printed.
double check_gemm(GemmHandle& h, const GemmCase& c) {
  const std::int64_t ldx = c.in + c.pad, ldw = c.in + c.pad, ldy = c.out + c.pad;
  auto x = testing::random_bf16(c.offset + std::size_t(c.rows) * ldx, next_seed());
  auto w = testing::random_bf16(c.offset + std::size_t(c.out) * ldw, next_seed(), -0.05f, 0.05f);
  auto y0 = testing::random_bf16(c.offset + std::size_t(c.rows) * ldy, next_seed(), -2, 2);
  if (!c.accumulate) std::fill(y0.begin(), y0.end(), bf16{0xFFFF});
  auto params = [&](const bf16* px, const bf16* pw, bf16* py) {
    GemmParams p{px + c.offset, pw + c.offset, py + c.offset, c.rows, c.in, c.out, ldx, ldw, ldy};
    p.accumulate = c.accumulate;
    return p;
  };
  std::vector<bf16> ref = y0;
  gemm_cpu(params(x.data(), w.data(), ref.data()));
  DeviceBuffer<bf16> dx(x), dw(w), dy(y0);
  gemm_cuda(h, params(dx.get(), dw.get(), dy.get()), nullptr);
  const std::vector<bf16> first = dy.download();
  dy.upload(y0);
  gemm_cuda(h, params(dx.get(), dw.get(), dy.get()), nullptr);
  if (testing::bit_mismatches(dy.download(), first) != 0) throw std::runtime_error("second call differs from the first");
  if (h.tuning()) {
    // Tuned up to 256 rows (decode); prefill-sized shapes keep the untimed GemmEx (gemm.hpp).
    const auto info = gemm_cuda_choice(h, params(dx.get(), dw.get(), dy.get()));
    if (c.rows <= 256 && (!info || !info->tuned)) throw std::runtime_error("no tuned choice recorded for the shape");
    if (c.rows > 256 && info && info->tuned) throw std::runtime_error("a prefill-sized shape was tuned");
    if (info) std::printf("     choice: %s\n", info->description.c_str());
  }
  return strided_error(first, ref, c.rows, c.out, ldy, c.offset);
}

// Graph capture: shape A is tuned eagerly, shape B (accumulate) is first seen
// while capturing; the replayed graph must compute both, B must keep the
// untimed GemmEx choice afterwards, and A its tuned one.
double check_gemm_capture(int rows, int in, int out) {
  GemmHandle h(std::size_t{32} << 20, GemmTuning::kOn);
  cudaStream_t s = nullptr;
  FORESIGHT_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
  struct StreamGuard {
    cudaStream_t s;
    ~StreamGuard() { cudaStreamDestroy(s); }
  } guard{s};
  auto x = testing::random_bf16(std::size_t(rows) * in, next_seed());
  auto wa = testing::random_bf16(std::size_t(out) * in, next_seed(), -0.05f, 0.05f);
  auto wb = testing::random_bf16(std::size_t(in) * in, next_seed(), -0.05f, 0.05f);
  auto yb0 = testing::random_bf16(std::size_t(rows) * in, next_seed(), -2, 2);
  std::vector<bf16> ref_a(std::size_t(rows) * out), ref_b = yb0;
  gemm_cpu({x.data(), wa.data(), ref_a.data(), rows, in, out});
  GemmParams pb_cpu{x.data(), wb.data(), ref_b.data(), rows, in, in};
  pb_cpu.accumulate = true;
  gemm_cpu(pb_cpu);
  DeviceBuffer<bf16> dx(x), dwa(wa), dwb(wb), dya(ref_a.size()), dyb(yb0);
  const GemmParams pa{dx.get(), dwa.get(), dya.get(), rows, in, out};
  GemmParams pb{dx.get(), dwb.get(), dyb.get(), rows, in, in};
  pb.accumulate = true;
  gemm_cuda(h, pa, s);  // tunes A (eager)
  FORESIGHT_CUDA_CHECK(cudaStreamSynchronize(s));
  dya.poison();
  cudaGraph_t graph = nullptr;
  FORESIGHT_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  try {
    gemm_cuda(h, pa, s);
    gemm_cuda(h, pb, s);
  } catch (...) {
    cudaStreamEndCapture(s, &graph);
    if (graph) cudaGraphDestroy(graph);
    throw;
  }
  FORESIGHT_CUDA_CHECK(cudaStreamEndCapture(s, &graph));
  cudaGraphExec_t exec = nullptr;
  const cudaError_t inst = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);
  FORESIGHT_CUDA_CHECK(inst);
  const cudaError_t launched = cudaGraphLaunch(exec, s);
  const cudaError_t synced = cudaStreamSynchronize(s);
  cudaGraphExecDestroy(exec);
  FORESIGHT_CUDA_CHECK(launched);
  FORESIGHT_CUDA_CHECK(synced);
  const auto info_a = gemm_cuda_choice(h, pa), info_b = gemm_cuda_choice(h, pb);
  if (!info_a || !info_a->tuned) throw std::runtime_error("shape A lost its tuned choice");
  if (!info_b || info_b->tuned || info_b->lt) throw std::runtime_error("shape B was tuned during capture");
  const double err = std::max(testing::rel_l2_error(dya.download(), ref_a), testing::rel_l2_error(dyb.download(), ref_b));
  dyb.upload(yb0);
  gemm_cuda(h, pb, s);  // eager now, but B's choice is fixed
  FORESIGHT_CUDA_CHECK(cudaStreamSynchronize(s));
  const auto again = gemm_cuda_choice(h, pb);
  if (!again || again->tuned) throw std::runtime_error("shape B's choice changed after capture");
  return std::max(err, testing::rel_l2_error(dyb.download(), ref_b));
}

// FORESIGHT_GEMM_TUNE: unset/1 tunes, 0 does not, anything else is rejected.
double check_gemm_tune_env() {
  double wrong = 0;
  unsetenv("FORESIGHT_GEMM_TUNE");
  wrong += GemmHandle(0).tuning() ? 0 : 1;
  setenv("FORESIGHT_GEMM_TUNE", "0", 1);
  wrong += GemmHandle(0).tuning() ? 1 : 0;
  wrong += GemmHandle(0, GemmTuning::kOn).tuning() ? 0 : 1;
  setenv("FORESIGHT_GEMM_TUNE", "1", 1);
  wrong += GemmHandle(0).tuning() ? 0 : 1;
  wrong += GemmHandle(0, GemmTuning::kOff).tuning() ? 1 : 0;
  setenv("FORESIGHT_GEMM_TUNE", "yes", 1);
  try {
    GemmHandle bad(0);
    wrong += 1;
  } catch (const std::invalid_argument&) {
  }
  unsetenv("FORESIGHT_GEMM_TUNE");
  return wrong;
}

double check_compress_prefill(std::int64_t tokens, std::int64_t first_window, int kv, int d) {
  auto k = testing::random_bf16(tokens * kv * d, next_seed());
  const std::int64_t n = compressed_key_count(tokens, 32, 16);
  std::vector<bf16> ref(std::max<std::int64_t>(n, 1) * kv * d, bf16{0xFFFF});
  std::vector<bf16> ring_ref(32 * kv * d, bf16{0xFFFF});
  KeyCompressPrefillParams p{k.data(), ref.data(), tokens, first_window, kv, d};
  p.ring = ring_ref.data();
  key_compress_prefill_cpu(p);
  DeviceBuffer<bf16> dk(k), dkc(ref.size()), dring(ring_ref.size());
  dkc.poison();
  dring.poison();
  p.k = dk.get();
  p.kc = dkc.get();
  p.ring = dring.get();
  key_compress_prefill_cuda(p, nullptr);
  return testing::bit_mismatches(dkc.download(), ref) + testing::bit_mismatches(dring.download(), ring_ref);
}

// Sequences at and off window boundaries; compares both the ring and kc.
double check_compress_decode(int batch, int kv, int d) {
  const int kernel = 32, max_windows = 64;
  const std::int64_t width = std::int64_t(kv) * d;
  auto ring = testing::random_bf16(batch * kernel * width, next_seed());
  auto k_new = testing::random_bf16(batch * width, next_seed());
  std::vector<std::int32_t> counts(batch);
  for (int b = 0; b < batch; ++b) counts[b] = 1 + (b * 37 + b / 2 * 16) % (kernel + 16 * (max_windows - 2));
  counts[0] = 32;
  if (batch > 1) counts[1] = 48;
  std::vector<bf16> kc(batch * max_windows * width, bf16{0xFFFF});
  auto ring_ref = ring, kc_ref = kc;
  KeyCompressDecodeParams p{k_new.data(), ring_ref.data(), kc_ref.data(), counts.data(), batch, kv, d,
                            0, max_windows * width};
  key_compress_decode_cpu(p);
  DeviceBuffer<bf16> dnew(k_new), dring(ring), dkc(kc);
  DeviceBuffer<std::int32_t> dcounts(counts);
  p.k_new = dnew.get();
  p.ring = dring.get();
  p.kc = dkc.get();
  p.token_counts = dcounts.get();
  key_compress_decode_cuda(p, nullptr);
  return testing::bit_mismatches(dring.download(), ring_ref) + testing::bit_mismatches(dkc.download(), kc_ref);
}

// rel L2 error of the [chunk, nh * d] part of out (padding ignored); inf on NaN.
double attention_error(const std::vector<bf16>& out, const std::vector<bf16>& ref, std::int64_t chunk,
                       std::int64_t width, std::int64_t row) {
  double num = 0, den = 0;
  for (std::int64_t i = 0; i < chunk; ++i) {
    for (std::int64_t e = 0; e < width; ++e) {
      const double o = bf16_to_float(out[i * row + e]), r = bf16_to_float(ref[i * row + e]);
      if (std::isnan(o)) return double(INFINITY);
      num += (o - r) * (o - r);
      den += r * r;
    }
  }
  return std::sqrt(num / den);
}

// cuDNN must take MiniCPM shapes (32 q heads, 2 KV heads, d128); before cuDNN
// 9.6 an offset (start > 0) chunk also needs chunk and start + chunk multiples of 64.
bool cudnn_required(std::int64_t start, std::int64_t chunk, int nh, int nkv, int d) {
  const int version = prefill_attention_cudnn_version();
  if (version == 0 || nh != 32 || nkv != 2 || d != 128) return false;
  return start == 0 || version >= 90600 || (chunk % 64 == 0 && (start + chunk) % 64 == 0);
}

// One CPU reference, then the dispatcher, cuDNN and every mma.sync variant
// (tile shape) against it. pad: extra elements per token row of q, k/v and o
// (strided layouts, e.g. q inside the fused projection output). Chunks longer
// than kAttentionCheckRows are compared on their last kAttentionCheckRows
// queries (the reference of those alone: the same causal rows).
void check_prefill_attention(testing::Tally& t, std::int64_t start, std::int64_t chunk, int nh, int nkv, int d,
                             int pad = 0) {
  const std::int64_t kv_len = start + chunk, q_row = std::int64_t(nh) * d + pad, kv_row = std::int64_t(nkv) * d + pad;
  auto q = testing::random_bf16(chunk * q_row, next_seed(), -2, 2);
  auto k = testing::random_bf16(kv_len * kv_row, next_seed(), -2, 2);
  auto v = testing::random_bf16(kv_len * kv_row, next_seed());
  const std::int64_t rows = std::min(chunk, testing::cases::kAttentionCheckRows), skip = chunk - rows;
  const std::string shape = "start " + std::to_string(start) + " " + dims({chunk, nh, nkv, d}) +
                            (pad ? " pad " + std::to_string(pad) : "") +
                            (skip ? " last " + std::to_string(rows) + " checked" : "");
  std::vector<bf16> ref(rows * q_row, bf16{0xFFFF});  // padding stays NaN, like the poisoned output
  PrefillAttentionParams cpu{q.data() + skip * q_row, k.data(), v.data(), ref.data(), start + skip, rows, nh, nkv,
                             d, 0.f, q_row, kv_row, q_row};
  prefill_attention_cpu(cpu);
  DeviceBuffer<bf16> dq(q), dk(k), dv(v), dout(chunk * q_row);
  PrefillAttentionParams p{nullptr, nullptr, nullptr, nullptr, start, chunk, nh, nkv, d, 0.f, q_row, kv_row, q_row};
  p.q = dq.get();
  p.k = dk.get();
  p.v = dv.get();
  p.o = dout.get();
  const int kDispatch = -2, kCudnn = -1;
  for (int variant = kDispatch; variant < kPrefillAttentionVariants; ++variant) {
    std::string op = variant == kCudnn ? "prefill_attn cudnn" : "prefill_attn v" + std::to_string(variant);
    try {
      dout.poison();
      if (variant == kDispatch) {
        op = std::string("prefill_attention(") + prefill_attention_cuda(p, nullptr) + ")";
      } else if (variant == kCudnn) {
        std::string why;
        if (!prefill_attention_cudnn(p, nullptr, &why)) {
          if (cudnn_required(start, chunk, nh, nkv, d)) {
            t.error(op, shape, "cuDNN rejected a shape it must take: " + why);
          } else {
            std::printf("skip %-22s %-48s cuDNN cannot run it: %s\n", op.c_str(), shape.c_str(), why.c_str());
          }
          continue;
        }
      } else {
        prefill_attention_cuda_variant(p, variant, nullptr);
      }
      const std::vector<bf16> out = dout.download();
      const std::vector<bf16> checked(out.begin() + skip * q_row, out.end());
      t.report(op, shape, attention_error(checked, ref, rows, std::int64_t(nh) * d, q_row), kBf16Tol);
    } catch (const std::exception& e) {
      t.error(op, shape, e.what());
    }
  }
}

// FORESIGHT_PREFILL_ATTENTION: mma forces the kernel, cudnn forces cuDNN (where
// built in), anything else is rejected. Returns the number of wrong outcomes.
double check_prefill_dispatch_env() {
  const int nh = 32, nkv = 2, d = 128;
  const std::int64_t chunk = 128;
  auto q = testing::random_bf16(chunk * nh * d, next_seed()), kv = testing::random_bf16(chunk * nkv * d, next_seed());
  DeviceBuffer<bf16> dq(q), dk(kv), dv(kv), dout(q.size());
  PrefillAttentionParams p{dq.get(), dk.get(), dv.get(), dout.get(), 0, chunk, nh, nkv, d};
  double wrong = 0;
  setenv("FORESIGHT_PREFILL_ATTENTION", "mma", 1);
  wrong += std::string(prefill_attention_cuda(p, nullptr)) == "mma" ? 0 : 1;
  setenv("FORESIGHT_PREFILL_ATTENTION", "cudnn", 1);
  if (prefill_attention_cudnn_version() == 0) {
    try {
      prefill_attention_cuda(p, nullptr);
      wrong += 1;  // must throw: cuDNN is not built in
    } catch (const std::runtime_error&) {
    }
  } else {
    wrong += std::string(prefill_attention_cuda(p, nullptr)) == "cudnn" ? 0 : 1;
  }
  setenv("FORESIGHT_PREFILL_ATTENTION", "flash", 1);
  try {
    prefill_attention_cuda(p, nullptr);
    wrong += 1;
  } catch (const std::invalid_argument&) {
  }
  unsetenv("FORESIGHT_PREFILL_ATTENTION");
  FORESIGHT_CUDA_CHECK(cudaDeviceSynchronize());
  return wrong;
}
}  // namespace

int main(int argc, char** argv) {
  testing::require_gpu_or_skip("gpu_check_dense");
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  testing::Tally t;
  const int H = 4096, NH = 32, NKV = 2, D = 128, INTER = 16384, VOCAB = 73448;
  const std::vector<int> batches = quick ? std::vector<int>{1, 5} : std::vector<int>{1, 16, 128};

  for (int b : batches) {
    run_case(t, "rmsnorm", dims({b, H}), [&] { return check_rmsnorm(b, H, H); }, kBf16Tol);
    run_case(t, "residual_add", dims({b, H}), [&] { return check_residual(std::int64_t(b) * H, false); }, 0);
    run_case(t, "embedding", dims({b, VOCAB, H}), [&] { return check_embedding(b, VOCAB, H); }, 0);
    run_case(t, "rope plain +f", dims({b, NH, NKV, D}), [&] {
      return check_rope(b, NH, NKV, D, {RopeFrequencies::Kind::kPlain, 10000.0}, true); }, kBf16Tol);
    run_case(t, "rope llama3 +f", dims({b, NH, NKV, D}), [&] {
      RopeFrequencies f{RopeFrequencies::Kind::kLlama3, 500000.0};
      return check_rope(b, NH, NKV, D, f, true); }, kBf16Tol);
    run_case(t, "swiglu", dims({b, INTER}), [&] { return check_swiglu(b, INTER); }, kBf16Tol);
    run_case(t, "argmax", dims({b, VOCAB}), [&] { return check_argmax(b, VOCAB, false); }, 0);
  }
  run_case(t, "rmsnorm scalar+stride", dims({7, 1000}), [&] { return check_rmsnorm(7, 1000, 1003); }, kBf16Tol);
  run_case(t, "residual_add tail", "1000003", [&] { return check_residual(1000003, false); }, 0);
  run_case(t, "residual_add in-place", dims({16, H}), [&] { return check_residual(16 * H, true); }, 0);
  run_case(t, "rmsnorm wide", dims({3, 16384}), [&] { return check_rmsnorm(3, 16384, 16384); }, kBf16Tol);
  run_case(t, "embedding bad id -> NaN", dims({4, 50, 64}), [&] { return check_embedding_bad_id(); }, 0);
  run_case(t, "embedding scalar", dims({9, 100, 13}), [&] { return check_embedding(9, 100, 13); }, 0);
  run_case(t, "rope d64 no f", dims({3, 8, 2, 64}), [&] {
    return check_rope(3, 8, 2, 64, {RopeFrequencies::Kind::kPlain, 10000.0}, false); }, kBf16Tol);
  run_case(t, "swiglu scalar", dims({5, 1001}), [&] { return check_swiglu(5, 1001); }, kBf16Tol);
  run_case(t, "argmax nan", dims({4, 1003}), [&] { return check_argmax(4, 1003, true); }, 0);

  {
    GemmHandle tuned(std::size_t{32} << 20, GemmTuning::kOn), plain(std::size_t{32} << 20, GemmTuning::kOff);
    const int QKVF = testing::cases::kQkvf;
    for (const GemmCase& c : testing::cases::gemm_cases(quick)) {
      const std::string shape = dims({c.rows, c.in, c.out}) + (c.pad ? " pad " + std::to_string(c.pad) : "") +
                                (c.offset ? " off " + std::to_string(c.offset) : "");
      run_case(t, std::string(c.name) + " tuned", shape, [&] { return check_gemm(tuned, c); }, kBf16Tol);
      if (c.rows == 1 || c.rows == 64 || c.pad) {
        run_case(t, std::string(c.name) + " plain", shape, [&] { return check_gemm(plain, c); }, kBf16Tol);
      }
    }
    run_case(t, "gemm graph capture", dims({3, 77, 131}), [&] { return check_gemm_capture(3, 77, 131); }, kBf16Tol);
    if (!quick) {
      run_case(t, "gemm graph capture", dims({1, H, QKVF}), [&] { return check_gemm_capture(1, H, QKVF); }, kBf16Tol);
    }
    run_case(t, "gemm tune env", "FORESIGHT_GEMM_TUNE", [&] { return check_gemm_tune_env(); }, 0);
  }

  for (std::int64_t tokens : {31LL, 32LL, 1000LL, quick ? 100LL : 32768LL}) {
    run_case(t, "compress prefill", dims({tokens, NKV, D}), [&] { return check_compress_prefill(tokens, 0, NKV, D); }, 0);
  }
  run_case(t, "compress prefill chunk", dims({1000, NKV, D}) + " from w10",
           [&] { return check_compress_prefill(1000, 10, NKV, D); }, 0);
  for (int b : batches) {
    run_case(t, "compress decode", dims({b, NKV, D}), [&] { return check_compress_decode(b, NKV, D); }, 0);
  }

  for (const testing::cases::PrefillAttentionCase& a : testing::cases::prefill_attention_cases(quick)) {
    try {
      check_prefill_attention(t, a.start, a.chunk, a.nh, a.nkv, a.d, a.pad);
    } catch (const std::exception& e) {
      t.error("prefill_attention", dims({a.start, a.chunk, a.nh, a.nkv, a.d}), e.what());
    }
  }
  run_case(t, "prefill dispatch env", "FORESIGHT_PREFILL_ATTENTION", [&] { return check_prefill_dispatch_env(); }, 0);
  std::printf("cuDNN runtime version: %d (0: not built in)\n", prefill_attention_cudnn_version());
  return t.finish();
}

// Benchmark of the sparse-path kernels (scoring, pooling+top-k, working-set
// update, zero-copy gather by both kernel paths and by the copy engines
// (cudaMemcpyBatchAsync), and its cost to a GEMM beside it,
// decode attention). CUDA events around each launch,
// warm-up, median of --reps runs; inputs rotate over several copies so the
// working data exceeds the 50 MiB L2 where it matters. Prints
// op / shape / us / GB/s / % of ceiling; --csv PATH writes the same rows.
// Ceilings (H100, ../shared/reference/measured-h100.md): HBM 3000 GB/s,
// pinned H2D 52 GB/s. Decode attention runs the GPU check's shapes
// (tests/support/kernel_cases.hpp). Usage: bench_kernels_sparse [--csv PATH] [--reps N] [--calls N] [--attention-only]
// [--gather-only] [--decode-cases LIST]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "../tests/kernels/sparse/device_buffer.cuh"
#include "foresight/kernels/block_score.hpp"
#include "foresight/kernels/block_select.hpp"
#include "foresight/kernels/decode_attention.hpp"
#include "foresight/kernels/gemm.hpp"
#include "foresight/kernels/kv_gather.hpp"
#include "foresight/kernels/working_set.hpp"
#include "gpu_present.hpp"
#include "kernel_cases.hpp"
#include "numeric.hpp"

using namespace foresight;
using namespace foresight::kernels;
using testing::DeviceBuffer;

namespace {

constexpr double kHbmGbps = 3000.0, kPcieGbps = 52.0;
int g_reps = 20;
int g_calls = 1;  // back-to-back calls per timed sample (--calls)
bool g_attention_only = false;  // --attention-only
bool g_gather_only = false;     // --gather-only
// Decode attention cases (--decode-cases): split kernel (FORESIGHT_DECODE_KERNEL
// value, or "default" for the library's choice) and splits (0: default_decode_splits).
struct DecodeCase {
  std::string kernel;
  int splits;
};
std::vector<DecodeCase> g_decode_cases = {{"default", 0}, {"warp", 0}};
// Gather paths compared by bench_gather and bench_gather_interference.
// copy_engines: no kernel; one cudaMemcpyBatchAsync of every K and V block
// (the DMA engines, zero SMs; needs the load list on the host).
struct GatherCase {
  GatherPath path;
  int ctas, stages;
  bool copy_engines = false;
};
const std::vector<GatherCase> g_gather_cases = {
    {GatherPath::sm_loads, 8, 0},  {GatherPath::sm_loads, 16, 0}, {GatherPath::sm_loads, 32, 0},
    {GatherPath::bulk_copy, 1, 0}, {GatherPath::bulk_copy, 2, 0}, {GatherPath::bulk_copy, 4, 0},
    {GatherPath::bulk_copy, 8, 0}, {GatherPath::bulk_copy, 2, 4}, {GatherPath::bulk_copy, 4, 4},
    {GatherPath::bulk_copy, 3, 4}, {GatherPath::bulk_copy, 4, 2}, {GatherPath::bulk_copy, 6, 2},
    {GatherPath::sm_loads, 0, 0, true}};

void select_decode_kernel(const std::string& kernel) {
  if (kernel == "default") unsetenv("FORESIGHT_DECODE_KERNEL");
  else setenv("FORESIGHT_DECODE_KERNEL", kernel.c_str(), 1);
}

// "k:s,k:s,..." -> cases; false on a malformed item.
bool parse_decode_cases(const std::string& text, std::vector<DecodeCase>* out) {
  out->clear();
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = std::min(text.find(',', pos), text.size());
    const std::string item = text.substr(pos, end - pos);
    const std::size_t colon = item.find(':');
    if (colon == std::string::npos || colon == 0) return false;
    char* rest = nullptr;
    const long splits = std::strtol(item.c_str() + colon + 1, &rest, 10);
    if (*rest != '\0' || splits < 0 || splits > 1024) return false;
    out->push_back({item.substr(0, colon), static_cast<int>(splits)});
    pos = end + 1;
  }
  return !out->empty();
}
FILE* g_csv = nullptr;

// Median microseconds per call of run(i) over g_reps timed samples after 3
// warm-ups; a sample is g_calls back-to-back calls between two events (1:
// the latency of one call including its launch; more: launch overhead
// overlapped as in a stream of layers). i counts up so callers can rotate inputs.
double time_us(const std::function<void(int)>& run, cudaStream_t stream = nullptr) {
  cudaEvent_t a, b;
  FORESIGHT_CUDA_CHECK(cudaEventCreate(&a));
  FORESIGHT_CUDA_CHECK(cudaEventCreate(&b));
  int i = 0;
  for (int w = 0; w < 3; ++w) run(i++);
  std::vector<double> us;
  for (int r = 0; r < g_reps; ++r) {
    FORESIGHT_CUDA_CHECK(cudaEventRecord(a, stream));
    for (int c = 0; c < g_calls; ++c) run(i++);
    FORESIGHT_CUDA_CHECK(cudaEventRecord(b, stream));
    FORESIGHT_CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    FORESIGHT_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    us.push_back(ms * 1e3 / g_calls);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(us.begin(), us.end());
  return us[us.size() / 2];
}

void row(const std::string& op, const std::string& shape, double us, double bytes, double ceiling_gbps) {
  const double gbps = bytes / (us * 1e3);
  std::printf("%-28s %-46s %10.2f %10.1f %7.1f%%\n", op.c_str(), shape.c_str(), us, gbps, 100.0 * gbps / ceiling_gbps);
  std::fflush(stdout);
  // Quoted: shapes hold commas ("16 KiB K+V blocks, 32x96, ...").
  if (g_csv)
    std::fprintf(g_csv, "\"%s\",\"%s\",%.3f,%.2f,%.2f\n", op.c_str(), shape.c_str(), us, gbps,
                 100.0 * gbps / ceiling_gbps);
}

// A 2 GiB pinned mapped store (K and V 1 GiB each) of `block_kib` KiB blocks
// and 8 random load lists: rows each load 96 random blocks into 97 slots.
struct GatherSetup {
  static constexpr std::size_t kStoreBytes = std::size_t(1) << 30;  // per tensor
  static constexpr int kLists = 8, kLoads = 96, kSlots = 97, kHeadDim = 128;
  int rows, block_tokens;
  std::int64_t block_elems, max_blocks;
  testing::MappedHostBuffer<bf16> hk{kStoreBytes / 2}, hv{kStoreBytes / 2};
  std::vector<DeviceBuffer<std::int32_t>> lb, ls;
  // Per list, the same loads as (dst, src, bytes) for cudaMemcpyBatchAsync, K then V.
  std::vector<std::vector<void*>> batch_dst;
  std::vector<std::vector<const void*>> batch_src;
  DeviceBuffer<std::int32_t> cnt;
  DeviceBuffer<bf16> dk, dv;

  GatherSetup(int rows_n, int block_kib)
      : rows(rows_n), block_tokens(block_kib * 1024 / (kHeadDim * 2)),
        block_elems(std::int64_t{block_tokens} * kHeadDim),
        max_blocks(static_cast<std::int64_t>(kStoreBytes / sizeof(bf16)) / rows / block_elems),
        cnt(std::vector<std::int32_t>(static_cast<std::size_t>(rows), kLoads)),
        dk(std::size_t(rows) * kSlots * block_elems), dv(dk.size()) {
    std::memset(static_cast<void*>(hk.host()), 1, kStoreBytes), std::memset(static_cast<void*>(hv.host()), 2, kStoreBytes);
    std::mt19937_64 rng(5);
    for (int l = 0; l < kLists; ++l) {
      std::vector<std::int32_t> b(std::size_t(rows) * kSlots), s(b.size());
      std::vector<int> perm(static_cast<std::size_t>(max_blocks));
      for (int r = 0; r < rows; ++r) {
        std::iota(perm.begin(), perm.end(), 0);
        std::shuffle(perm.begin(), perm.end(), rng);
        for (int i = 0; i < kSlots; ++i) b[std::size_t(r) * kSlots + i] = perm[i], s[std::size_t(r) * kSlots + i] = i;
      }
      lb.emplace_back(b), ls.emplace_back(s);
      add_batch(b, s);
    }
  }
  void add_batch(const std::vector<std::int32_t>& b, const std::vector<std::int32_t>& s) {
    std::vector<void*> dst;
    std::vector<const void*> src;
    for (int kv = 0; kv < 2; ++kv)
      for (int r = 0; r < rows; ++r)
        for (int i = 0; i < kLoads; ++i) {
          const std::size_t at = std::size_t(r) * kSlots + i;
          src.push_back((kv ? hv.host() : hk.host()) + (std::int64_t{r} * max_blocks + b[at]) * block_elems);
          dst.push_back((kv ? dv.get() : dk.get()) + (std::int64_t{r} * kSlots + s[at]) * block_elems);
        }
    batch_dst.push_back(std::move(dst)), batch_src.push_back(std::move(src));
  }
  void launch(const GatherCase& c, int list, cudaStream_t stream) {
    if (!c.copy_engines) return kv_gather_cuda(params(c, list), stream);
    auto& dst = batch_dst[list % kLists];
    auto& src = batch_src[list % kLists];
    std::vector<std::size_t> sizes(dst.size(), std::size_t(block_elems) * sizeof(bf16));
    cudaMemcpyAttributes attr{};
    attr.srcAccessOrder = cudaMemcpySrcAccessOrderStream;
    attr.flags = cudaMemcpyFlagPreferOverlapWithCompute;
    std::size_t attr_at = 0;
    FORESIGHT_CUDA_CHECK(cudaMemcpyBatchAsync(dst.data(), src.data(), sizes.data(), dst.size(), &attr, &attr_at, 1,
                                              stream));
  }
  KvGatherParams params(const GatherCase& c, int list) const {
    KvGatherParams p;
    p.store_k = hk.device(), p.store_v = hv.device(), p.slots_k = dk.get(), p.slots_v = dv.get();
    p.load_block = lb[list % kLists].get(), p.load_slot = ls[list % kLists].get();
    p.load_count = cnt.get(), p.rows = rows, p.kv_heads = 2, p.list_stride = kSlots;
    p.slots_per_row = kSlots, p.max_blocks = max_blocks, p.block_tokens = block_tokens, p.head_dim = kHeadDim;
    p.n_ctas = c.ctas, p.path = c.path, p.bulk_stages = c.stages;
    return p;
  }
  double bytes() const { return 2.0 * rows * kLoads * block_elems * sizeof(bf16); }
};

std::string gather_name(const GatherCase& c) {
  if (c.copy_engines) return "copy engines, cudaMemcpyBatchAsync";
  return (c.path == GatherPath::bulk_copy ? "bulk ctas " + std::to_string(c.ctas) + " stages " +
                                                (c.stages ? std::to_string(c.stages) : std::string("max"))
                                          : "sm_loads ctas " + std::to_string(c.ctas));
}

void bench_gather() {
  for (int block_kib : {4, 16, 64}) {
    GatherSetup g(32, block_kib);  // batch 16 x 2 KV heads
    cudaStream_t stream;  // cudaMemcpyBatchAsync refuses the legacy default stream
    FORESIGHT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    for (const GatherCase& c : g_gather_cases) {
      const double us = time_us([&](int i) { g.launch(c, i, stream); }, stream);
      row("kv_gather host->gpu", std::to_string(block_kib) + " KiB K+V blocks, 32x96, " + gather_name(c), us,
          g.bytes(), kPcieGbps);
    }
    cudaStreamDestroy(stream);
  }
}

// A decode GEMM (batch 16 rows, 4096 -> 32768: the MLP's gate and up at
// MiniCPM4.1-8B shapes, cuBLAS) timed alone and while a gather runs on a
// second stream: what the gather's SMs cost the compute beside it.
void bench_gather_interference() {
  GatherSetup g(128, 16);  // 128 x 96 blocks of 16 KiB K+V: 400 MB, about 8 ms at the link
  GemmHandle gemm;
  const int rows = 16, in = 4096, out = 32768, calls = 40;
  DeviceBuffer<bf16> x(std::size_t(rows) * in), w(std::size_t(out) * in), y(std::size_t(rows) * out);
  x.poison(0x3c), w.poison(0x3c);
  GemmParams gp;
  gp.x = x.get(), gp.w = w.get(), gp.y = y.get(), gp.rows = rows, gp.in = in, gp.out = out;
  cudaStream_t side;
  FORESIGHT_CUDA_CHECK(cudaStreamCreateWithFlags(&side, cudaStreamNonBlocking));
  cudaEvent_t a, b, ga, gb;
  for (cudaEvent_t* e : {&a, &b, &ga, &gb}) FORESIGHT_CUDA_CHECK(cudaEventCreate(e));
  auto gemms_us = [&] {
    FORESIGHT_CUDA_CHECK(cudaEventRecord(a));
    for (int i = 0; i < calls; ++i) gemm_cuda(gemm, gp, nullptr);
    FORESIGHT_CUDA_CHECK(cudaEventRecord(b));
    FORESIGHT_CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    FORESIGHT_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    return ms * 1e3 / calls;
  };
  for (int w0 = 0; w0 < 3; ++w0) gemms_us();
  std::vector<double> alone;
  for (int r = 0; r < 5; ++r) alone.push_back(gemms_us());
  std::sort(alone.begin(), alone.end());
  row("gemm 16x4096->32768", "alone", alone[2], 2.0 * out * in, kHbmGbps);
  for (const GatherCase& c : g_gather_cases) {
    std::vector<double> beside, gather;
    for (int r = 0; r < 5; ++r) {
      FORESIGHT_CUDA_CHECK(cudaEventRecord(ga, side));
      g.launch(c, r, side);
      FORESIGHT_CUDA_CHECK(cudaEventRecord(gb, side));
      beside.push_back(gemms_us());
      FORESIGHT_CUDA_CHECK(cudaEventSynchronize(gb));
      float ms = 0;
      FORESIGHT_CUDA_CHECK(cudaEventElapsedTime(&ms, ga, gb));
      gather.push_back(ms * 1e3);
    }
    std::sort(beside.begin(), beside.end()), std::sort(gather.begin(), gather.end());
    const bool covered = gather[2] > beside[2] * calls;  // the gather outlasted the GEMMs
    row("gemm 16x4096->32768", "beside gather " + gather_name(c) + (covered ? "" : " (gather ended first)"),
        beside[2], 2.0 * out * in, kHbmGbps);
    row("kv_gather host->gpu", "16 KiB, 128x96 beside gemm, " + gather_name(c), gather[2], g.bytes(), kPcieGbps);
  }
  for (cudaEvent_t e : {a, b, ga, gb}) cudaEventDestroy(e);
  cudaStreamDestroy(side);
}

void bench_gather_d2d() {
  const int rows = 32, kv_heads = 2, loads = 96, slots = 97, block_tokens = 64, head_dim = 128;
  const std::int64_t max_blocks = 2048, block_elems = std::int64_t{block_tokens} * head_dim;
  DeviceBuffer<bf16> sk(std::size_t(rows) * max_blocks * block_elems), sv(sk.size());  // 2 x 1 GiB
  sk.poison(1), sv.poison(2);
  std::mt19937_64 rng(9);
  std::vector<std::int32_t> b(std::size_t(rows) * slots), s(b.size());
  std::vector<int> perm(static_cast<std::size_t>(max_blocks));
  for (int r = 0; r < rows; ++r) {
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    for (int i = 0; i < slots; ++i) b[std::size_t(r) * slots + i] = perm[i], s[std::size_t(r) * slots + i] = i;
  }
  DeviceBuffer<std::int32_t> lb(b), ls(s), cnt(std::vector<std::int32_t>(rows, loads));
  DeviceBuffer<bf16> dk(std::size_t(rows) * slots * block_elems), dv(dk.size());
  for (int ctas : {32, 132, 264}) {
    KvGatherParams p;
    p.store_k = sk.get(), p.store_v = sv.get(), p.slots_k = dk.get(), p.slots_v = dv.get();
    p.load_block = lb.get(), p.load_slot = ls.get(), p.load_count = cnt.get(), p.rows = rows, p.kv_heads = kv_heads;
    p.list_stride = slots, p.slots_per_row = slots, p.max_blocks = max_blocks, p.block_tokens = block_tokens;
    p.head_dim = head_dim, p.n_ctas = ctas;
    const double us = time_us([&](int) { kv_gather_cuda(p, nullptr); });
    // HBM traffic: read + write.
    row("kv_gather gpu->gpu", "16 KiB blocks, 32x96, ctas " + std::to_string(ctas), us,
        2.0 * 2.0 * rows * loads * block_elems * sizeof(bf16), kHbmGbps);
  }
}

// Decode attention over one shared case (tests/support/kernel_cases.hpp):
// sparse over every slot of every row (full tail), then dense over the
// contiguous cache, for each --decode-cases kernel. A case's splits apply
// unless the --decode-cases entry names its own (non-zero).
std::string attention_shape(const testing::cases::DecodeAttentionCase& a, const std::string& what, int splits) {
  return "b" + std::to_string(a.batch) + " h" + std::to_string(a.n_heads) + "/" + std::to_string(a.kv_heads) + " d" +
         std::to_string(a.d) + " " + what + ", splits " + std::to_string(splits);
}

int case_splits(const testing::cases::DecodeAttentionCase& a, const DecodeCase& c, int tiles) {
  if (c.splits) return c.splits;
  return a.splits ? a.splits : default_decode_splits(a.batch, a.kv_heads, tiles, 132);
}

void bench_sparse_attention(const testing::cases::DecodeAttentionCase& a, DeviceBuffer<bf16>& q,
                            DeviceBuffer<bf16>& out) {
  const int slots = a.k_blocks + 1, rows = a.batch * a.kv_heads;
  const std::size_t elems = std::size_t(rows) * slots * 64 * a.d;
  constexpr int kCopies = 3;  // rotated, so the MiniCPM cases are never L2-resident
  std::vector<DeviceBuffer<bf16>> ks, vs;
  for (int c = 0; c < kCopies; ++c) {
    ks.emplace_back(testing::random_bf16(elems, 10 + c)), vs.emplace_back(testing::random_bf16(elems, 20 + c));
  }
  std::vector<std::int32_t> list(std::size_t(rows) * slots);
  for (int r = 0; r < rows; ++r) std::iota(list.begin() + std::ptrdiff_t(r) * slots, list.begin() + std::ptrdiff_t(r + 1) * slots, 0);
  DeviceBuffer<std::int32_t> d_list(list), d_len(std::vector<std::int32_t>(rows, slots)), tail(std::vector<std::int32_t>(a.batch, 64));
  for (const DecodeCase& c : g_decode_cases) {
    select_decode_kernel(c.kernel);
    SparseDecodeAttentionParams p;
    p.shape.batch = a.batch, p.shape.n_heads = a.n_heads, p.shape.kv_heads = a.kv_heads, p.shape.head_dim = a.d;
    p.shape.n_splits = case_splits(a, c, slots);
    DeviceBuffer<unsigned char> ws(decode_attention_workspace_bytes(p.shape));
    p.shape.workspace = ws.get();
    p.q = q.get(), p.slot_list = d_list.get(), p.list_len = d_len.get(), p.tail_tokens = tail.get(), p.out = out.get();
    p.slots_per_row = slots, p.list_stride = slots, p.tail_slot = slots - 1, p.block_tokens = 64;
    const double us = time_us([&](int i) {
      p.slots_k = ks[i % kCopies].get(), p.slots_v = vs[i % kCopies].get();
      sparse_decode_attention_cuda(p, nullptr);
    });
    row("sparse_decode_attention " + c.kernel,
        attention_shape(a, std::to_string(slots) + "x64 tok", p.shape.n_splits), us, 2.0 * elems * sizeof(bf16), kHbmGbps);
  }
}

void bench_dense_attention(const testing::cases::DecodeAttentionCase& a, DeviceBuffer<bf16>& q,
                           DeviceBuffer<bf16>& out) {
  const std::int64_t max_tokens = std::int64_t{a.k_blocks} * 64 + 37;
  DeviceBuffer<bf16> k(std::size_t(a.batch) * a.kv_heads * max_tokens * a.d), v(k.size());
  k.poison(0x3c), v.poison(0x3c);  // finite bf16 values
  DeviceBuffer<std::int32_t> seq(std::vector<std::int32_t>(a.batch, static_cast<int>(max_tokens)));
  DenseDecodeAttentionParams p;
  p.shape.batch = a.batch, p.shape.n_heads = a.n_heads, p.shape.kv_heads = a.kv_heads, p.shape.head_dim = a.d;
  p.q = q.get(), p.k = k.get(), p.v = v.get(), p.seq_len = seq.get(), p.out = out.get(), p.max_tokens = max_tokens;
  for (const DecodeCase& c : g_decode_cases) {
    select_decode_kernel(c.kernel);
    p.shape.n_splits = case_splits(a, c, static_cast<int>((max_tokens + 63) / 64));
    DeviceBuffer<unsigned char> ws(decode_attention_workspace_bytes(p.shape));
    p.shape.workspace = ws.get();
    const double us = time_us([&](int) { dense_decode_attention_cuda(p, nullptr); });
    row("dense_decode_attention " + c.kernel, attention_shape(a, std::to_string(max_tokens) + " tok", p.shape.n_splits),
        us, 2.0 * k.size() * sizeof(bf16), kHbmGbps);
  }
}

void bench_attention() {
  for (const testing::cases::DecodeAttentionCase& a : testing::cases::decode_attention_cases(false)) {
    DeviceBuffer<bf16> q(testing::random_bf16(std::size_t(a.batch) * a.n_heads * a.d, 3));
    DeviceBuffer<bf16> out(std::size_t(a.batch) * a.n_heads * a.d);
    bench_sparse_attention(a, q, out);
    bench_dense_attention(a, q, out);
  }
  unsetenv("FORESIGHT_DECODE_KERNEL");
}

void bench_selection() {
  const int batch = 16, kv_heads = 2, n_heads = 32, d = 128, max_blocks = 2048, max_comp = 8190;
  const std::vector<std::int32_t> n_comp(batch, max_comp), n_blocks(batch, max_blocks);
  DeviceBuffer<std::int32_t> d_nc(n_comp), d_nb(n_blocks);
  // Scoring: 67 MB of compressed keys per layer, 2 copies.
  std::vector<DeviceBuffer<bf16>> kc;
  for (int c = 0; c < 2; ++c) kc.emplace_back(testing::random_bf16(std::size_t(batch) * max_comp * kv_heads * d, 40 + c));
  DeviceBuffer<bf16> f(testing::random_bf16(std::size_t(batch) * n_heads * d, 4));
  DeviceBuffer<float> scores(std::size_t(batch) * kv_heads * max_comp);
  BlockScoreParams sp;
  sp.sel = f.get(), sp.n_comp = d_nc.get(), sp.scores = scores.get(), sp.batch = batch, sp.kv_heads = kv_heads;
  sp.n_heads = n_heads, sp.head_dim = d, sp.max_comp = max_comp;
  const double kc_bytes = double(batch) * max_comp * kv_heads * d * sizeof(bf16);
  double us = time_us([&](int i) { sp.kc = kc[i % 2].get(); block_score_forecast_cuda(sp, nullptr); });
  row("block_score_forecast", "b16 kv2 d128 8190 comp (128K)", us, kc_bytes, kHbmGbps);
  DeviceBuffer<unsigned char> ws(query_group_workspace_bytes(sp));
  sp.workspace = ws.get();
  us = time_us([&](int i) { sp.kc = kc[i % 2].get(); block_score_query_group_cuda(sp, nullptr); });
  row("block_score_query_group", "b16 h32/2 d128 8190 comp (128K)", us, kc_bytes, kHbmGbps);

  // Pooling + top-k: scores of one layer are 1 MiB; rotate 64 copies (64 MiB).
  constexpr int kCopies = 64;
  std::vector<DeviceBuffer<float>> sc;
  for (int c = 0; c < kCopies; ++c) sc.emplace_back(testing::random_f32(std::size_t(batch) * kv_heads * max_comp, 100 + c, -5.f, 5.f));
  DeviceBuffer<std::int32_t> sel(std::size_t(batch) * kv_heads * 96);
  BlockSelectParams bp;
  bp.n_comp = d_nc.get(), bp.n_blocks = d_nb.get(), bp.selected = sel.get(), bp.batch = batch, bp.kv_heads = kv_heads;
  bp.max_comp = max_comp, bp.max_blocks = max_blocks, bp.k = 96;
  us = time_us([&](int i) { bp.scores = sc[i % kCopies].get(); block_select_cuda(bp, nullptr); });
  row("block_select (pool+topk)", "b16 kv2 2048 blocks k96 (target < 20 us)", us,
      double(batch) * kv_heads * max_comp * sizeof(float), kHbmGbps);

  // Working-set update for one layer: 32 rows, k 96 (exact) and 512 slots
  // (LRU). 16 disjoint selections rotate, so every call loads 96 blocks per row.
  for (int slots : {96, 512}) {
    const int rows = batch * kv_heads, k = 96;
    constexpr int kSets = 16;
    std::vector<std::int32_t> map(std::size_t(rows) * slots, -1);
    std::vector<DeviceBuffer<std::int32_t>> sets;
    for (int c = 0; c < kSets; ++c) {
      std::vector<std::int32_t> s(std::size_t(rows) * k);
      for (int r = 0; r < rows; ++r)
        for (int i = 0; i < k; ++i) s[std::size_t(r) * k + i] = c * 1000 + 3 * i;
      sets.emplace_back(s);
    }
    DeviceBuffer<std::int32_t> d_map(map), lb(map.size()), ls(map.size()), cnt(rows);
    DeviceBuffer<std::int64_t> used(std::vector<std::int64_t>(map.size(), 0));
    WorkingSetParams wp;
    wp.block_map = d_map.get(), wp.last_used = slots > k ? used.get() : nullptr, wp.load_block = lb.get();
    wp.load_slot = ls.get(), wp.load_count = cnt.get(), wp.rows = rows, wp.n_slots = slots, wp.k = k;
    us = time_us([&](int i) {
      wp.selected = sets[i % kSets].get(), wp.step = i;
      working_set_update_cuda(wp, nullptr);
    });
    row(slots > k ? "working_set_update (lru)" : "working_set_update", "32 rows k96 slots " + std::to_string(slots),
        us, double(map.size()) * 4 * 2, kHbmGbps);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const char* csv = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--csv") && i + 1 < argc) {
      csv = argv[++i];
    } else if (!std::strcmp(argv[i], "--reps") && i + 1 < argc) {
      g_reps = std::max(1, std::atoi(argv[++i]));
    } else if (!std::strcmp(argv[i], "--calls") && i + 1 < argc) {
      g_calls = std::max(1, std::atoi(argv[++i]));
    } else if (!std::strcmp(argv[i], "--attention-only")) {
      g_attention_only = true;
    } else if (!std::strcmp(argv[i], "--gather-only")) {
      g_gather_only = true;
    } else if (!std::strcmp(argv[i], "--decode-cases") && i + 1 < argc && parse_decode_cases(argv[i + 1], &g_decode_cases)) {
      ++i;
    } else {
      std::fprintf(stderr, "usage: %s [--csv PATH] [--reps N] [--calls N] [--attention-only | --gather-only] [--decode-cases LIST]\n  --csv PATH  also write the table as CSV\n"
                           "  --reps N    timed runs per case, median reported (default 20)\n"
                           "  --calls N   back-to-back calls per timed run, time per call reported (default 1:\n"
                           "              single-call latency including the launch)\n"
                           "  --attention-only  only the decode attention cases (default: all kernels)\n"
                           "  --gather-only     only the host gathers: rate by path and cost to a GEMM beside it\n"
                           "  --decode-cases LIST  decode attention cases KERNEL:SPLITS,... with KERNEL one of\n"
                           "              default, warp, pipe2, pipe3, pipe6 and SPLITS 0 for default_decode_splits\n"
                           "              (default: default:0,warp:0)\n",
                           argv[0]);
      return 2;
    }
  }
  testing::require_gpu_or_skip("bench_kernels_sparse");
  if (csv && !(g_csv = std::fopen(csv, "w"))) {
    std::fprintf(stderr, "bench_kernels_sparse: cannot write --csv file %s\n", csv);
    return 2;
  }
  if (g_csv) std::fprintf(g_csv, "op,shape,us,gbps,pct_of_ceiling\n");
  cudaDeviceProp prop{};
  FORESIGHT_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  std::printf("device %s, %d SMs; ceilings HBM %.0f GB/s, pinned H2D %.0f GB/s\n", prop.name,
              prop.multiProcessorCount, kHbmGbps, kPcieGbps);
  std::printf("%-28s %-46s %10s %10s %8s\n", "op", "shape", "us", "GB/s", "%ceil");
  try {
    if (g_gather_only) {
      bench_gather();
      bench_gather_interference();
    } else {
      if (!g_attention_only) bench_selection();
      bench_attention();
    }
    if (!g_attention_only && !g_gather_only) {
      bench_gather_d2d();
      bench_gather();
      bench_gather_interference();
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_kernels_sparse: %s\n", e.what());
    return 1;
  }
  if (g_csv) std::fclose(g_csv);
  return 0;
}

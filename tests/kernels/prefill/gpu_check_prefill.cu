// GPU check of sparse prefill: the CUDA block-sparse kernel against the CPU
// reference for every pattern (each kind alone, mixed heads, GQA, ragged
// last block, head_dim 64 and 128), full coverage against dense prefill
// attention (CPU and the mma kernel), the CUDA estimate against the CPU
// estimate, and the whole dynamic path (GPU estimate -> choose -> lower ->
// GPU kernel) against the CPU kernel on the same layout. Outputs are
// poisoned with NaN first. Prints one line per case and "N passed, M
// failed"; exits 77 without a GPU. --quick runs the small shapes only.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "foresight/kernels/prefill_attention.hpp"
#include "foresight/kernels/sparse_prefill.hpp"
#include "gpu_present.hpp"

#include "../dense/gpu_check_util.cuh"  // after bf16.hpp, which it uses
#include "numeric.hpp"
#include "sparse_prefill_cases.hpp"

using namespace foresight;
using namespace foresight::kernels;
using foresight::testing::DeviceBuffer;

namespace {

constexpr double kBf16Tol = 1e-2;  // rel L2 for bf16 outputs (as the dense check)
constexpr double kEstimateTol = 1e-3;

struct Shape {
  std::int64_t tokens;
  int nh, nkv, d;
};
std::string name(const Shape& s, const std::string& what) {
  return std::to_string(s.tokens) + "x" + std::to_string(s.nh) + "/" + std::to_string(s.nkv) + "x" +
         std::to_string(s.d) + " " + what;
}

struct Inputs {
  std::vector<bf16> q, k, v;
};
Inputs random_inputs(const Shape& s, std::uint64_t seed) {
  return {testing::random_bf16(s.tokens * s.nh * s.d, seed, -2, 2),
          testing::random_bf16(s.tokens * s.nkv * s.d, seed + 1, -2, 2),
          testing::random_bf16(s.tokens * s.nkv * s.d, seed + 2)};
}

// Output of one kernel variant on one layout (device inputs, poisoned output).
std::vector<bf16> run_variant(const Shape& s, const Inputs& in, const SparsePrefillLayout& l, int variant) {
  DeviceBuffer<bf16> dq(in.q), dk(in.k), dv(in.v), dout(in.q.size());
  dout.poison();
  SparsePrefillDeviceLayout dl(l);
  const PrefillAttentionParams gpu{dq.get(), dk.get(), dv.get(), dout.get(), 0, s.tokens, s.nh, s.nkv, s.d};
  sparse_prefill_cuda_variant({gpu, dl.view()}, variant, nullptr);
  return dout.download();
}

// CUDA sparse kernel (one variant) vs CPU sparse reference on one layout: rel L2 error.
double check_layout(const Shape& s, const Inputs& in, const SparsePrefillLayout& l,
                    int variant = kSparsePrefillDefaultVariant) {
  std::vector<bf16> ref(in.q.size());
  const PrefillAttentionParams cpu{in.q.data(), in.k.data(), in.v.data(), ref.data(), 0, s.tokens, s.nh, s.nkv, s.d};
  sparse_prefill_cpu({cpu, host_view(l)});
  return testing::rel_l2_error(run_variant(s, in, l, variant), ref);
}

// Variants differ only in how rows share K/V tiles: their outputs must be
// bit-identical. Returns the number of differing elements.
double variants_differ(const Shape& s, const Inputs& in, const SparsePrefillLayout& l) {
  const std::vector<bf16> first = run_variant(s, in, l, 0);
  double differ = 0;
  for (int v = 1; v < kSparsePrefillVariants; ++v) {
    const std::vector<bf16> other = run_variant(s, in, l, v);
    for (std::size_t i = 0; i < first.size(); ++i) differ += std::memcmp(&first[i], &other[i], sizeof(bf16)) != 0;
  }
  return differ;
}

void run_case(testing::Tally& t, const std::string& op, const std::string& shape, const std::function<double()>& body,
              double tol) {
  try {
    t.report(op, shape, body(), tol);
  } catch (const std::exception& e) {
    t.error(op, shape, e.what());
  }
}

void check_shape(testing::Tally& t, const Shape& s, std::uint64_t seed) {
  const Inputs in = random_inputs(s, seed);
  std::mt19937_64 rng(seed);
  const SparsePatternKind kinds[3] = {SparsePatternKind::triangular, SparsePatternKind::interval_slash,
                                      SparsePatternKind::block_cluster};
  for (SparsePatternKind kind : kinds) {  // every head the same kind, random parameters per head
    std::vector<HeadPattern> pats;
    for (int h = 0; h < s.nh; ++h) pats.push_back(testing::random_pattern(kind, s.tokens, rng));
    const SparsePrefillLayout l = lower_sparse_prefill(pats, s.tokens);
    for (int v = 0; v < kSparsePrefillVariants; ++v) {
      run_case(t, "sparse_prefill", name(s, sparse_pattern_name(kind)) + " v" + std::to_string(v),
               [&] { return check_layout(s, in, l, v); }, kBf16Tol);
    }
  }
  std::vector<HeadPattern> mixed;
  for (int h = 0; h < s.nh; ++h) mixed.push_back(testing::random_pattern(kinds[h % 3], s.tokens, rng));
  const SparsePrefillLayout mixed_layout = lower_sparse_prefill(mixed, s.tokens);
  for (int v = 0; v < kSparsePrefillVariants; ++v) {
    run_case(t, "sparse_prefill", name(s, "mixed kinds v" + std::to_string(v)),
             [&] { return check_layout(s, in, mixed_layout, v); }, kBf16Tol);
  }
  run_case(t, "sparse_prefill variants bitwise", name(s, "mixed kinds, elements differing"),
           [&] { return variants_differ(s, in, mixed_layout); }, 0);
  // Full coverage (one kind per head in turn) against dense attention.
  std::vector<HeadPattern> full(static_cast<std::size_t>(s.nh));
  for (int h = 0; h < s.nh; ++h) {
    HeadPattern& p = full[static_cast<std::size_t>(h)];
    p.kind = kinds[h % 3];
    p.triangular = {s.tokens, 1};
    for (std::int64_t o = 0; o < s.tokens; ++o) p.interval_slash.slashes.push_back(o);
    p.block_cluster.local_blocks = (s.tokens + 63) / 64;
  }
  run_case(t, "sparse_prefill full vs dense", name(s, "cpu dense"), [&] {
    std::vector<bf16> dense(in.q.size());
    prefill_attention_cpu({in.q.data(), in.k.data(), in.v.data(), dense.data(), 0, s.tokens, s.nh, s.nkv, s.d});
    DeviceBuffer<bf16> dq(in.q), dk(in.k), dv(in.v), dout(in.q.size());
    dout.poison();
    SparsePrefillDeviceLayout dl(lower_sparse_prefill(full, s.tokens));
    sparse_prefill_cuda({{dq.get(), dk.get(), dv.get(), dout.get(), 0, s.tokens, s.nh, s.nkv, s.d}, dl.view()}, nullptr);
    return testing::rel_l2_error(dout.download(), dense);
  }, kBf16Tol);
  run_case(t, "sparse_prefill full vs dense", name(s, "mma dense"), [&] {
    DeviceBuffer<bf16> dq(in.q), dk(in.k), dv(in.v), dout(in.q.size()), ddense(in.q.size());
    dout.poison();
    ddense.poison();
    SparsePrefillDeviceLayout dl(lower_sparse_prefill(full, s.tokens));
    const PrefillAttentionParams a{dq.get(), dk.get(), dv.get(), ddense.get(), 0, s.tokens, s.nh, s.nkv, s.d};
    prefill_attention_mma(a, nullptr);
    PrefillAttentionParams b = a;
    b.o = dout.get();
    sparse_prefill_cuda({b, dl.view()}, nullptr);
    return testing::rel_l2_error(dout.download(), ddense.download());
  }, kBf16Tol);
}

// CUDA estimate vs CPU estimate (rel L2 per summary, worst of three), then
// the dynamic path: choose on the GPU estimate, lower, run both kernels.
void check_estimate(testing::Tally& t, const Shape& s, std::uint64_t seed, int n_last = 64) {
  std::vector<testing::PlantedHead> heads(static_cast<std::size_t>(s.nh));
  for (int h = 0; h < s.nh; ++h) {
    auto& p = heads[static_cast<std::size_t>(h)];
    p.local = 12;
    if (h % 3 == 0) p.sinks = 4, p.sink_score = 16;
    if (h % 3 == 1) p.columns = {s.tokens / 7, s.tokens / 3, s.tokens / 2}, p.column_score = 15;
    if (h % 3 == 2) p.cluster_lo = s.tokens / 4, p.cluster_hi = s.tokens / 4 + 160, p.cluster_score = 10, p.local = 4;
  }
  Inputs in;
  testing::plant(heads, s.nkv, s.d, s.tokens, seed, &in.q, &in.k, &in.v);
  const PrefillAttentionParams cpu{in.q.data(), in.k.data(), in.v.data(), nullptr, 0, s.tokens, s.nh, s.nkv, s.d};
  SparsePrefillEstimate ge;
  run_case(t, "sparse_prefill_estimate", name(s, "cuda vs cpu, last " + std::to_string(n_last)), [&] {
    const SparsePrefillEstimate ce = estimate_sparse_prefill_cpu(cpu, n_last);
    DeviceBuffer<bf16> dq(in.q), dk(in.k), dv(in.v);
    const std::int64_t qb = (s.tokens + 63) / 64;
    DeviceBuffer<float> key(ce.key_mass.size()), off(ce.key_mass.size()), blk(static_cast<std::size_t>(s.nh * qb)),
        stats(static_cast<std::size_t>(sparse_prefill_estimate_scratch_floats(s.nh, s.tokens, n_last)));
    key.poison(), off.poison(), blk.poison();
    estimate_sparse_prefill_cuda({dq.get(), dk.get(), dv.get(), nullptr, 0, s.tokens, s.nh, s.nkv, s.d}, n_last,
                                 key.get(), off.get(), blk.get(), stats.get(), nullptr);
    ge = ce;
    ge.key_mass = key.download(), ge.offset_mass = off.download(), ge.block_offset_mass = blk.download();
    return std::max({testing::rel_l2_error(ge.key_mass, ce.key_mass), testing::rel_l2_error(ge.offset_mass, ce.offset_mass),
                     testing::rel_l2_error(ge.block_offset_mass, ce.block_offset_mass)});
  }, kEstimateTol);
  run_case(t, "sparse_prefill dynamic", name(s, "gpu estimate -> choose"), [&] {
    if (ge.key_mass.empty()) throw std::runtime_error("no GPU estimate");
    const auto choice = choose_sparse_prefill(ge, 0.95);
    std::vector<HeadPattern> pats;
    std::int64_t blocks = 0;
    for (const auto& c : choice) pats.push_back(c.pattern), blocks += c.blocks;
    std::printf("     dynamic: %lld of %lld dense blocks; head 0..2: %s %s %s\n", static_cast<long long>(blocks),
                static_cast<long long>(dense_causal_blocks(s.tokens) * s.nh), sparse_pattern_name(choice[0].pattern.kind),
                sparse_pattern_name(choice[1 % s.nh].pattern.kind), sparse_pattern_name(choice[2 % s.nh].pattern.kind));
    return check_layout(s, in, lower_sparse_prefill(pats, s.tokens));
  }, kBf16Tol);
}

}  // namespace

int main(int argc, char** argv) {
  testing::require_gpu_or_skip("gpu_check_prefill");
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  testing::Tally t;
  std::vector<Shape> shapes = {{1, 2, 1, 64}, {200, 4, 2, 64}, {333, 6, 3, 128}};
  if (!quick) {
    shapes.push_back({2048, 8, 2, 128});
    shapes.push_back({4100, 4, 1, 128});
    shapes.push_back({2000, 32, 8, 128});
  }
  std::uint64_t seed = 100;
  for (const Shape& s : shapes) check_shape(t, s, seed += 10);
  std::vector<Shape> est = {{300, 3, 3, 64}, {1024, 6, 2, 128}};
  if (!quick) est.push_back({4096, 16, 2, 128});  // the CPU reference of a dense-ish layout is scalar: keep it small
  for (const Shape& s : est) check_estimate(t, s, seed += 10);
  check_estimate(t, {40, 2, 1, 64}, seed += 10);      // fewer tokens than estimated rows
  check_estimate(t, {1000, 4, 2, 128}, seed += 10, 150);  // three row chunks, the last partial
  // Validation on the CUDA path.
  run_case(t, "sparse_prefill validation", "head_dim 96", [&] {
    const SparsePrefillLayout l = lower_sparse_prefill(std::vector<HeadPattern>(1), 64);
    DeviceBuffer<bf16> x(64 * 96);
    try {
      sparse_prefill_cuda({{x.get(), x.get(), x.get(), x.get(), 0, 64, 1, 1, 96}, host_view(l)}, nullptr);
    } catch (const std::invalid_argument& e) {
      return std::strstr(e.what(), "attn.head_dim") ? 0.0 : 1.0;
    }
    return 1.0;
  }, 0);
  run_case(t, "sparse_prefill validation", "o missing", [&] {
    const SparsePrefillLayout l = lower_sparse_prefill(std::vector<HeadPattern>(1), 64);
    SparsePrefillDeviceLayout dl(l);
    DeviceBuffer<bf16> x(64 * 64);
    try {
      sparse_prefill_cuda({{x.get(), x.get(), x.get(), nullptr, 0, 64, 1, 1, 64}, dl.view()}, nullptr);
    } catch (const std::invalid_argument& e) {
      return std::strstr(e.what(), "o must be set") ? 0.0 : 1.0;
    }
    return 1.0;
  }, 0);
  return t.finish();
}

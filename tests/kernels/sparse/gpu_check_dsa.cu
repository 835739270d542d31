// GPU check of the DSA kernels against their CPU references on random
// inputs, outputs poisoned first: indexer_score (rel L2, -inf positions
// exact), token_select (ids and counts exact, also on scores with many ties,
// NaN and +inf, and on the GPU indexer's own scores), token_gather (bytes
// exact; rows past count must stay poisoned), from device and mapped host
// stores. Shapes from tiny to batch 4 x 32K and batch 1 x 128K tokens.
// Usage: gpu_check_dsa [--quick] [--seed N]. Exit 0 all passed, 1 a
// failure, 77 no GPU.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "device_buffer.cuh"
#include "foresight/kernels/dsa.hpp"
#include "gpu_present.hpp"
#include "numeric.hpp"

using namespace foresight;
using namespace foresight::kernels;
using testing::DeviceBuffer;

namespace {

int g_passed = 0, g_failed = 0;
std::uint64_t g_seed = 1;

void report(const std::string& op, const std::string& shape, bool ok, const std::string& detail) {
  std::printf("%-14s %-48s %s  %s\n", op.c_str(), shape.c_str(), ok ? "PASS" : "FAIL", detail.c_str());
  std::fflush(stdout);
  (ok ? g_passed : g_failed)++;
}

std::vector<std::int32_t> random_counts(int n, int lo, int hi, std::mt19937_64& rng) {
  std::vector<std::int32_t> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = lo + static_cast<int>(rng() % static_cast<std::uint64_t>(hi - lo + 1));
  return v;
}

std::string shape_of(int batch, int tokens, const char* extra) {
  return "b" + std::to_string(batch) + " tokens" + std::to_string(tokens) + " " + extra;
}

// Runs token_select on CPU and GPU over the same scores; true if identical.
bool select_matches(const std::vector<float>& scores, const std::vector<std::int32_t>& n_tokens, int batch,
                    int max_tokens, int topk, int sink, int local, std::string* detail) {
  TokenSelectParams p;
  std::vector<std::int32_t> ids(std::size_t(batch) * topk), count(static_cast<std::size_t>(batch));
  p.scores = scores.data(), p.n_tokens = n_tokens.data(), p.ids = ids.data(), p.count = count.data();
  p.batch = batch, p.max_tokens = max_tokens, p.topk = topk, p.sink_tokens = sink, p.local_tokens = local;
  token_select_cpu(p);
  DeviceBuffer<float> d_scores(scores);
  DeviceBuffer<std::int32_t> d_n(n_tokens), d_ids(ids.size()), d_count(count.size());
  DeviceBuffer<unsigned char> ws(token_select_workspace_bytes(p));
  d_ids.poison(0xa5), d_count.poison(0xa5), ws.poison(0x5a);  // the launcher must clear what it needs
  TokenSelectParams g = p;
  g.scores = d_scores.get(), g.n_tokens = d_n.get(), g.ids = d_ids.get(), g.count = d_count.get();
  g.workspace = ws.get();
  token_select_cuda(g, nullptr);
  token_select_cuda(g, nullptr);  // twice: the workspace state must reset between calls
  const auto got = d_ids.download(), got_count = d_count.download();
  std::size_t diff = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) diff += got[i] != ids[i];
  *detail = std::to_string(diff) + " ids differ, counts " + (got_count == count ? "equal" : "DIFFER");
  return diff == 0 && got_count == count;
}

void check_indexer(int batch, int heads, int d, int max_tokens, int pad_rows, int topk) {
  std::mt19937_64 rng(++g_seed);
  auto n_tokens = random_counts(batch, 0, max_tokens, rng);
  n_tokens[0] = max_tokens;
  const std::int64_t stride = std::int64_t{max_tokens + pad_rows} * d;
  const auto k = testing::random_bf16(std::size_t(batch) * stride, ++g_seed);
  const auto q = testing::random_bf16(std::size_t(batch) * heads * d, ++g_seed);
  const auto w = testing::random_bf16(std::size_t(batch) * heads, ++g_seed, -0.5f, 1.f);
  std::vector<float> ref(std::size_t(batch) * max_tokens);
  IndexerScoreParams p;
  p.q = q.data(), p.w = w.data(), p.k = k.data(), p.n_tokens = n_tokens.data(), p.scores = ref.data();
  p.batch = batch, p.heads = heads, p.head_dim = d, p.max_tokens = max_tokens;
  p.k_batch_stride = pad_rows ? stride : 0;
  indexer_score_cpu(p);
  DeviceBuffer<bf16> d_k(k), d_q(q);
  DeviceBuffer<bf16> d_w(w);
  DeviceBuffer<float> d_s(ref.size());
  DeviceBuffer<std::int32_t> d_n(n_tokens);
  d_s.poison(0xff);
  IndexerScoreParams g = p;
  g.q = d_q.get(), g.w = d_w.get(), g.k = d_k.get(), g.n_tokens = d_n.get(), g.scores = d_s.get();
  indexer_score_cuda(g, nullptr);
  const auto got = d_s.download();
  std::vector<float> a, b;
  bool inf_ok = true;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    if (std::isinf(ref[i]) != std::isinf(got[i]) || std::isnan(got[i])) inf_ok = false;
    if (!std::isinf(ref[i])) a.push_back(got[i]), b.push_back(ref[i]);
  }
  const double err = testing::rel_l2_error(a, b);
  char detail[96];
  std::snprintf(detail, sizeof detail, "rel_l2 %.2e%s", err, inf_ok ? "" : ", -inf/NaN mismatch");
  const std::string shape = "b" + std::to_string(batch) + " h" + std::to_string(heads) + " d" + std::to_string(d) +
                            " tokens" + std::to_string(max_tokens) + (pad_rows ? " strided" : "");
  report("indexer_score", shape, inf_ok && err <= 1e-5, detail);
  // The GPU's own scores through both selections (real score distribution).
  std::string sel_detail;
  const bool big = topk >= 128;
  const bool ok = select_matches(got, n_tokens, batch, max_tokens, topk, big ? 4 : 1, big ? 64 : 1, &sel_detail);
  report("token_select", shape + " k" + std::to_string(topk) + " indexer", ok, sel_detail);
}

void check_select(int batch, int max_tokens, int topk, int sink, int local, bool ties) {
  std::mt19937_64 rng(++g_seed);
  auto n_tokens = random_counts(batch, 0, max_tokens, rng);
  n_tokens[0] = max_tokens;
  if (batch > 2) n_tokens[1] = std::min(max_tokens, topk / 2), n_tokens[2] = std::min(max_tokens, topk + 1);
  auto scores = testing::random_f32(std::size_t(batch) * max_tokens, ++g_seed, -10.f, 10.f);
  if (ties)
    for (auto& s : scores) s = std::round(s);  // 21 distinct values
  for (int i = 0; i < 20; ++i) {
    const std::size_t at = rng() % scores.size();
    scores[at] = i % 3 == 0 ? NAN : i % 3 == 1 ? INFINITY : -INFINITY;
  }
  std::string detail;
  const bool ok = select_matches(scores, n_tokens, batch, max_tokens, topk, sink, local, &detail);
  const std::string extra = "k" + std::to_string(topk) + " sink" + std::to_string(sink) + " local" +
                            std::to_string(local) + (ties ? " ties" : "");
  report("token_select", shape_of(batch, max_tokens, extra.c_str()), ok, detail);
}

void check_gather(int batch, int max_tokens, int topk, int kv_heads, int d, bool host_store) {
  std::mt19937_64 rng(++g_seed);
  auto n_tokens = random_counts(batch, 1, max_tokens, rng);
  n_tokens[0] = max_tokens;
  const auto scores = testing::random_f32(std::size_t(batch) * max_tokens, ++g_seed);
  TokenSelectParams sp;
  std::vector<std::int32_t> ids(std::size_t(batch) * topk), count(static_cast<std::size_t>(batch));
  sp.scores = scores.data(), sp.n_tokens = n_tokens.data(), sp.ids = ids.data(), sp.count = count.data();
  sp.batch = batch, sp.max_tokens = max_tokens, sp.topk = topk;
  token_select_cpu(sp);
  const std::size_t store_elems = std::size_t(batch) * kv_heads * max_tokens * d;
  const auto sk = testing::random_bf16(store_elems, ++g_seed), sv = testing::random_bf16(store_elems, ++g_seed);
  const std::size_t out_elems = std::size_t(batch) * topk * kv_heads * d;
  std::vector<bf16> ref_k(out_elems, bf16{0xffff}), ref_v(out_elems, bf16{0xffff});
  TokenGatherParams p;
  p.store_k = sk.data(), p.store_v = sv.data(), p.ids = ids.data(), p.count = count.data();
  p.out_k = ref_k.data(), p.out_v = ref_v.data();
  p.batch = batch, p.topk = topk, p.kv_heads = kv_heads, p.head_dim = d, p.max_tokens = max_tokens;
  token_gather_cpu(p);  // untouched rows keep 0xffff, as the poisoned GPU buffers
  DeviceBuffer<bf16> d_sk, d_sv, d_ok(out_elems), d_ov(out_elems);
  testing::MappedHostBuffer<bf16> h_sk(host_store ? store_elems : 1), h_sv(host_store ? store_elems : 1);
  TokenGatherParams g = p;
  if (host_store) {
    std::memcpy(h_sk.host(), sk.data(), store_elems * sizeof(bf16));
    std::memcpy(h_sv.host(), sv.data(), store_elems * sizeof(bf16));
    g.store_k = h_sk.device(), g.store_v = h_sv.device();
  } else {
    d_sk = DeviceBuffer<bf16>(sk), d_sv = DeviceBuffer<bf16>(sv);
    g.store_k = d_sk.get(), g.store_v = d_sv.get();
  }
  DeviceBuffer<std::int32_t> d_ids(ids), d_count(count);
  d_ok.poison(0xff), d_ov.poison(0xff);
  g.ids = d_ids.get(), g.count = d_count.get(), g.out_k = d_ok.get(), g.out_v = d_ov.get();
  token_gather_cuda(g, nullptr);
  const auto got_k = d_ok.download(), got_v = d_ov.download();
  std::size_t diff = 0;
  for (std::size_t i = 0; i < out_elems; ++i)
    diff += (got_k[i].bits != ref_k[i].bits) + (got_v[i].bits != ref_v[i].bits);
  const std::string extra = "k" + std::to_string(topk) + " kv" + std::to_string(kv_heads) + " d" + std::to_string(d) +
                            (host_store ? " host store" : " device store");
  report("token_gather", shape_of(batch, max_tokens, extra.c_str()), diff == 0,
         std::to_string(diff) + " elements differ");
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) {
      quick = true;
    } else if (!std::strcmp(argv[i], "--seed") && i + 1 < argc) {
      g_seed = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--seed N]\n  --quick   small shapes only (for compute-sanitizer)\n"
                           "  --seed N  first random seed (default 1)\n", argv[0]);
      return 2;
    }
  }
  testing::require_gpu_or_skip("gpu_check_dsa");
  try {
    check_indexer(2, 4, 64, 37, 0, 8);
    check_indexer(3, 3, 64, 1000, 5, 100);
    check_indexer(2, 16, 128, 777, 0, 64);
    check_indexer(2, 5, 32, 300, 1, 16);
    check_indexer(1, 2, 8, 50, 0, 7);
    check_indexer(1, 4, 256, 90, 0, 20);
    check_select(2, 37, 8, 1, 1, true);
    check_select(3, 5000, 300, 4, 64, true);
    check_select(4, 3000, 2048, 0, 1, false);
    check_select(3, 1025, 1000, 0, 0, true);
    check_gather(2, 40, 8, 2, 128, false);
    check_gather(3, 500, 64, 3, 64, true);
    check_gather(2, 100, 16, 1, 8, false);
    if (!quick) {
      // MiniCPM4.1-8B-like: indexer 4 heads x 64, topk 2048, 2 KV heads x 128.
      check_indexer(4, 4, 64, 32768, 0, 2048);
      check_indexer(1, 4, 64, 131072, 0, 2048);
      check_select(4, 32768, 2048, 4, 1, false);
      check_select(4, 32768, 2048, 4, 64, true);
      check_select(1, 131072, 2048, 0, 1, false);
      check_select(1, 131072, 2048, 16, 128, true);
      check_select(16, 131072, 2048, 1, 1, false);
      check_gather(4, 32768, 2048, 2, 128, false);
      check_gather(1, 131072, 2048, 2, 128, true);
      check_gather(16, 8192, 2048, 2, 128, true);
    }
    FORESIGHT_CUDA_CHECK(cudaDeviceSynchronize());
  } catch (const std::exception& e) {
    std::printf("ERROR: %s\n", e.what());
    ++g_failed;
  }
  std::printf("%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}

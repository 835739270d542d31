// GPU check: every sparse-path CUDA kernel against its CPU reference on fresh
// random inputs over a grid of shapes (MiniCPM4.1-8B included), outputs
// poisoned first. Decode attention shapes come from
// tests/support/kernel_cases.hpp (shared with bench_kernels_sparse). One line
// per case, then "N passed, M failed".
// Usage: gpu_check_sparse [--quick] [--csv] [--seed N]   (--quick: small
// shapes, for compute-sanitizer; --csv: CSV lines). Exit 0 all passed,
// 1 a failure, 77 no GPU.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "device_buffer.cuh"
#include "foresight/kernels/block_score.hpp"
#include "foresight/kernels/block_select.hpp"
#include "foresight/kernels/decode_attention.hpp"
#include "foresight/kernels/kv_append.hpp"
#include "foresight/kernels/kv_gather.hpp"
#include "foresight/kernels/kv_synth.hpp"
#include "foresight/kernels/slot_list.hpp"
#include "foresight/kernels/working_set.hpp"
#include "gpu_present.hpp"
#include "kernel_cases.hpp"
#include "numeric.hpp"

using namespace foresight;
using namespace foresight::kernels;
using testing::DeviceBuffer;

namespace {

int g_passed = 0, g_failed = 0;
std::uint64_t g_seed = 1;
bool g_csv = false;

void report(const std::string& op, const std::string& shape, bool ok, const std::string& detail) {
  if (g_csv)
    std::printf("%s,%s,%s,%s\n", op.c_str(), shape.c_str(), ok ? "PASS" : "FAIL", detail.c_str());
  else
    std::printf("%-26s %-52s %s  %s\n", op.c_str(), shape.c_str(), ok ? "PASS" : "FAIL", detail.c_str());
  std::fflush(stdout);
  (ok ? g_passed : g_failed)++;
}

std::string fmt(const char* f, double a) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, a);
  return buf;
}

// Float outputs: -inf positions must match exactly, the rest within rel L2.
bool compare_scores(const std::vector<float>& got, const std::vector<float>& ref, double tol, std::string* detail) {
  std::vector<float> a, b;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    if (std::isinf(ref[i]) != std::isinf(got[i]) || std::isnan(got[i])) {
      *detail = "mismatch of -inf/NaN at " + std::to_string(i);
      return false;
    }
    if (!std::isinf(ref[i])) a.push_back(got[i]), b.push_back(ref[i]);
  }
  const double err = testing::rel_l2_error(a, b);
  *detail = fmt("rel_l2 %.2e", err);
  return err <= tol;
}

std::vector<std::int32_t> random_counts(int n, int lo, int hi, std::mt19937_64& rng) {
  std::vector<std::int32_t> v(static_cast<std::size_t>(n));
  for (auto& x : v) x = lo + static_cast<int>(rng() % static_cast<std::uint64_t>(hi - lo + 1));
  return v;
}

void check_scoring(int batch, int n_heads, int kv_heads, int d, int max_comp) {
  std::mt19937_64 rng(++g_seed);
  auto n_comp = random_counts(batch, 0, max_comp, rng);
  n_comp[0] = max_comp;
  const auto kc = testing::random_bf16(std::size_t(batch) * max_comp * kv_heads * d, ++g_seed);
  const auto f = testing::random_bf16(std::size_t(batch) * kv_heads * d, ++g_seed);
  const auto q = testing::random_bf16(std::size_t(batch) * n_heads * d, ++g_seed, -2.f, 2.f);
  DeviceBuffer<bf16> d_kc(kc), d_f(f), d_q(q);
  DeviceBuffer<std::int32_t> d_n(n_comp);
  DeviceBuffer<float> d_s(std::size_t(batch) * kv_heads * max_comp);
  std::vector<float> ref(d_s.size());
  BlockScoreParams p;
  p.kc = kc.data(), p.n_comp = n_comp.data(), p.scores = ref.data();
  p.batch = batch, p.kv_heads = kv_heads, p.n_heads = n_heads, p.head_dim = d, p.max_comp = max_comp;
  const std::string shape = "b" + std::to_string(batch) + " h" + std::to_string(n_heads) + "/" +
                            std::to_string(kv_heads) + " d" + std::to_string(d) + " comp" + std::to_string(max_comp);
  std::string detail;
  {
    p.sel = f.data();
    block_score_forecast_cpu(p);
    BlockScoreParams g = p;
    g.sel = d_f.get(), g.kc = d_kc.get(), g.n_comp = d_n.get(), g.scores = d_s.get();
    d_s.poison(0xff);
    block_score_forecast_cuda(g, nullptr);
    const bool ok = compare_scores(d_s.download(), ref, 1e-5, &detail);
    report("block_score_forecast", shape, ok, detail);
  }
  {
    p.sel = q.data();
    block_score_query_group_cpu(p);
    DeviceBuffer<unsigned char> ws(query_group_workspace_bytes(p));
    BlockScoreParams g = p;
    g.sel = d_q.get(), g.kc = d_kc.get(), g.n_comp = d_n.get(), g.scores = d_s.get(), g.workspace = ws.get();
    d_s.poison(0xff);
    block_score_query_group_cuda(g, nullptr);
    const bool ok = compare_scores(d_s.download(), ref, 1e-4, &detail);
    report("block_score_query_group", shape, ok, detail);
  }
}

void check_select(int batch, int kv_heads, int max_blocks, int k, bool ties) {
  std::mt19937_64 rng(++g_seed);
  const int max_comp = 4 * max_blocks;
  auto n_blocks = random_counts(batch, 1, max_blocks, rng);
  n_blocks[0] = max_blocks;
  std::vector<std::int32_t> n_comp;
  for (int nb : n_blocks) n_comp.push_back(std::max(0, std::min(max_comp, 4 * nb - 3)));
  auto scores = testing::random_f32(std::size_t(batch) * kv_heads * max_comp, ++g_seed, -10.f, 10.f);
  if (ties)
    for (auto& s : scores) s = std::round(s);  // 21 distinct values: many ties
  scores[1] = NAN;
  BlockSelectParams p;
  std::vector<std::int32_t> ref(std::size_t(batch) * kv_heads * k);
  p.scores = scores.data(), p.n_comp = n_comp.data(), p.n_blocks = n_blocks.data(), p.selected = ref.data();
  p.batch = batch, p.kv_heads = kv_heads, p.max_comp = max_comp, p.max_blocks = max_blocks, p.k = k;
  block_select_cpu(p);
  DeviceBuffer<float> d_scores(scores);
  DeviceBuffer<std::int32_t> d_nc(n_comp), d_nb(n_blocks), d_sel(ref.size());
  d_sel.poison(0xa5);
  BlockSelectParams g = p;
  g.scores = d_scores.get(), g.n_comp = d_nc.get(), g.n_blocks = d_nb.get(), g.selected = d_sel.get();
  block_select_cuda(g, nullptr);
  const auto got = d_sel.download();
  std::size_t diff = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) diff += got[i] != ref[i];
  report("block_select", "b" + std::to_string(batch) + " kv" + std::to_string(kv_heads) + " blocks" +
                             std::to_string(max_blocks) + " k" + std::to_string(k) + (ties ? " ties" : ""),
         diff == 0, std::to_string(diff) + " ids differ");
}

void check_working_set(int rows, int n_slots, int k, bool lru) {
  std::mt19937_64 rng(++g_seed);
  const int universe = 3 * n_slots;
  std::vector<std::int32_t> map(std::size_t(rows) * n_slots), sel(std::size_t(rows) * k, -1), tail(rows);
  std::vector<std::int64_t> used(map.size());
  std::vector<int> ids(static_cast<std::size_t>(universe));
  std::iota(ids.begin(), ids.end(), 0);
  for (int r = 0; r < rows; ++r) {
    std::shuffle(ids.begin(), ids.end(), rng);
    for (int s = 0; s < n_slots; ++s) {
      map[std::size_t(r) * n_slots + s] = rng() % 8 == 0 ? -1 : ids[s];
      used[std::size_t(r) * n_slots + s] = static_cast<std::int64_t>(rng() % 50);
    }
    // Selection: about half resident blocks, the rest new; sometimes fewer than k.
    std::set<int> pick;
    const int want = rng() % 5 == 0 ? 1 + static_cast<int>(rng() % k) : k;
    while (static_cast<int>(pick.size()) < want) {
      const int b = rng() % 2 ? ids[rng() % n_slots] : ids[n_slots + rng() % (universe - n_slots)];
      pick.insert(b);
    }
    std::copy(pick.begin(), pick.end(), sel.begin() + std::ptrdiff_t(r) * k);
    tail[r] = rng() % 2 ? *pick.rbegin() : -1;
  }
  auto ref_map = map, ref_lb = std::vector<std::int32_t>(map.size(), -1), ref_ls = ref_lb;
  auto ref_used = used;
  std::vector<std::int32_t> ref_cnt(rows);
  WorkingSetParams p;
  p.block_map = ref_map.data(), p.last_used = lru ? ref_used.data() : nullptr, p.selected = sel.data();
  p.tail_block = tail.data(), p.load_block = ref_lb.data(), p.load_slot = ref_ls.data(), p.load_count = ref_cnt.data();
  p.rows = rows, p.n_slots = n_slots, p.k = k, p.step = 77;
  working_set_update_cpu(p);
  DeviceBuffer<std::int32_t> d_map(map), d_sel(sel), d_tail(tail), d_lb(map.size()), d_ls(map.size()), d_cnt(rows);
  DeviceBuffer<std::int64_t> d_used(used);
  d_lb.poison(0xa5), d_ls.poison(0xa5), d_cnt.poison(0xa5);
  WorkingSetParams g = p;
  g.block_map = d_map.get(), g.last_used = lru ? d_used.get() : nullptr, g.selected = d_sel.get();
  g.tail_block = d_tail.get(), g.load_block = d_lb.get(), g.load_slot = d_ls.get(), g.load_count = d_cnt.get();
  working_set_update_cuda(g, nullptr);
  const auto cnt = d_cnt.download(), lb = d_lb.download(), ls = d_ls.download();
  bool ok = cnt == ref_cnt && d_map.download() == ref_map && (!lru || d_used.download() == ref_used);
  for (int r = 0; ok && r < rows; ++r)
    for (int i = 0; i < ref_cnt[r]; ++i) {
      const std::size_t at = std::size_t(r) * n_slots + i;
      ok = ok && lb[at] == ref_lb[at] && ls[at] == ref_ls[at];
    }
  int loads = 0;
  for (int c : ref_cnt) loads += c;
  report(lru ? "working_set_update (lru)" : "working_set_update",
         "rows" + std::to_string(rows) + " slots" + std::to_string(n_slots) + " k" + std::to_string(k), ok,
         std::to_string(loads) + " loads");
}

void check_gather(int rows, int kv_heads, int max_blocks, int slots, int bt, int d, int n_ctas, bool host_store,
                  GatherPath path = GatherPath::sm_loads, int bulk_stages = 0) {
  std::mt19937_64 rng(++g_seed);
  const std::size_t elems = std::size_t(bt) * d, store_elems = std::size_t(rows) * max_blocks * elems;
  const auto k = testing::random_bf16(store_elems, ++g_seed), v = testing::random_bf16(store_elems, ++g_seed);
  testing::MappedHostBuffer<bf16> hk(host_store ? store_elems : 1), hv(host_store ? store_elems : 1);
  DeviceBuffer<bf16> dk(host_store ? 0 : store_elems), dv(host_store ? 0 : store_elems);
  if (host_store) {
    std::memcpy(hk.host(), k.data(), store_elems * sizeof(bf16));
    std::memcpy(hv.host(), v.data(), store_elems * sizeof(bf16));
  } else {
    dk.upload(k), dv.upload(v);
  }
  std::vector<std::int32_t> lb(std::size_t(rows) * slots, -1), ls(lb.size(), -1), cnt(rows);
  std::vector<int> perm_b(static_cast<std::size_t>(max_blocks)), perm_s(static_cast<std::size_t>(slots));
  for (int r = 0; r < rows; ++r) {
    std::iota(perm_b.begin(), perm_b.end(), 0), std::iota(perm_s.begin(), perm_s.end(), 0);
    std::shuffle(perm_b.begin(), perm_b.end(), rng), std::shuffle(perm_s.begin(), perm_s.end(), rng);
    cnt[r] = static_cast<int>(rng() % (std::min(slots, max_blocks) + 1));
    for (int i = 0; i < cnt[r]; ++i) lb[std::size_t(r) * slots + i] = perm_b[i], ls[std::size_t(r) * slots + i] = perm_s[i];
  }
  std::vector<bf16> ref_k(std::size_t(rows) * slots * elems, bf16{0xffff}), ref_v(ref_k);
  KvGatherParams p;
  p.store_k = k.data(), p.store_v = v.data(), p.slots_k = ref_k.data(), p.slots_v = ref_v.data();
  p.load_block = lb.data(), p.load_slot = ls.data(), p.load_count = cnt.data();
  p.rows = rows, p.kv_heads = kv_heads, p.list_stride = slots, p.slots_per_row = slots, p.max_blocks = max_blocks;
  p.block_tokens = bt, p.head_dim = d, p.n_ctas = n_ctas;
  kv_gather_cpu(p);
  DeviceBuffer<bf16> sk(ref_k.size()), sv(ref_k.size());
  DeviceBuffer<std::int32_t> d_lb(lb), d_ls(ls), d_cnt(cnt);
  sk.poison(0xff), sv.poison(0xff);
  KvGatherParams g = p;
  g.store_k = host_store ? hk.device() : dk.get(), g.store_v = host_store ? hv.device() : dv.get();
  g.slots_k = sk.get(), g.slots_v = sv.get(), g.load_block = d_lb.get(), g.load_slot = d_ls.get(), g.load_count = d_cnt.get();
  g.path = path, g.bulk_stages = bulk_stages;
  kv_gather_cuda(g, nullptr);
  auto same = [](const std::vector<bf16>& a, const std::vector<bf16>& b) {
    return std::memcmp(a.data(), b.data(), a.size() * sizeof(bf16)) == 0;
  };
  const auto got_k = sk.download(), got_v = sv.download();
  const std::string shape = "rows" + std::to_string(rows) + " blocks" + std::to_string(max_blocks) + " slots" +
                            std::to_string(slots) + " " + std::to_string(bt) + "x" + std::to_string(d) + " ctas" +
                            std::to_string(n_ctas) +
                            (path == GatherPath::bulk_copy ? " bulk stages" + std::to_string(bulk_stages) : "");
  report(host_store ? "kv_gather (host->gpu)" : "kv_gather (gpu->gpu)", shape, same(got_k, ref_k) && same(got_v, ref_v),
         "bitwise");

  // Write-back of tail slot 0 into the store (host or GPU), rows alternate.
  std::vector<std::int32_t> wb(rows);
  for (int r = 0; r < rows; ++r) wb[r] = r % 3 == 1 ? -1 : static_cast<int>(rng() % max_blocks);
  DeviceBuffer<std::int32_t> d_wb(wb);
  auto ref_sk = k, ref_sv = v;
  KvWritebackParams w;
  w.slots_k = got_k.data(), w.slots_v = got_v.data(), w.store_k = ref_sk.data(), w.store_v = ref_sv.data();
  w.writeback_block = wb.data(), w.rows = rows, w.kv_heads = kv_heads, w.slots_per_row = slots, w.tail_slot = 0;
  w.max_blocks = max_blocks, w.block_tokens = bt, w.head_dim = d, w.n_ctas = n_ctas;
  kv_writeback_cpu(w);
  KvWritebackParams gw = w;
  gw.slots_k = sk.get(), gw.slots_v = sv.get(), gw.writeback_block = d_wb.get();
  gw.store_k = host_store ? hk.device() : dk.get(), gw.store_v = host_store ? hv.device() : dv.get();
  kv_writeback_cuda(gw, nullptr);
  FORESIGHT_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<bf16> out_k(store_elems), out_v(store_elems);
  if (host_store) {
    std::memcpy(out_k.data(), hk.host(), store_elems * sizeof(bf16));
    std::memcpy(out_v.data(), hv.host(), store_elems * sizeof(bf16));
  } else {
    out_k = dk.download(), out_v = dv.download();
  }
  report(host_store ? "kv_writeback (gpu->host)" : "kv_writeback (gpu->gpu)", shape,
         same(out_k, ref_sk) && same(out_v, ref_sv), "bitwise");
}

// Every split kernel of decode attention (FORESIGHT_DECODE_KERNEL), each
// against the same CPU reference; the unset default is one of them.
constexpr const char* kDecodeKernels[] = {"warp", "pipe2", "pipe3", "pipe6", "flat3"};

void check_attention(int batch, int n_heads, int kv_heads, int d, int k_blocks, int splits) {
  std::mt19937_64 rng(++g_seed);
  const int bt = 64, slots = k_blocks + 1, tail_slot = k_blocks, rows = batch * kv_heads;
  const std::size_t slot_elems = std::size_t(rows) * slots * bt * d;
  const auto q = testing::random_bf16(std::size_t(batch) * n_heads * d, ++g_seed, -2.f, 2.f);
  auto sk = testing::random_bf16(slot_elems, ++g_seed, -2.f, 2.f);
  auto sv = testing::random_bf16(slot_elems, ++g_seed);
  std::vector<std::int32_t> list(std::size_t(rows) * slots, -1), len(rows), tail_tokens(batch);
  std::vector<int> perm(static_cast<std::size_t>(slots));
  for (int b = 0; b < batch; ++b) {
    tail_tokens[b] = static_cast<int>(rng() % (bt + 1));
    for (int i = tail_tokens[b] * d; i < bt * d; ++i)  // invalid tail tokens are garbage (NaN)
      for (int g = 0; g < kv_heads; ++g) {
        const std::size_t base = (std::size_t(b * kv_heads + g) * slots + tail_slot) * bt * d;
        sk[base + i] = sv[base + i] = bf16{0xffff};
      }
  }
  for (int r = 0; r < rows; ++r) {
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    len[r] = r == 1 ? 0 : r % 4 == 2 ? 1 + static_cast<int>(rng() % slots) : slots;
    std::copy(perm.begin(), perm.begin() + len[r], list.begin() + std::ptrdiff_t(r) * slots);
  }
  std::vector<bf16> ref(q.size());
  SparseDecodeAttentionParams p;
  p.shape.batch = batch, p.shape.n_heads = n_heads, p.shape.kv_heads = kv_heads, p.shape.head_dim = d;
  p.shape.n_splits = splits > 0 ? splits : default_decode_splits(batch, kv_heads, slots, 132);
  p.q = q.data(), p.slots_k = sk.data(), p.slots_v = sv.data(), p.slot_list = list.data(), p.list_len = len.data();
  p.tail_tokens = tail_tokens.data(), p.out = ref.data(), p.slots_per_row = slots, p.list_stride = slots;
  p.tail_slot = tail_slot, p.block_tokens = bt;
  sparse_decode_attention_cpu(p);
  DeviceBuffer<bf16> d_q(q), d_k(sk), d_v(sv), d_out(q.size());
  DeviceBuffer<std::int32_t> d_list(list), d_len(len), d_tail(tail_tokens);
  DeviceBuffer<unsigned char> ws(decode_attention_workspace_bytes(p.shape));
  SparseDecodeAttentionParams g = p;
  g.shape.workspace = ws.get();
  g.q = d_q.get(), g.slots_k = d_k.get(), g.slots_v = d_v.get(), g.slot_list = d_list.get(), g.list_len = d_len.get();
  g.tail_tokens = d_tail.get(), g.out = d_out.get();
  const std::string shape = "b" + std::to_string(batch) + " h" + std::to_string(n_heads) + "/" +
                            std::to_string(kv_heads) + " d" + std::to_string(d) + " blocks" + std::to_string(slots) +
                            " splits" + std::to_string(p.shape.n_splits);
  for (const char* kernel : kDecodeKernels) {
    setenv("FORESIGHT_DECODE_KERNEL", kernel, 1);
    d_out.poison(0xff);
    sparse_decode_attention_cuda(g, nullptr);
    const double err = testing::rel_l2_error(d_out.download(), ref);
    report(std::string("sparse_decode_attention ") + kernel, shape, err < 1e-2, fmt("rel_l2 %.2e", err));
  }

  // Dense over a contiguous cache with mixed lengths (0, partial tiles, full).
  const int max_tokens = k_blocks * bt + 37;
  const auto k = testing::random_bf16(std::size_t(rows) * max_tokens * d, ++g_seed, -2.f, 2.f);
  const auto v = testing::random_bf16(k.size(), ++g_seed);
  std::vector<std::int32_t> seq(batch);
  for (int b = 0; b < batch; ++b) seq[b] = b == 0 ? max_tokens : b == 1 ? 0 : 1 + static_cast<int>(rng() % max_tokens);
  DenseDecodeAttentionParams dp;
  dp.shape = p.shape;
  dp.shape.n_splits = splits > 0 ? splits : default_decode_splits(batch, kv_heads, (max_tokens + 63) / 64, 132);
  dp.q = q.data(), dp.k = k.data(), dp.v = v.data(), dp.seq_len = seq.data(), dp.out = ref.data();
  dp.max_tokens = max_tokens;
  dense_decode_attention_cpu(dp);
  DeviceBuffer<bf16> d_dk(k), d_dv(v);
  DeviceBuffer<std::int32_t> d_seq(seq);
  DeviceBuffer<unsigned char> ws2(decode_attention_workspace_bytes(dp.shape));
  DenseDecodeAttentionParams dg = dp;
  dg.shape.workspace = ws2.get();
  dg.q = d_q.get(), dg.k = d_dk.get(), dg.v = d_dv.get(), dg.seq_len = d_seq.get(), dg.out = d_out.get();
  for (const char* kernel : kDecodeKernels) {
    setenv("FORESIGHT_DECODE_KERNEL", kernel, 1);
    d_out.poison(0xff);
    dense_decode_attention_cuda(dg, nullptr);
    const double err2 = testing::rel_l2_error(d_out.download(), ref);
    report(std::string("dense_decode_attention ") + kernel,
           "b" + std::to_string(batch) + " h" + std::to_string(n_heads) + "/" + std::to_string(kv_heads) + " d" +
               std::to_string(d) + " max_tokens" + std::to_string(max_tokens) + " splits" +
               std::to_string(dp.shape.n_splits),
           err2 < 1e-2, fmt("rel_l2 %.2e", err2));
  }
  unsetenv("FORESIGHT_DECODE_KERNEL");
}

bool same_bits(const std::vector<bf16>& a, const std::vector<bf16>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(bf16)) == 0;
}

// K/V append into a poisoned store (GPU or mapped pinned host) and tail slot.
// shuffled: random positions with repeats (the later-row-wins rule) and K/V
// columns that are not 16-byte aligned (the 2-byte copy path).
void check_kv_append(int rows, int kv_heads, int d, int bt, bool one_sequence, bool shuffled, bool host_store) {
  std::mt19937_64 rng(++g_seed);
  const int first_seq = 1, seqs = one_sequence ? 2 : rows + 1, slots = 3, tail_slot = 1;
  const std::int64_t max_tokens = std::max<std::int64_t>(std::int64_t{bt} * 8 + 5, rows + bt + 5);
  const int k_off = 4 * d + (shuffled ? 3 : 0), v_off = k_off + kv_heads * d, stride = v_off + kv_heads * d + 8;
  const auto src = testing::random_bf16(std::size_t(rows) * stride, ++g_seed);
  std::vector<std::int32_t> pos(static_cast<std::size_t>(rows));
  const int start = static_cast<int>(rng() % (max_tokens - rows + 1 > 0 ? max_tokens - rows + 1 : 1));
  for (int i = 0; i < rows; ++i)
    pos[i] = shuffled || !one_sequence ? static_cast<int>(rng() % max_tokens) : (start + i) % max_tokens;
  const std::size_t store_elems = std::size_t(seqs) * kv_heads * max_tokens * d;
  const std::size_t slot_elems = std::size_t(seqs) * kv_heads * slots * bt * d;
  std::vector<bf16> ref_sk(store_elems, bf16{0xffff}), ref_sv(ref_sk), ref_lk(slot_elems, bf16{0xffff}), ref_lv(ref_lk);
  std::vector<std::int32_t> ref_tail(std::size_t(seqs) * kv_heads, static_cast<std::int32_t>(0xa5a5a5a5u));
  KvAppendParams p;
  p.src = src.data(), p.src_row_stride = stride, p.k_offset = k_off, p.v_offset = v_off, p.positions = pos.data();
  p.rows = rows, p.first_seq = first_seq, p.one_sequence = one_sequence;
  p.store_k = ref_sk.data(), p.store_v = ref_sv.data(), p.max_tokens = max_tokens;
  p.slots_k = ref_lk.data(), p.slots_v = ref_lv.data(), p.slots_per_row = slots, p.tail_slot = tail_slot;
  p.block_tokens = bt, p.tail_block = ref_tail.data(), p.kv_heads = kv_heads, p.head_dim = d;
  kv_append_cpu(p);
  testing::MappedHostBuffer<bf16> hk(host_store ? store_elems : 1), hv(host_store ? store_elems : 1);
  DeviceBuffer<bf16> dk(host_store ? 0 : store_elems), dv(host_store ? 0 : store_elems), lk(slot_elems), lv(slot_elems);
  DeviceBuffer<bf16> d_src(src);
  DeviceBuffer<std::int32_t> d_pos(pos), d_tail(ref_tail.size());
  if (host_store) {
    std::fill_n(hk.host(), store_elems, bf16{0xffff});
    std::fill_n(hv.host(), store_elems, bf16{0xffff});
  } else {
    dk.poison(0xff), dv.poison(0xff);
  }
  lk.poison(0xff), lv.poison(0xff), d_tail.poison(0xa5);
  KvAppendParams g = p;
  g.src = d_src.get(), g.positions = d_pos.get(), g.tail_block = d_tail.get();
  g.store_k = host_store ? hk.device() : dk.get(), g.store_v = host_store ? hv.device() : dv.get();
  g.slots_k = lk.get(), g.slots_v = lv.get();
  kv_append_cuda(g, nullptr);
  FORESIGHT_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<bf16> out_k(store_elems), out_v(store_elems);
  if (host_store) {
    std::memcpy(out_k.data(), hk.host(), store_elems * sizeof(bf16));
    std::memcpy(out_v.data(), hv.host(), store_elems * sizeof(bf16));
  } else {
    out_k = dk.download(), out_v = dv.download();
  }
  const bool ok = same_bits(out_k, ref_sk) && same_bits(out_v, ref_sv) && same_bits(lk.download(), ref_lk) &&
                  same_bits(lv.download(), ref_lv) && d_tail.download() == ref_tail;
  report(std::string("kv_append") + (host_store ? " (host store)" : ""),
         "rows" + std::to_string(rows) + " kv" + std::to_string(kv_heads) + " d" + std::to_string(d) + " bt" +
             std::to_string(bt) + (one_sequence ? " one_seq" : " decode") + (shuffled ? " shuffled" : ""),
         ok, "bitwise");
}

// Slot list on random maps and selections in random order (resident, tail,
// missing and -1 entries), counters starting non-zero.
void check_slot_list(int rows, int k, int n_slots) {
  std::mt19937_64 rng(++g_seed);
  const int universe = 3 * n_slots + k, list_stride = k + 3, tail_slot = n_slots - 1;
  std::vector<std::int32_t> map(std::size_t(rows) * n_slots), sel(std::size_t(rows) * k), tail(rows), loads(rows);
  std::vector<int> ids(static_cast<std::size_t>(universe));
  std::iota(ids.begin(), ids.end(), 0);
  for (int r = 0; r < rows; ++r) {
    std::shuffle(ids.begin(), ids.end(), rng);
    for (int s = 0; s < n_slots; ++s) map[std::size_t(r) * n_slots + s] = rng() % 8 == 0 ? -1 : ids[s];
    tail[r] = rng() % 4 == 0 ? -1 : ids[n_slots];
    const int valid = rng() % 5 == 0 ? static_cast<int>(rng() % (k + 1)) : k;
    for (int j = 0; j < k; ++j) {
      const std::uint64_t kind = rng() % 40;
      int id = kind == 0 ? ids[n_slots + 1 + rng() % (universe - n_slots - 1)]  // not resident: missing
               : kind == 1 ? tail[r]
               : kind == 2 ? -1
                           : ids[rng() % n_slots];
      if (j >= valid) id = -1;
      sel[std::size_t(r) * k + j] = id;
    }
    loads[r] = static_cast<int>(rng() % (n_slots + 1)) - (r % 7 == 3 ? n_slots + 1 : 0);
  }
  std::vector<std::int32_t> ref_list(std::size_t(rows) * list_stride, 12345), ref_len(rows, 12345);
  std::vector<std::uint64_t> ref_counters = {5, 6, 7};
  SlotListParams p;
  p.selected = sel.data(), p.block_map = map.data(), p.tail_block = tail.data(), p.load_count = loads.data();
  p.slot_list = ref_list.data(), p.list_len = ref_len.data(), p.counters = ref_counters.data();
  p.rows = rows, p.k = k, p.n_slots = n_slots, p.tail_slot = tail_slot, p.list_stride = list_stride;
  slot_list_cpu(p);
  DeviceBuffer<std::int32_t> d_sel(sel), d_map(map), d_tail(tail), d_loads(loads), d_list(ref_list.size()), d_len(rows);
  DeviceBuffer<std::uint64_t> d_counters(std::vector<std::uint64_t>{5, 6, 7});
  d_list.poison(0xa5), d_len.poison(0xa5);
  SlotListParams g = p;
  g.selected = d_sel.get(), g.block_map = d_map.get(), g.tail_block = d_tail.get(), g.load_count = d_loads.get();
  g.slot_list = d_list.get(), g.list_len = d_len.get(), g.counters = d_counters.get();
  slot_list_cuda(g, nullptr);
  const auto counters = d_counters.download();
  const bool ok = d_list.download() == ref_list && d_len.download() == ref_len && counters == ref_counters;
  report("slot_list", "rows" + std::to_string(rows) + " k" + std::to_string(k) + " slots" + std::to_string(n_slots),
         ok, std::to_string(ref_counters[0] - 5) + " selected, " + std::to_string(ref_counters[2] - 7) + " missing");
}

// Synthetic KV, head-major or token-major with a padded token stride (the
// gaps must stay poisoned); bit-identical to the CPU.
void check_kv_synth(int kv_heads, std::int64_t tokens, int d, bool head_major, float stddev, bool host_dst) {
  const std::int64_t token_stride = head_major ? d + 8 : std::int64_t{kv_heads} * d;
  const std::int64_t head_stride = head_major ? tokens * token_stride : d;
  const std::size_t elems = static_cast<std::size_t>(head_major ? kv_heads * head_stride : tokens * token_stride);
  std::vector<bf16> ref(elems, bf16{0xffff});
  KvSynthParams p;
  p.dst = ref.data(), p.tokens = tokens, p.kv_heads = kv_heads, p.head_dim = d, p.head_stride = head_stride;
  p.token_stride = token_stride, p.seed = 0x5eed0000ull + (++g_seed), p.stddev = stddev;
  kv_synth_cpu(p);
  testing::MappedHostBuffer<bf16> host(host_dst ? elems : 1);
  DeviceBuffer<bf16> dev(host_dst ? 0 : elems);
  if (host_dst) std::fill_n(host.host(), elems, bf16{0xffff}); else dev.poison(0xff);
  KvSynthParams g = p;
  g.dst = host_dst ? host.device() : dev.get();
  kv_synth_cuda(g, nullptr);
  KvSynthParams empty = g;
  empty.tokens = 0, empty.dst = nullptr;
  kv_synth_cuda(empty, nullptr);  // no work, no launch
  FORESIGHT_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<bf16> got(elems);
  if (host_dst) std::memcpy(got.data(), host.host(), elems * sizeof(bf16)); else got = dev.download();
  std::size_t diff = 0;
  for (std::size_t i = 0; i < elems; ++i) diff += got[i].bits != ref[i].bits;
  report(std::string("kv_synth") + (host_dst ? " (host dst)" : ""),
         "kv" + std::to_string(kv_heads) + " tokens" + std::to_string(tokens) + " d" + std::to_string(d) +
             (head_major ? " head-major" : " token-major") + fmt(" sd%.2f", stddev),
         diff == 0, std::to_string(diff) + " values differ");
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) {
      quick = true;
    } else if (!std::strcmp(argv[i], "--csv")) {
      g_csv = true;
    } else if (!std::strcmp(argv[i], "--seed") && i + 1 < argc) {
      g_seed = std::strtoull(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--csv] [--seed N]\n  --quick   small shapes only (for compute-sanitizer)\n"
                           "  --csv     one CSV line per case (op,shape,result,detail); summary on stderr\n"
                           "  --seed N  first random seed (default 1)\n", argv[0]);
      return 2;
    }
  }
  testing::require_gpu_or_skip("gpu_check_sparse");
  if (g_csv) std::printf("op,shape,result,detail\n");
  try {
    check_scoring(2, 8, 2, 64, 37);
    check_scoring(3, 32, 2, 128, 300);
    check_select(2, 2, 300, 96, true);
    check_select(1, 1, 4000, 5, false);
    check_select(3, 1, 50, 96, false);  // fewer blocks than k
    check_working_set(4, 96, 96, false);
    check_working_set(4, 128, 96, true);
    check_gather(4, 2, 20, 6, 64, 128, 3, true);
    check_gather(4, 2, 20, 6, 16, 64, 2, false);
    check_gather(4, 2, 20, 6, 64, 128, 1, true, GatherPath::bulk_copy, 3);    // 16 KiB pieces, stages reused
    check_gather(5, 1, 30, 9, 16, 64, 2, false, GatherPath::bulk_copy, 1);    // 2 KiB pieces, one stage
    check_gather(4, 2, 12, 5, 256, 128, 3, true, GatherPath::bulk_copy, 0);   // 64 KiB blocks in 32 KiB pieces
    check_gather(3, 1, 10, 4, 3, 8, 1, true, GatherPath::bulk_copy, 2);       // 48-byte blocks
    for (const testing::cases::DecodeAttentionCase& c : testing::cases::decode_attention_cases(quick))
      check_attention(c.batch, c.n_heads, c.kv_heads, c.d, c.k_blocks, c.splits);  // shapes shared with bench_kernels_sparse
    check_kv_append(5, 2, 64, 16, false, false, false);
    check_kv_append(100, 2, 64, 16, true, false, true);  // chunk over 7 blocks, host store
    check_kv_append(60, 3, 8, 4, true, true, false);     // repeated positions and token indices
    check_slot_list(5, 40, 48);
    check_slot_list(3, 300, 64);  // k > threads: several passes
    check_kv_synth(2, 333, 64, true, 1.f, false);
    check_kv_synth(3, 100, 128, false, 0.3f, true);
    if (!quick) {
      // MiniCPM4.1-8B: 32 q heads, 2 KV heads, head_dim 128, top-k 96, batch 16, 128K = 2048 blocks.
      check_scoring(16, 32, 2, 128, 8190);
      check_select(16, 2, 2048, 96, false);
      check_select(16, 2, 2048, 96, true);
      check_select(4, 8, 16384, 96, false);
      check_working_set(32, 96, 96, false);
      check_working_set(32, 512, 96, true);
      check_working_set(8, 4096, 1024, true);
      check_gather(32, 2, 200, 97, 64, 128, 16, true);
      check_gather(32, 2, 200, 97, 64, 128, 32, false);
      check_gather(32, 2, 200, 97, 64, 128, 2, true, GatherPath::bulk_copy);
      check_gather(64, 2, 100, 97, 64, 128, 4, true, GatherPath::bulk_copy);  // more than 32 rows
      check_kv_append(16, 2, 128, 64, false, false, true);  // decode step, batch 16, host store
      check_kv_append(2048, 2, 128, 64, true, false, false);  // prefill chunk
      check_kv_append(2048, 2, 128, 64, true, true, true);
      check_slot_list(32, 96, 97);
      check_slot_list(8, 1024, 4096);
      check_kv_synth(2, 131072, 128, true, 1.f, false);  // 128K tokens of one stream
      check_kv_synth(2, 20000, 128, false, 0.05f, true);
    }
    FORESIGHT_CUDA_CHECK(cudaDeviceSynchronize());
  } catch (const std::exception& e) {
    std::printf("ERROR: %s\n", e.what());
    ++g_failed;
  }
  std::fprintf(g_csv ? stderr : stdout, "%d passed, %d failed\n", g_passed, g_failed);
  return g_failed == 0 ? 0 : 1;
}

// Workload model: structure, determinism and the stated locality parameters.
#include <algorithm>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <utility>
#include <vector>

#include "catch.hpp"
#include "foresight/workload/selection_model.hpp"

using foresight::workload::SelectionModel;
using foresight::workload::SelectionModelParams;
using Sel = std::vector<std::uint32_t>;
namespace config = foresight::config;

namespace {

SelectionModelParams params(double reuse, double cross, double zipf, std::uint64_t seed = 1) {
  SelectionModelParams p;  // MiniCPM4.1-8B-like: top-k 96, 1 sink, 32-block window
  p.locality.reuse = reuse;
  p.locality.cross_layer = cross;
  p.locality.zipf_s = zipf;
  p.seed = seed;
  return p;
}

// All selections, [step][layer][seq][head], called step-major, layers ascending.
using All = std::vector<std::vector<std::vector<std::vector<Sel>>>>;
All generate(const SelectionModelParams& p, int layers, int heads,
             const std::vector<std::int64_t>& ctx, int steps) {
  SelectionModel m(p, layers, heads, ctx);
  const int seqs = static_cast<int>(ctx.size());
  All a(static_cast<std::size_t>(steps),
        std::vector(static_cast<std::size_t>(layers),
                    std::vector(static_cast<std::size_t>(seqs),
                                std::vector<Sel>(static_cast<std::size_t>(heads)))));
  for (int t = 0; t < steps; ++t)
    for (int l = 0; l < layers; ++l)
      for (int s = 0; s < seqs; ++s)
        for (int h = 0; h < heads; ++h) a[t][l][s][h] = m.next(t, l, s, h);
  return a;
}

bool contains(const Sel& s, std::uint32_t b) { return std::binary_search(s.begin(), s.end(), b); }

struct Locality {
  double reuse, cross;  // measured fractions
};
// reuse: kept non-forced blocks / non-forced picks (steps >= 1);
// cross: fresh picks (non-forced, not in the previous step) found in layer
// l-1's selection / fresh picks (layers >= 1).
Locality measure(const SelectionModelParams& p, int layers, int steps) {
  const std::vector<std::int64_t> ctx{131072, 100000, 65536};
  SelectionModel m(p, layers, 2, ctx);
  const All a = generate(p, layers, 2, ctx, steps);
  double kept = 0, free_picks = 0, shared = 0, fresh = 0;
  for (int t = 0; t < steps; ++t)
    for (int l = 0; l < layers; ++l)
      for (int s = 0; s < 3; ++s)
        for (int h = 0; h < 2; ++h)
          for (std::uint32_t b : a[t][l][s][h]) {
            if (m.forced(s, t, b)) continue;
            const bool was = t > 0 && contains(a[t - 1][l][s][h], b);
            if (t > 0) {
              free_picks += 1;
              kept += was;
            }
            if (l > 0 && !was) {
              fresh += 1;
              shared += contains(a[t][l - 1][s][h], b);
            }
          }
  return {kept / free_picks, shared / fresh};
}

}  // namespace

TEST_CASE("selections are sorted, distinct, in range, forced blocks included") {
  const auto p = params(0.85, 0.7, 1.0);
  const std::vector<std::int64_t> ctx{131072, 4000, 6100, 500};  // 500 tokens: 8 blocks <= topk
  SelectionModel m(p, 3, 2, ctx);
  const All a = generate(p, 3, 2, ctx, 80);  // 4000 + 80 crosses a block boundary
  for (int t = 0; t < 80; ++t)
    for (int l = 0; l < 3; ++l)
      for (int s = 0; s < 4; ++s)
        for (int h = 0; h < 2; ++h) {
          const Sel& sel = a[t][l][s][h];
          const std::int64_t n = (ctx[s] + t + 1 + 63) / 64;
          REQUIRE(m.n_blocks(s, t) == n);
          REQUIRE(static_cast<std::int64_t>(sel.size()) == std::min<std::int64_t>(96, n));
          REQUIRE(std::adjacent_find(sel.begin(), sel.end(),
                                     [](auto x, auto y) { return x >= y; }) == sel.end());
          REQUIRE(static_cast<std::int64_t>(sel.back()) < n);
          if (n > 96) {
            REQUIRE(contains(sel, 0));
            for (std::int64_t b = n - 32; b < n; ++b) REQUIRE(contains(sel, b));
          }
        }
}

TEST_CASE("deterministic in the seed, independent of call interleaving") {
  const auto p = params(0.85, 0.7, 1.0, 42);
  const std::vector<std::int64_t> ctx{20000, 30000};
  const All a = generate(p, 3, 2, ctx, 10);
  CHECK(generate(p, 3, 2, ctx, 10) == a);
  // Stream by stream (each (seq, head) through all steps and layers) instead.
  SelectionModel m(p, 3, 2, ctx);
  for (int s = 0; s < 2; ++s)
    for (int h = 0; h < 2; ++h)
      for (int t = 0; t < 10; ++t)
        for (int l = 0; l < 3; ++l) REQUIRE(m.next(t, l, s, h) == a[t][l][s][h]);
  CHECK(generate(params(0.85, 0.7, 1.0, 43), 3, 2, ctx, 10) != a);
}

TEST_CASE("measured step-to-step reuse matches the parameter") {
  for (double reuse : {0.7, 0.85, 0.95}) {
    const Locality got = measure(params(reuse, 0.7, 1.0), 4, 64);
    INFO("reuse " << reuse << " measured " << got.reuse);
    CHECK(got.reuse == Approx(reuse).margin(0.02));
  }
}

TEST_CASE("measured cross-layer share of fresh picks matches the parameter") {
  for (double cross : {0.0, 0.5, 0.7, 0.9}) {
    const Locality got = measure(params(0.85, cross, 1.0), 4, 32);
    INFO("cross_layer " << cross << " measured " << got.cross);
    CHECK(got.cross == Approx(cross).margin(0.03));
  }
}

// Adjacent-layer and step overlap (all selected blocks) of `p` over 6 layers,
// 2 sequences of 128K and 64K, 2 KV heads, 32 steps.
std::pair<double, double> overlaps(const SelectionModelParams& p) {
  const std::vector<std::int64_t> ctx{131072, 65536};
  const All a = generate(p, 6, 2, ctx, 32);
  double shared = 0, total = 0, step_shared = 0, step_total = 0;
  for (int t = 0; t < 32; ++t)
    for (int l = 0; l < 6; ++l)
      for (int s = 0; s < 2; ++s)
        for (int h = 0; h < 2; ++h)
          for (std::uint32_t b : a[t][l][s][h]) {
            if (l > 0) shared += contains(a[t][l - 1][s][h], b), total += 1;
            if (t > 0) step_shared += contains(a[t - 1][l][s][h], b), step_total += 1;
          }
  return {shared / total, step_shared / step_total};
}

TEST_CASE("the 'assumed' preset: adjacent layers overlap 70-100% (field.md)") {
  SelectionModelParams p;
  p.locality = config::workload_preset("assumed");
  const auto [adjacent, step] = overlaps(p);
  INFO("adjacent-layer overlap " << adjacent << ", step overlap " << step);
  CHECK(adjacent >= 0.7);
  // Step overlap = 33 forced + 0.85 of the 63 free picks, out of 96.
  CHECK(step == Approx((33 + 0.85 * 63) / 96).margin(0.01));
}

TEST_CASE("the default workload is the measured smollm2-8k preset") {
  const config::WorkloadConfig d, m = config::workload_preset("smollm2-8k");
  CHECK(d.reuse == m.reuse);
  CHECK(d.cross_layer == m.cross_layer);
  CHECK(d.zipf_s == m.zipf_s);
  const auto [adjacent, step] = overlaps(SelectionModelParams{});
  INFO("adjacent-layer overlap " << adjacent << ", step overlap " << step);
  CHECK(step == Approx((33 + d.reuse * 63) / 96).margin(0.01));
  CHECK_THROWS_WITH(config::workload_preset("nope"), Catch::Matchers::Contains("smollm2-8k"));
}

TEST_CASE("zipf_s skews fresh picks towards popular blocks") {
  auto top10_share = [](double zipf) {
    const auto p = params(0.0, 0.0, zipf);
    SelectionModel m(p, 1, 1, {131072});
    std::map<std::uint32_t, int> count;
    int total = 0;
    for (int t = 0; t < 200; ++t)
      for (std::uint32_t b : m.next(t, 0, 0, 0))
        if (!m.forced(0, t, b)) {
          ++count[b];
          ++total;
        }
    std::vector<int> c;
    for (auto [b, n] : count) c.push_back(n);
    std::sort(c.rbegin(), c.rend());
    int top = 0;
    for (std::size_t i = 0; i < 10 && i < c.size(); ++i) top += c[i];
    return static_cast<double>(top) / total;
  };
  const double flat = top10_share(0.0), skewed = top10_share(1.5);
  INFO("top-10 share: zipf 0 " << flat << ", zipf 1.5 " << skewed);
  CHECK(skewed > 2 * flat);
}

TEST_CASE("bad parameters and out-of-order calls are rejected") {
  auto p = params(0.85, 0.7, 1.0);
  p.locality.reuse = 1.5;
  CHECK_THROWS_AS(SelectionModel(p, 2, 1, {1000}), std::invalid_argument);
  p = params(0.85, 0.7, 1.0);
  p.topk_blocks = 0;
  CHECK_THROWS_AS(SelectionModel(p, 2, 1, {1000}), std::invalid_argument);
  p = params(0.85, 0.7, 1.0);
  CHECK_THROWS_AS(SelectionModel(p, 2, 1, {}), std::invalid_argument);
  CHECK_THROWS_AS(SelectionModel(p, 2, 1, {-5}), std::invalid_argument);
  SelectionModel m(p, 2, 1, {10000});
  CHECK_THROWS_AS(m.next(1, 0, 0, 0), std::logic_error);  // step 0 first
  CHECK_THROWS_AS(m.next(0, 1, 0, 0), std::logic_error);  // layer 0 first
  CHECK_THROWS_AS(m.next(0, 0, 1, 0), std::invalid_argument);  // no seq 1
  m.next(0, 0, 0, 0);
  CHECK_NOTHROW(m.next(0, 1, 0, 0));
}

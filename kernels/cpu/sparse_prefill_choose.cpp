// choose_sparse_prefill: per head, the cheapest pattern (in tiles) whose
// estimated recall reaches the target (see foresight/kernels/sparse_prefill.hpp).
//
// Counting each estimated element once: the last queries sit at positions
// [first, last]. Triangular only pairs sinks S <= first - W + 1 with a band W,
// so no estimated element is both a sink and in the band. Interval-Slash
// takes columns only among keys that no chosen slash reaches from any
// estimated query. Block-Cluster takes absolute key blocks only below
// qb(first) - L, outside every estimated query's local tiles. Each pattern's
// recall is then a plain sum of the summaries. Columns and key blocks are also
// kept out of the local zone (kLocalZone below). Parameters come from a few
// candidates per pattern, each O(tokens) or O(q_blocks log q_blocks).
#include <algorithm>
#include <array>
#include <cstring>
#include <numeric>

#include "foresight/kernels/param_check.hpp"
#include "foresight/kernels/sparse_prefill.hpp"
#include "parallel.hpp"

namespace foresight::kernels {

namespace {
constexpr std::int64_t kB = kSparsePrefillBlock;

// sum_{x = 0}^{n - 1} min(x, c) for c >= 0.
std::int64_t sum_min(std::int64_t n, std::int64_t c) {
  if (n <= 0) return 0;
  if (n - 1 <= c) return n * (n - 1) / 2;
  return c * (c + 1) / 2 + (n - 1 - c) * c;
}

// Tiles of Triangular{64 s, 64 w + 1} over q query blocks: band min(qb, w) + 1,
// plus sink blocks below the band.
std::int64_t triangular_blocks(std::int64_t q, std::int64_t s, std::int64_t w) {
  return sum_min(q, w) + q + sum_min(q - w, s);
}

// out[i] = x[0] + ... + x[i - 1], i in [0, n].
void prefix(const float* x, std::int64_t n, std::vector<double>& out) {
  out.resize(static_cast<std::size_t>(n + 1));
  out[0] = 0.0;
  for (std::int64_t i = 0; i < n; ++i) out[static_cast<std::size_t>(i + 1)] = out[static_cast<std::size_t>(i)] + x[i];
}

// Per-thread buffers reused across heads and calls (fresh multi-MiB vectors
// per head cost more in page faults than the search itself).
struct Scratch {
  std::vector<double> pa, pd, pb, block_mass;
  std::vector<float> free_keys;
  std::vector<std::int32_t> cover;
};

// The fewest largest entries of x (>= 0) summing to >= need, at most `cap`
// of them: their indices, ascending, in *out; returns their sum, or -1 when
// no such set exists. O(n): a histogram over the top float bits, sorting only
// the boundary bucket.
double top_mass(const float* x, std::int64_t n, double need, std::int64_t cap, std::vector<std::int64_t>* out) {
  out->clear();
  if (need <= 0) return 0;
  constexpr int kBuckets = 4096;  // float bits >> 19 of a non-negative float
  auto bucket = [](float v) {
    std::uint32_t u;
    std::memcpy(&u, &v, sizeof u);
    return static_cast<int>(u >> 19) & (kBuckets - 1);
  };
  std::array<double, kBuckets> mass{};
  std::array<std::int64_t, kBuckets> count{};
  for (std::int64_t i = 0; i < n; ++i) {
    if (x[i] > 0) mass[static_cast<std::size_t>(bucket(x[i]))] += x[i], ++count[static_cast<std::size_t>(bucket(x[i]))];
  }
  double sum = 0;
  std::int64_t taken = 0;
  int edge = kBuckets - 1;
  for (; edge >= 0; --edge) {
    if (sum + mass[static_cast<std::size_t>(edge)] >= need) break;
    sum += mass[static_cast<std::size_t>(edge)];
    taken += count[static_cast<std::size_t>(edge)];
  }
  if (edge < 0 || taken >= cap) return -1;
  std::vector<std::int64_t> border;
  for (std::int64_t i = 0; i < n; ++i) {
    if (x[i] <= 0) continue;
    const int b = bucket(x[i]);
    if (b > edge) out->push_back(i);
    if (b == edge) border.push_back(i);
  }
  std::sort(border.begin(), border.end(), [&](std::int64_t a, std::int64_t b) { return x[a] > x[b] || (x[a] == x[b] && a < b); });
  std::size_t k = 0;
  for (; k < border.size() && sum < need; ++k) sum += x[border[k]];
  if (sum < need || taken + static_cast<std::int64_t>(k) > cap) return -1;
  border.resize(k);
  std::sort(border.begin(), border.end());
  const std::size_t mid = out->size();
  out->insert(out->end(), border.begin(), border.end());
  std::inplace_merge(out->begin(), out->begin() + static_cast<std::ptrdiff_t>(mid), out->end());
  return sum;
}

// Keys closer than this before the first estimated query are local: only
// the relative parts of a pattern (band, slashes, local tiles) may claim
// them. An absolute part (column, key block) placed there would be credited
// with the estimated queries' band mass while costing only the last query
// blocks, which does not carry over to the earlier query blocks.
constexpr std::int64_t kLocalZone = 4 * kB;

struct Ctx {
  std::int64_t n, q, first, last;
  std::int64_t zone;  // first key of the local zone
  const float *key, *off, *blk;
  double target;
};

void keep_if_better(SparsePrefillChoice& best, SparsePrefillChoice&& c) {
  if (c.blocks < best.blocks) best = std::move(c);
}

void try_triangular(const Ctx& c, const std::vector<double>& pa, const std::vector<double>& pd,
                    SparsePrefillChoice& best) {
  for (std::int64_t w = 0; w < c.q; ++w) {
    const double band = pd[static_cast<std::size_t>(std::min(kB * w + 1, c.n))];
    std::int64_t s = 0;
    if (band < c.target) {
      const std::int64_t s_max = c.first - kB * w >= 0 ? (c.first - kB * w) / kB : -1;
      auto sink = [&](std::int64_t b) { return pa[static_cast<std::size_t>(std::min(kB * b, c.n))]; };
      if (s_max < 1 || band + sink(s_max) < c.target) continue;
      std::int64_t lo = 1, hi = s_max;  // smallest s with band + sink(s) >= target
      while (lo < hi) {
        const std::int64_t mid = (lo + hi) / 2;
        if (band + sink(mid) >= c.target) hi = mid;
        else lo = mid + 1;
      }
      s = lo;
    }
    SparsePrefillChoice ch;
    ch.pattern.kind = SparsePatternKind::triangular;
    ch.pattern.triangular = {kB * s, kB * w + 1};
    ch.blocks = triangular_blocks(c.q, s, w);
    ch.recall = band + pa[static_cast<std::size_t>(std::min(kB * s, c.n))];
    keep_if_better(best, std::move(ch));
    if (s == 0) break;  // a wider band only costs more
  }
}

void try_block_cluster(const Ctx& c, const std::vector<double>& pb, const std::vector<double>& block_mass,
                       SparsePrefillChoice& best) {
  const std::int64_t qb_first = c.first / kB;
  std::vector<std::int64_t> cand;
  for (std::int64_t l = 0; l < c.q; l = l < 16 ? l + 1 : l + l / 2) {
    const double local = pb[static_cast<std::size_t>(l + 1)];
    const std::int64_t local_cost = sum_min(c.q, l) + c.q;
    if (local_cost >= best.blocks) break;
    SparsePrefillChoice ch;
    ch.pattern.kind = SparsePatternKind::block_cluster;
    ch.pattern.block_cluster.local_blocks = l;
    ch.blocks = local_cost;
    ch.recall = local;
    if (local < c.target) {
      cand.clear();
      for (std::int64_t kb = 0; kb < std::min(qb_first - l, c.zone / kB); ++kb) {
        if (block_mass[static_cast<std::size_t>(kb)] > 0) cand.push_back(kb);
      }
      // Mass per tile; key block kb costs the query blocks qb > kb + L. A
      // heap pops only the blocks taken.
      auto ratio = [&](std::int64_t kb) { return block_mass[static_cast<std::size_t>(kb)] / double(c.q - kb - l - 1); };
      auto lower_ratio = [&](std::int64_t a, std::int64_t b) { return ratio(a) < ratio(b); };
      std::make_heap(cand.begin(), cand.end(), lower_ratio);
      for (auto end = cand.end(); end != cand.begin() && ch.recall < c.target; --end) {
        std::pop_heap(cand.begin(), end, lower_ratio);
        const std::int64_t kb = *(end - 1);
        ch.pattern.block_cluster.key_blocks.push_back(kb);
        ch.recall += block_mass[static_cast<std::size_t>(kb)];
        ch.blocks += c.q - kb - l - 1;
      }
      if (ch.recall < c.target) continue;
      std::sort(ch.pattern.block_cluster.key_blocks.begin(), ch.pattern.block_cluster.key_blocks.end());
    }
    keep_if_better(best, std::move(ch));
  }
}

// Tiles of Interval-Slash{cols, offs} (both ascending).
std::int64_t interval_slash_blocks(const Ctx& c, const std::vector<std::int64_t>& cols,
                                   const std::vector<std::int64_t>& offs) {
  std::vector<char> rel(static_cast<std::size_t>(c.q + 1), 0);
  for (std::int64_t o : offs) {
    rel[static_cast<std::size_t>(o / kB)] = 1;
    if (o % kB) rel[static_cast<std::size_t>(std::min(o / kB + 1, c.q))] = 1;
  }
  std::int64_t blocks = 0;
  for (std::int64_t t = 0; t < c.q; ++t) blocks += rel[static_cast<std::size_t>(t)] ? c.q - t : 0;
  std::size_t seen = 0;
  for (std::int64_t qb = 0; qb < c.q; ++qb) {
    const std::int64_t i_hi = std::min(qb * kB + kB, c.n) - 1;
    while (seen < cols.size() && cols[seen] <= i_hi) ++seen;
    blocks += (static_cast<std::int64_t>(seen) + kB - 1) / kB;
  }
  return blocks;
}

// Columns beyond this many (64 gathered tiles per query block) are not tried.
constexpr std::int64_t kMaxColumns = 64 * kB;

// Slash candidates: a local band [0, 64 w + 1) for w = 0..3 (inside the local
// zone, so no key needs excluding from the columns), and the top offsets
// reaching half and 90 % of the target (far slashes; keys they reach from an
// estimated query are excluded from the columns). Columns then take the rest.
void try_interval_slash(const Ctx& c, Scratch& sc, SparsePrefillChoice& best) {
  const std::vector<double>& pd = sc.pd;
  std::vector<std::int64_t> offs, cols;
  std::vector<float>& free_keys = sc.free_keys;
  free_keys.resize(static_cast<std::size_t>(c.n));
  auto keep = [&](double slash_mass, double col_mass) {
    const std::int64_t blocks = interval_slash_blocks(c, cols, offs);
    if (blocks >= best.blocks) return;
    best.pattern = HeadPattern{};
    best.pattern.kind = SparsePatternKind::interval_slash;
    best.pattern.interval_slash = {cols, offs};
    best.blocks = blocks;
    best.recall = slash_mass + col_mass;
  };
  for (std::int64_t j = 0; j < c.n; ++j) free_keys[static_cast<std::size_t>(j)] = j >= c.zone ? 0.f : c.key[j];
  // Bands: the columns one band needs are the heaviest free keys, a prefix of
  // those the narrowest band needs.
  std::vector<std::int64_t> band_cols;
  double free_total = 0;
  for (float x : free_keys) free_total += x;
  const double band_need = std::min(c.target - c.off[0], free_total * (1 - 1e-6));
  if (top_mass(free_keys.data(), c.n, band_need, kMaxColumns, &band_cols) < 0) band_cols.clear();
  std::vector<std::int64_t> by_mass = band_cols;
  std::sort(by_mass.begin(), by_mass.end(), [&](std::int64_t a, std::int64_t b) { return c.key[a] > c.key[b] || (c.key[a] == c.key[b] && a < b); });
  for (std::int64_t w = 0; w < 4 && kB * w < c.n; ++w) {
    const std::int64_t width = std::min(kB * w + 1, c.n);
    const double slash_mass = pd[static_cast<std::size_t>(width)];
    double col_mass = 0;
    std::size_t m = 0;
    for (; m < by_mass.size() && slash_mass + col_mass < c.target; ++m) col_mass += c.key[by_mass[m]];
    if (slash_mass + col_mass < c.target) continue;
    cols.assign(by_mass.begin(), by_mass.begin() + static_cast<std::ptrdiff_t>(m));
    std::sort(cols.begin(), cols.end());
    offs.resize(static_cast<std::size_t>(width));
    std::iota(offs.begin(), offs.end(), std::int64_t{0});
    keep(slash_mass, col_mass);
  }
  std::vector<std::int32_t>& cover = sc.cover;
  cover.resize(static_cast<std::size_t>(c.n + 1));
  for (double frac : {0.5, 0.9}) {
    const double far = top_mass(c.off + 1, c.n - 1, frac * c.target - c.off[0], c.n, &offs);
    if (far < 0) continue;
    for (auto& o : offs) ++o;  // indices of off + 1
    offs.insert(offs.begin(), 0);
    std::fill(cover.begin(), cover.end(), 0);
    for (std::int64_t o : offs) {
      ++cover[static_cast<std::size_t>(std::max<std::int64_t>(0, c.first - o))];
      --cover[static_cast<std::size_t>(c.last - o + 1)];
    }
    std::int32_t run = 0;
    for (std::int64_t j = 0; j < c.n; ++j) {
      run += cover[static_cast<std::size_t>(j)];
      free_keys[static_cast<std::size_t>(j)] = run > 0 || j >= c.zone ? 0.f : c.key[j];
    }
    const double col_mass = top_mass(free_keys.data(), c.n, c.target - c.off[0] - far, kMaxColumns, &cols);
    if (col_mass >= 0) keep(c.off[0] + far, col_mass);
  }
}

}  // namespace

std::vector<SparsePrefillChoice> choose_sparse_prefill(const SparsePrefillEstimate& e, double target_recall,
                                                       unsigned kinds) {
  const char* op = "choose_sparse_prefill";
  require_param(target_recall > 0 && target_recall <= 1, op, "target_recall", "must be in (0, 1]");
  require_param(kinds != 0 && (kinds & ~kAllSparsePatterns) == 0, op, "kinds", "must be a non-empty mask of pattern kinds");
  auto allowed = [kinds](SparsePatternKind k) { return (kinds >> static_cast<int>(k)) & 1u; };
  require_param(e.n_heads > 0 && e.tokens > 0 && e.n_last >= 1 && e.n_last <= e.tokens, op, "estimate",
                "must have heads, tokens and 1 <= n_last <= tokens");
  const std::int64_t n = e.tokens, q = (n + kB - 1) / kB;
  require_param(e.key_mass.size() == static_cast<std::size_t>(e.n_heads * n) &&
                    e.offset_mass.size() == e.key_mass.size() &&
                    e.block_offset_mass.size() == static_cast<std::size_t>(e.n_heads * q),
                op, "estimate", "summaries must be [n_heads, tokens] and [n_heads, q_blocks]");
  std::vector<SparsePrefillChoice> out(static_cast<std::size_t>(e.n_heads));
  detail::parallel_for(e.n_heads, 1, [&](std::int64_t h) {
    const Ctx c{n, q, n - e.n_last, n - 1, std::max<std::int64_t>(0, n - e.n_last - kLocalZone), e.key_mass.data() + h * n, e.offset_mass.data() + h * n,
                e.block_offset_mass.data() + h * q, target_recall};
    SparsePrefillChoice best;  // full coverage, of an allowed kind
    best.blocks = q * (q + 1) / 2;
    best.recall = 1.0;
    if (allowed(SparsePatternKind::block_cluster)) {
      best.pattern.kind = SparsePatternKind::block_cluster;
      best.pattern.block_cluster.local_blocks = q - 1;
    } else if (allowed(SparsePatternKind::triangular)) {
      best.pattern.kind = SparsePatternKind::triangular;
      best.pattern.triangular = {n, 1};
    } else {
      best.pattern.kind = SparsePatternKind::interval_slash;
      best.pattern.interval_slash.slashes.resize(static_cast<std::size_t>(n));
      std::iota(best.pattern.interval_slash.slashes.begin(), best.pattern.interval_slash.slashes.end(), std::int64_t{0});
    }
    thread_local Scratch sc;
    prefix(c.key, n, sc.pa);
    prefix(c.off, n, sc.pd);
    prefix(c.blk, q, sc.pb);
    const std::vector<double>&pa = sc.pa, &pd = sc.pd, &pb = sc.pb;
    std::vector<double>& block_mass = sc.block_mass;
    block_mass.resize(static_cast<std::size_t>(q));
    for (std::int64_t kb = 0; kb < q; ++kb) block_mass[static_cast<std::size_t>(kb)] = pa[static_cast<std::size_t>(std::min(kb * kB + kB, n))] - pa[static_cast<std::size_t>(kb * kB)];
    // Ties keep the earlier: Triangular, then Block-Cluster, then Interval-Slash.
    if (allowed(SparsePatternKind::triangular)) {
      SparsePrefillChoice tri = best;
      tri.blocks += 1;  // so that a triangular tie with full coverage wins
      try_triangular(c, pa, pd, tri);
      if (tri.blocks <= best.blocks) best = std::move(tri);
    }
    if (allowed(SparsePatternKind::block_cluster)) try_block_cluster(c, pb, block_mass, best);
    if (allowed(SparsePatternKind::interval_slash)) try_interval_slash(c, sc, best);
    out[static_cast<std::size_t>(h)] = std::move(best);
  });
  return out;
}

}  // namespace foresight::kernels

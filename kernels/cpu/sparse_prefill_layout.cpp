// Sparse prefill patterns: the element definition, validation and lowering to
// the block-sparse layout (see foresight/kernels/sparse_prefill.hpp).
#include <algorithm>

#include "foresight/kernels/param_check.hpp"
#include "foresight/kernels/sparse_prefill.hpp"
#include "parallel.hpp"

namespace foresight::kernels {

namespace {
constexpr std::int64_t kB = kSparsePrefillBlock;
constexpr const char* kOp = "sparse_prefill";

bool ascending_distinct(const std::vector<std::int64_t>& v, std::int64_t lo, std::int64_t hi) {
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] < lo || v[i] >= hi || (i > 0 && v[i] <= v[i - 1])) return false;
  }
  return true;
}
}  // namespace

const char* sparse_pattern_name(SparsePatternKind kind) {
  switch (kind) {
    case SparsePatternKind::triangular: return "triangular";
    case SparsePatternKind::interval_slash: return "interval-slash";
    case SparsePatternKind::block_cluster: return "block-cluster";
  }
  return "unknown";
}

bool sparse_prefill_contains(const HeadPattern& p, std::int64_t i, std::int64_t j) {
  if (j > i || j < 0) return false;
  switch (p.kind) {
    case SparsePatternKind::triangular:
      return j < p.triangular.sink_tokens || i - j < p.triangular.local_tokens;
    case SparsePatternKind::interval_slash: {
      const auto& c = p.interval_slash.columns;
      const auto& o = p.interval_slash.slashes;
      return std::binary_search(c.begin(), c.end(), j) || std::binary_search(o.begin(), o.end(), i - j);
    }
    case SparsePatternKind::block_cluster: {
      const auto& k = p.block_cluster.key_blocks;
      return i / kB - j / kB <= p.block_cluster.local_blocks || std::binary_search(k.begin(), k.end(), j / kB);
    }
  }
  return false;
}

void validate_head_pattern(const HeadPattern& p, std::int64_t tokens) {
  require_param(tokens >= 0 && tokens < (std::int64_t{1} << 30), kOp, "tokens", "must be in [0, 2^30)");
  switch (p.kind) {
    case SparsePatternKind::triangular:
      require_param(p.triangular.sink_tokens >= 0, kOp, "triangular.sink_tokens", "must be >= 0");
      require_param(p.triangular.local_tokens >= 1, kOp, "triangular.local_tokens",
                    "must be >= 1 (every query sees itself)");
      return;
    case SparsePatternKind::interval_slash:
      require_param(ascending_distinct(p.interval_slash.columns, 0, tokens), kOp, "interval_slash.columns",
                    "must be ascending, distinct key positions in [0, tokens)");
      require_param(ascending_distinct(p.interval_slash.slashes, 0, std::max<std::int64_t>(tokens, 1)), kOp,
                    "interval_slash.slashes", "must be ascending, distinct offsets in [0, tokens)");
      require_param(!p.interval_slash.slashes.empty() && p.interval_slash.slashes[0] == 0, kOp,
                    "interval_slash.slashes", "must contain offset 0 (every query sees itself)");
      return;
    case SparsePatternKind::block_cluster:
      require_param(p.block_cluster.local_blocks >= 0, kOp, "block_cluster.local_blocks", "must be >= 0");
      require_param(ascending_distinct(p.block_cluster.key_blocks, 0, (tokens + kB - 1) / kB), kOp,
                    "block_cluster.key_blocks", "must be ascending, distinct key blocks in [0, ceil(tokens / 64))");
      return;
  }
  require_param(false, kOp, "kind", "is not a pattern");
}

std::int64_t SparsePrefillLayout::blocks_computed(int head) const {
  return tile_offsets[static_cast<std::size_t>((head + 1) * q_blocks)] -
         tile_offsets[static_cast<std::size_t>(head * q_blocks)];
}

SparsePrefillLayoutView host_view(const SparsePrefillLayout& l) {
  return {l.q_blocks, l.words, l.tile_offsets.data(), l.tiles.data(), l.rules.data(),
          l.column_offsets.data(), l.columns.data(), l.column_bits.data(), l.slash_bits.data()};
}

namespace {

// One head's part of a layout, built on its own (heads lower in parallel):
// its tiles, the end of each query block's run (relative) and its columns;
// its bit-set rows are written in place (each head owns its rows).
struct HeadTiles {
  std::vector<std::int32_t> tiles;
  std::vector<std::int64_t> ends;  // [q_blocks]
  std::vector<std::int32_t> columns;
};

void lower_triangular(const TriangularPattern& t, const SparsePrefillLayout& l, HeadTiles& out) {
  const std::int64_t s = t.sink_tokens, w = t.local_tokens;
  const std::int64_t sink_blocks = std::min((s + kB - 1) / kB, l.q_blocks);
  for (std::int64_t qb = 0; qb < l.q_blocks; ++qb) {
    const std::int64_t i_hi = std::min(qb * kB + kB, l.tokens) - 1;  // last query of the block
    const std::int64_t band_lo = std::max<std::int64_t>(0, qb * kB - w + 1) / kB;
    for (std::int64_t kb = 0; kb <= qb; ++kb) {
      const bool sink = kb < sink_blocks, band = kb >= band_lo;
      if (!sink && !band) {
        kb = band_lo - 1;  // skip to the band
        continue;
      }
      // Unmasked when every causal element is in: all sink keys, or the
      // farthest (i_hi, 64 kb) pair inside the band.
      const bool full = kb * kB + kB <= s || i_hi - kb * kB < w;
      out.tiles.push_back(static_cast<std::int32_t>(kb) | (full ? 0 : kTileMasked));
    }
    out.ends.push_back(static_cast<std::int64_t>(out.tiles.size()));
  }
}

void lower_interval_slash(const IntervalSlashPattern& p, int h, SparsePrefillLayout& l, HeadTiles& out) {
  // Relative key blocks t (kb = qb - t) that offset o = 64 a + r touches: a, and a + 1 if r > 0.
  std::vector<char> rel(static_cast<std::size_t>(l.q_blocks + 1), 0);
  std::uint64_t* bits = l.slash_bits.data() + h * l.words;
  for (std::int64_t o : p.slashes) {
    bits[o / 64] |= std::uint64_t{1} << (o % 64);
    rel[static_cast<std::size_t>(std::min(o / kB, l.q_blocks))] = 1;
    if (o % kB != 0) rel[static_cast<std::size_t>(std::min(o / kB + 1, l.q_blocks))] = 1;
  }
  std::vector<std::int64_t> rel_list;
  for (std::int64_t t = l.q_blocks - 1; t >= 0; --t) {
    if (rel[static_cast<std::size_t>(t)]) rel_list.push_back(t);  // descending t = ascending kb
  }
  std::uint64_t* cbits = l.column_bits.data() + h * l.words;
  for (std::int64_t c : p.columns) {
    cbits[c / 64] |= std::uint64_t{1} << (c % 64);
    out.columns.push_back(static_cast<std::int32_t>(c));
  }
  std::size_t seen = 0;  // columns c <= last query of the block
  for (std::int64_t qb = 0; qb < l.q_blocks; ++qb) {
    for (std::int64_t t : rel_list) {
      if (t <= qb) out.tiles.push_back(static_cast<std::int32_t>(qb - t) | kTileMasked);
    }
    const std::int64_t i_hi = std::min(qb * kB + kB, l.tokens) - 1;
    while (seen < p.columns.size() && p.columns[seen] <= i_hi) ++seen;
    for (std::int64_t g = 0; g * kB < static_cast<std::int64_t>(seen); ++g) {
      out.tiles.push_back(static_cast<std::int32_t>(g) | kTileGathered);
    }
    out.ends.push_back(static_cast<std::int64_t>(out.tiles.size()));
  }
}

void lower_block_cluster(const BlockClusterPattern& p, const SparsePrefillLayout& l, HeadTiles& out) {
  for (std::int64_t qb = 0; qb < l.q_blocks; ++qb) {
    const std::int64_t local_lo = std::max<std::int64_t>(0, qb - p.local_blocks);
    for (std::int64_t kb : p.key_blocks) {
      if (kb >= local_lo) break;
      out.tiles.push_back(static_cast<std::int32_t>(kb));
    }
    for (std::int64_t kb = local_lo; kb <= qb; ++kb) out.tiles.push_back(static_cast<std::int32_t>(kb));
    out.ends.push_back(static_cast<std::int64_t>(out.tiles.size()));
  }
}

// Head h's tiles and rule; writes its bit-set rows of `l`.
SparseHeadRule lower_head(const HeadPattern& p, int h, SparsePrefillLayout& l, HeadTiles& out) {
  SparseHeadRule rule;
  switch (p.kind) {
    case SparsePatternKind::triangular:
      rule.rule = SparseRule::triangular;
      rule.sink_tokens = static_cast<std::int32_t>(std::min(p.triangular.sink_tokens, l.tokens));
      rule.local_tokens = static_cast<std::int32_t>(std::min(p.triangular.local_tokens, l.tokens + 1));
      lower_triangular({rule.sink_tokens, rule.local_tokens}, l, out);
      break;
    case SparsePatternKind::interval_slash:
      rule.rule = SparseRule::slash;
      lower_interval_slash(p.interval_slash, h, l, out);
      break;
    case SparsePatternKind::block_cluster:
      lower_block_cluster(p.block_cluster, l, out);
      break;
  }
  return rule;
}

}  // namespace

SparsePrefillLayout lower_sparse_prefill(std::span<const HeadPattern> patterns, std::int64_t tokens) {
  require_param(!patterns.empty(), kOp, "patterns", "must hold one pattern per query head");
  for (const auto& p : patterns) validate_head_pattern(p, tokens);
  SparsePrefillLayout l;
  l.tokens = tokens;
  l.n_heads = static_cast<int>(patterns.size());
  l.q_blocks = (tokens + kB - 1) / kB;
  l.words = l.q_blocks;
  l.column_bits.assign(static_cast<std::size_t>(l.n_heads * l.words), 0);
  l.slash_bits.assign(l.column_bits.size(), 0);
  l.rules.resize(static_cast<std::size_t>(l.n_heads));
  std::vector<HeadTiles> heads(static_cast<std::size_t>(l.n_heads));
  detail::parallel_for(l.n_heads, 1, [&](std::int64_t h) {
    l.rules[static_cast<std::size_t>(h)] =
        lower_head(patterns[static_cast<std::size_t>(h)], static_cast<int>(h), l, heads[static_cast<std::size_t>(h)]);
  });
  // Concatenate in head order: offsets first, then each head's copy on its own.
  std::vector<std::size_t> tile_at(heads.size() + 1, 0), col_at(heads.size() + 1, 0);
  for (std::size_t h = 0; h < heads.size(); ++h) {
    tile_at[h + 1] = tile_at[h] + heads[h].tiles.size();
    col_at[h + 1] = col_at[h] + heads[h].columns.size();
  }
  l.tiles.resize(tile_at.back());
  l.columns.resize(col_at.back());
  l.tile_offsets.resize(static_cast<std::size_t>(l.n_heads * l.q_blocks + 1));
  l.tile_offsets[0] = 0;
  l.column_offsets.resize(heads.size() + 1);
  for (std::size_t h = 0; h <= heads.size(); ++h) l.column_offsets[h] = static_cast<std::int64_t>(col_at[h]);
  detail::parallel_for(l.n_heads, 1, [&](std::int64_t h) {
    const auto& ht = heads[static_cast<std::size_t>(h)];
    std::copy(ht.tiles.begin(), ht.tiles.end(), l.tiles.begin() + static_cast<std::ptrdiff_t>(tile_at[static_cast<std::size_t>(h)]));
    std::copy(ht.columns.begin(), ht.columns.end(), l.columns.begin() + static_cast<std::ptrdiff_t>(col_at[static_cast<std::size_t>(h)]));
    for (std::int64_t qb = 0; qb < l.q_blocks; ++qb)
      l.tile_offsets[static_cast<std::size_t>(h * l.q_blocks + qb + 1)] =
          static_cast<std::int64_t>(tile_at[static_cast<std::size_t>(h)]) + ht.ends[static_cast<std::size_t>(qb)];
  });
  return l;
}

}  // namespace foresight::kernels

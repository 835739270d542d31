// Dynamic sparse prefill: names, op costs and tile scaling (config/sparse_prefill.hpp).
#include "foresight/config/sparse_prefill.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <utility>

#include "config_internal.hpp"

namespace foresight::config {

namespace {
constexpr std::array<std::pair<PrefillAttention, const char*>, 5> kPrefillAttentions{{
    {PrefillAttention::dense, "dense"},
    {PrefillAttention::dynamic_sparse, "dynamic-sparse"},
    {PrefillAttention::triangular, "triangular"},
    {PrefillAttention::interval_slash, "interval-slash"},
    {PrefillAttention::block_cluster, "block-cluster"},
}};
constexpr std::array<std::pair<PrefillGrowth, const char*>, 2> kGrowths{{
    {PrefillGrowth::share, "share"},
    {PrefillGrowth::patterns, "patterns"},
}};
constexpr const char* kPatternNames[kPrefillPatternKinds] = {"triangular", "interval-slash", "block-cluster"};
using u64 = std::uint64_t;
}  // namespace

const char* to_string(PrefillAttention a) { return detail::name_of(kPrefillAttentions, a); }
const char* to_string(PrefillGrowth g) { return detail::name_of(kGrowths, g); }
PrefillGrowth parse_prefill_growth(const std::string& s, const std::string& field) {
  return detail::parse_name(kGrowths, s, field);
}

PrefillAttention parse_prefill_attention(const std::string& s, const std::string& field) {
  return detail::parse_name(kPrefillAttentions, s, field);
}

std::vector<std::string> prefill_attention_names() {
  std::vector<std::string> out;
  for (const auto& [a, n] : kPrefillAttentions) out.emplace_back(n);
  return out;
}

unsigned prefill_pattern_kinds(PrefillAttention a) {
  switch (a) {
    case PrefillAttention::dense: return 0u;
    case PrefillAttention::dynamic_sparse: return 7u;
    case PrefillAttention::triangular: return 1u;
    case PrefillAttention::interval_slash: return 2u;
    case PrefillAttention::block_cluster: return 4u;
  }
  return 0u;
}

const char* prefill_pattern_name(std::uint8_t kind) {
  return kind < kPrefillPatternKinds ? kPatternNames[kind] : "unknown";
}

PrefillOpCost prefill_estimate_cost(const ModelConfig& m, std::int64_t tokens) {
  const u64 T = static_cast<u64>(std::max<std::int64_t>(tokens, 0));
  const u64 nq = static_cast<u64>(m.n_heads), nkv = static_cast<u64>(m.n_kv_heads);
  const u64 hd = static_cast<u64>(m.head_dim), dt = static_cast<u64>(m.dtype_bytes);
  const u64 rows = std::min<u64>(T, kSparsePrefillQueries);
  return {T * nkv * hd * dt + rows * nq * hd * dt + 2 * nq * T * 4, 4 * rows * T * nq * hd};
}

PrefillOpCost prefill_choose_cost(const ModelConfig& m, std::int64_t tokens, std::uint64_t tiles) {
  const u64 T = static_cast<u64>(std::max<std::int64_t>(tokens, 0));
  return {2 * static_cast<u64>(m.n_heads) * T * 4 + tiles * 4, 0};
}

PrefillOpCost prefill_sparse_attention_cost(const ModelConfig& m, std::int64_t tokens, std::uint64_t tiles) {
  const u64 T = static_cast<u64>(std::max<std::int64_t>(tokens, 0));
  const u64 nq = static_cast<u64>(m.n_heads), hd = static_cast<u64>(m.head_dim);
  const u64 dt = static_cast<u64>(m.dtype_bytes), b = static_cast<u64>(kSparsePrefillBlock);
  return {tiles * b * hd * 2 * dt + 2 * T * nq * hd * dt, tiles * 4 * b * b * hd};
}

std::uint64_t prefill_sparse_bytes(const ModelConfig& m, std::int64_t tokens) {
  const u64 T = static_cast<u64>(std::max<std::int64_t>(tokens, 0)), nq = static_cast<u64>(m.n_heads);
  const u64 Q = static_cast<u64>(prefill_query_blocks(tokens));
  const u64 estimate =
      4 * (2 * nq * T + nq * Q + static_cast<u64>(prefill_estimate_scratch_floats(m.n_heads, tokens)));
  const u64 layout = 4 * nq * static_cast<u64>(dense_prefill_tiles(tokens)) + 8 * (nq * Q + 1) + 4 * nq * T +
                     8 * (nq + 1) + 16 * nq * Q + 12 * nq;
  return estimate + layout;
}

std::uint64_t scaled_prefill_tiles(std::uint64_t tiles, bool full_coverage, std::int64_t from_tokens,
                                   std::int64_t to_tokens, PrefillGrowth growth) {
  const auto dense_to = static_cast<std::uint64_t>(dense_prefill_tiles(to_tokens));
  if (full_coverage) return dense_to;
  const bool share = growth == PrefillGrowth::share;
  const auto from = static_cast<double>(share ? dense_prefill_tiles(from_tokens) : prefill_query_blocks(from_tokens));
  const auto to = static_cast<double>(share ? dense_prefill_tiles(to_tokens) : prefill_query_blocks(to_tokens));
  if (from <= 0) return 0;
  const double scaled = static_cast<double>(tiles) * to / from;
  return std::min(dense_to, std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::llround(scaled))));
}

}  // namespace foresight::config

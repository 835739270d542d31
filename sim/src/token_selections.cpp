// Token selections: index, gathers and L2 replay (see token_selections.hpp).
#include "foresight/sim/token_selections.hpp"

#include <stdexcept>
#include <string>

#include "foresight/sim/l2_model.hpp"

namespace foresight::sim {

namespace {
constexpr std::int64_t kMaxIndexEntries = std::int64_t{1} << 27;
constexpr int kTokenBits = 32, kSeqBits = 20, kLayerBits = 12;

std::uint64_t token_key(std::int64_t layer, std::int64_t seq, std::int64_t token) {
  require_key_bits(layer, kLayerBits, "layer");
  require_key_bits(seq, kSeqBits, "sequence");
  require_key_bits(token, kTokenBits, "token");
  return (static_cast<std::uint64_t>(layer) << kSeqBits | static_cast<std::uint64_t>(seq)) << kTokenBits |
         static_cast<std::uint64_t>(token);
}

// One (step, layer) group of accesses: keys, and the KV bytes each serves.
struct Accesses {
  std::vector<std::uint64_t> keys;
  std::vector<std::uint64_t> bytes;
  std::vector<std::size_t> group_end;
  std::vector<trace::L2Outcome> groups;
};

void add_row(Accesses& a, std::span<const std::uint32_t> ids, std::int32_t layer, std::int64_t seq,
             bool by_block, std::int64_t block_tokens, std::uint64_t token_bytes) {
  if (!by_block) {
    for (const std::uint32_t id : ids) {
      a.keys.push_back(token_key(layer, seq, id));
      a.bytes.push_back(token_bytes);
    }
    return;
  }
  for (std::size_t j = 0; j < ids.size();) {  // ids ascending: a block's tokens are adjacent
    const std::int64_t block = ids[j] / block_tokens;
    std::uint64_t n = 0;
    for (; j < ids.size() && ids[j] / block_tokens == block; ++j) ++n;
    a.keys.push_back(token_key(layer, seq, block));
    a.bytes.push_back(n * token_bytes);
  }
}
}  // namespace

TokenIndex TokenIndex::build(const trace::Trace& t) {
  TokenIndex x;
  for (const auto& k : t.token_keys) {
    x.layers = std::max<std::int32_t>(x.layers, k.layer + 1);
    x.seqs = std::max<std::int32_t>(x.seqs, k.seq + 1);
    x.steps = std::max<std::int32_t>(x.steps, k.step + 1);
  }
  const std::int64_t n = static_cast<std::int64_t>(x.steps) * x.layers * x.seqs;
  if (n > kMaxIndexEntries)
    throw std::invalid_argument("token selections: " + std::to_string(x.steps) + " steps x " +
                                std::to_string(x.layers) + " layers x " + std::to_string(x.seqs) +
                                " sequences exceed 2^27 (step numbers far beyond the rows recorded?)");
  x.row.assign(static_cast<std::size_t>(n), -1);
  x.first.reserve(t.token_keys.size());
  std::size_t at = 0;
  for (std::size_t r = 0; r < t.token_keys.size(); ++r) {
    const auto& k = t.token_keys[r];
    auto& slot = x.row[(static_cast<std::size_t>(k.step) * x.layers + k.layer) * x.seqs + k.seq];
    if (slot >= 0)
      throw std::invalid_argument("token selections: (step " + std::to_string(k.step) + ", layer " +
                                  std::to_string(k.layer) + ", seq " + std::to_string(k.seq) + ") recorded twice");
    slot = static_cast<std::int64_t>(r);
    x.first.push_back(at);
    at += k.count;
  }
  return x;
}

std::span<const std::uint32_t> TokenIndex::ids(const trace::Trace& t, std::int32_t step, std::int32_t layer,
                                               std::int32_t seq) const {
  if (step < 0 || step >= steps || layer < 0 || layer >= layers || seq < 0 || seq >= seqs) return {};
  const std::int64_t r = row[(static_cast<std::size_t>(step) * layers + layer) * seqs + seq];
  if (r < 0) return {};
  return {t.token_ids.data() + first[static_cast<std::size_t>(r)], t.token_keys[static_cast<std::size_t>(r)].count};
}

std::vector<trace::CacheOutcome> token_gather_outcomes(const trace::Trace& t, const TokenIndex& idx,
                                                       const std::vector<std::int32_t>& seq_map,
                                                       std::uint64_t token_bytes) {
  std::vector<trace::CacheOutcome> out;
  for (std::int32_t s = 0; s < idx.steps; ++s)
    for (std::int32_t l = 0; l < idx.layers; ++l) {
      trace::CacheOutcome c;
      c.step = s;
      c.layer = static_cast<std::int16_t>(l);
      for (const std::int32_t q : seq_map) c.selected += idx.ids(t, s, l, q).size();
      if (c.selected == 0) continue;
      c.misses = c.selected;
      c.loaded_bytes = c.selected * token_bytes;
      out.push_back(c);
    }
  return out;
}

std::vector<trace::L2Outcome> l2_token_outcomes(const trace::Trace& t, const TokenIndex& idx,
                                                const std::vector<std::int32_t>& seq_map,
                                                std::int64_t reserve_bytes, config::L2Policy policy,
                                                std::uint64_t token_bytes, std::int64_t block_tokens) {
  if (token_bytes == 0 || block_tokens < 1)
    throw std::invalid_argument("L2 model: token_bytes and block_tokens must be positive");
  const bool by_block = policy == config::L2Policy::block_lru;
  const std::uint64_t entry = by_block ? token_bytes * static_cast<std::uint64_t>(block_tokens) : token_bytes;
  Accesses a;
  for (std::int32_t s = 0; s < idx.steps; ++s)
    for (std::int32_t l = 0; l < idx.layers; ++l) {
      const std::size_t begin = a.keys.size();
      for (std::size_t i = 0; i < seq_map.size(); ++i)
        add_row(a, idx.ids(t, s, l, seq_map[i]), l, static_cast<std::int64_t>(i), by_block, block_tokens,
                token_bytes);
      if (a.keys.size() == begin) continue;
      a.groups.push_back({s, static_cast<std::int16_t>(l), a.keys.size() - begin, 0, 0, 0});
      a.group_end.push_back(a.keys.size());
    }
  const config::L2Policy replay = policy == config::L2Policy::opt ? config::L2Policy::opt : config::L2Policy::lru;
  const std::vector<std::uint8_t> hit =
      replay_l2(a.keys, reserve_bytes / static_cast<std::int64_t>(entry), replay);
  std::size_t k = 0;
  for (std::size_t g = 0; g < a.groups.size(); ++g)
    for (; k < a.group_end[g]; ++k) {
      a.groups[g].hits += hit[k];
      a.groups[g].bytes += a.bytes[k];
      a.groups[g].hit_bytes += hit[k] ? a.bytes[k] : 0;
    }
  return a.groups;
}

}  // namespace foresight::sim

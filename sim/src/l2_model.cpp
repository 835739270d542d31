// The L2 reservation model (see l2_model.hpp).
#include "foresight/sim/l2_model.hpp"
#include "foresight/sim/cost_model.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <iterator>
#include <list>
#include <set>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

namespace foresight::sim {

void require_key_bits(std::int64_t v, int bits, const char* what) {
  if (v < 0 || v >= (std::int64_t{1} << bits))
    throw std::invalid_argument(std::string("L2 model: ") + what + " " + std::to_string(v) +
                                " does not fit the key's " + std::to_string(bits) + " bits");
}

namespace {

std::vector<std::uint8_t> replay_lru(std::span<const std::uint64_t> keys, std::size_t capacity) {
  std::vector<std::uint8_t> hit(keys.size(), 0);
  std::list<std::uint64_t> order;  // most recent first
  std::unordered_map<std::uint64_t, std::list<std::uint64_t>::iterator> where;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const std::uint64_t k = keys[i];
    if (auto it = where.find(k); it != where.end()) {
      hit[i] = 1;
      order.splice(order.begin(), order, it->second);
      continue;
    }
    if (capacity == 0) continue;
    if (where.size() == capacity) {
      where.erase(order.back());
      order.pop_back();
    }
    order.push_front(k);
    where[k] = order.begin();
  }
  return hit;
}

// next[i]: index of the next access to keys[i] after i, or "never" (max).
std::vector<std::size_t> next_uses(std::span<const std::uint64_t> keys) {
  constexpr std::size_t never = std::numeric_limits<std::size_t>::max();
  std::vector<std::size_t> next(keys.size(), never);
  std::unordered_map<std::uint64_t, std::size_t> seen;
  for (std::size_t i = keys.size(); i-- > 0;) {
    auto [it, fresh] = seen.try_emplace(keys[i], i);
    if (!fresh) {
      next[i] = it->second;
      it->second = i;
    }
  }
  return next;
}

std::vector<std::uint8_t> replay_opt(std::span<const std::uint64_t> keys, std::size_t capacity) {
  std::vector<std::uint8_t> hit(keys.size(), 0);
  const std::vector<std::size_t> next = next_uses(keys);
  std::set<std::pair<std::size_t, std::uint64_t>> by_next;  // (next use, key) of resident entries
  std::unordered_map<std::uint64_t, std::size_t> resident;  // key -> its next use
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const std::uint64_t k = keys[i];
    if (auto it = resident.find(k); it != resident.end()) {
      hit[i] = 1;
      by_next.erase({it->second, k});
      it->second = next[i];
      by_next.insert({next[i], k});
      continue;
    }
    if (capacity == 0) continue;
    if (resident.size() == capacity) {
      // Furthest next use; among entries never used again, the smallest key.
      auto victim = std::prev(by_next.end());
      victim = by_next.lower_bound({victim->first, 0});
      resident.erase(victim->second);
      by_next.erase(victim);
    }
    resident[k] = next[i];
    by_next.insert({next[i], k});
  }
  return hit;
}

constexpr int kBlockBits = 24, kHeadBits = 8, kSeqBits = 20, kLayerBits = 12;

// One key per (layer, simulated sequence, KV head, block): distinct KV.
std::uint64_t block_key(std::int64_t layer, std::int64_t seq, std::int64_t head, std::int64_t block) {
  require_key_bits(layer, kLayerBits, "layer");
  require_key_bits(seq, kSeqBits, "sequence");
  require_key_bits(head, kHeadBits, "KV head");
  require_key_bits(block, kBlockBits, "block");
  return (((static_cast<std::uint64_t>(layer) << kSeqBits | static_cast<std::uint64_t>(seq)) << kHeadBits |
           static_cast<std::uint64_t>(head))
          << kBlockBits) |
         static_cast<std::uint64_t>(block);
}

// The blocks attention reads in one selection row: the selected ones plus
// the tail block, ascending, each once.
void row_blocks(const trace::Trace& t, std::uint32_t r, std::vector<std::int64_t>& out) {
  const auto& key = t.selection_keys[r];
  const auto* b = t.selection_blocks.data() + static_cast<std::size_t>(r) * t.selection_width;
  out.assign(b, b + key.count);
  const std::int64_t tail = tail_block(t.header.run.context_tokens.at(static_cast<std::size_t>(key.seq)),
                                       key.step, t.header.model.sparse.block_tokens);
  if (tail >= 0) out.push_back(tail);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
}

}  // namespace

std::vector<std::uint8_t> replay_l2(std::span<const std::uint64_t> keys, std::int64_t capacity,
                                    config::L2Policy policy) {
  if (capacity < 0) throw std::invalid_argument("L2 model: negative capacity " + std::to_string(capacity));
  const auto c = static_cast<std::size_t>(capacity);
  return policy == config::L2Policy::opt ? replay_opt(keys, c) : replay_lru(keys, c);
}

std::vector<trace::L2Outcome> l2_block_outcomes(const trace::Trace& t, const SelectionIndex& idx,
                                                const std::vector<std::int32_t>& seq_map,
                                                const std::vector<bool>& layers, std::int64_t capacity_blocks,
                                                config::L2Policy policy) {
  if (t.header.model.sparse.block_tokens < 1)
    throw std::invalid_argument("L2 model: header model.sparse.block_tokens must be >= 1");
  for (const std::int32_t seq : seq_map)
    if (seq < 0 || seq >= idx.seqs)
      throw std::invalid_argument("L2 model: /selections have no sequence " + std::to_string(seq));
  std::vector<std::uint64_t> keys;
  std::vector<std::size_t> group_end;      // per (step, layer) group: end in keys
  std::vector<trace::L2Outcome> groups;
  std::vector<std::size_t> cursor(idx.rows.size(), 0);  // per row list: first row not before the step
  std::vector<std::int64_t> blocks;
  for (std::int32_t step = 0; step < idx.steps; ++step) {
    for (std::int32_t l = 0; l < idx.layers; ++l) {
      if (l >= static_cast<std::int32_t>(layers.size()) || !layers[l]) continue;
      const std::size_t begin = keys.size();
      for (std::size_t i = 0; i < seq_map.size(); ++i) {
        for (std::int32_t h = 0; h < idx.heads; ++h) {
          const std::size_t q = (static_cast<std::size_t>(l) * idx.seqs + seq_map[i]) * idx.heads + h;
          const auto& rows = idx.rows[q];
          std::size_t& c = cursor[q];
          while (c < rows.size() && t.selection_keys[rows[c]].step < step) ++c;
          if (c == rows.size() || t.selection_keys[rows[c]].step != step) continue;
          row_blocks(t, rows[c], blocks);
          for (const auto b : blocks) keys.push_back(block_key(l, static_cast<std::int64_t>(i), h, b));
        }
      }
      if (keys.size() == begin) continue;
      groups.push_back({step, static_cast<std::int16_t>(l), keys.size() - begin, 0, 0, 0});
      group_end.push_back(keys.size());
    }
  }
  const std::vector<std::uint8_t> hit = replay_l2(keys, capacity_blocks, policy);
  const auto block_bytes = static_cast<std::uint64_t>(kv_block_bytes(t.header.model));
  std::size_t k = 0;
  for (std::size_t g = 0; g < groups.size(); ++g) {
    for (; k < group_end[g]; ++k) groups[g].hits += hit[k];
    groups[g].bytes = groups[g].accesses * block_bytes;
    groups[g].hit_bytes = groups[g].hits * block_bytes;
  }
  return groups;
}

double l2_slowdown_at_max(const config::Calibration* cal, const config::HardwareConfig& hw, config::Mode mode) {
  if (!cal || hw.persisting_l2_max_bytes <= 0) return kL2SlowdownAtMax;
  const bool tokens = config::mode_traits(mode).selects_tokens();
  const double max_mib = static_cast<double>(hw.persisting_l2_max_bytes) / (1 << 20);
  std::vector<double> at_max;
  for (const auto& p : cal->l2_measured.points)
    if (config::mode_traits(p.mode).selects_tokens() == tokens && std::abs(p.reserve_mib - max_mib) <= 0.01 * max_mib)
      at_max.push_back(p.step_change);
  if (at_max.empty()) return kL2SlowdownAtMax;
  std::sort(at_max.begin(), at_max.end());
  const std::size_t n = at_max.size();
  return n % 2 ? at_max[n / 2] : 0.5 * (at_max[n / 2 - 1] + at_max[n / 2]);
}

L2TimeModel L2TimeModel::of(const config::HardwareConfig& hw, std::int64_t reserve_bytes, double slowdown_at_max) {
  L2TimeModel m;
  m.slowdown_at_max = slowdown_at_max;
  m.l2_gbps = hw.l2_gbps;
  m.hbm_gbps = hw.hbm_gbps;
  const double share = hw.persisting_l2_max_bytes > 0
                           ? std::min(1.0, static_cast<double>(reserve_bytes) /
                                               static_cast<double>(hw.persisting_l2_max_bytes))
                           : 0.0;
  m.other_factor = 1.0 + slowdown_at_max * std::max(0.0, share - kL2FreeShare) / (1.0 - kL2FreeShare);
  return m;
}

std::int64_t L2TimeModel::attention_ns(std::int64_t ns, double hit_bytes, double read_bytes) const {
  const double saved = std::max(0.0, hit_bytes / hbm_gbps - hit_bytes / l2_gbps);
  const double floor = read_bytes / l2_gbps;
  const double d = std::max(static_cast<double>(ns) - saved, floor);
  return std::min(ns, static_cast<std::int64_t>(std::llround(d)));
}

std::int64_t L2TimeModel::other_ns(std::int64_t ns) const {
  return std::llround(static_cast<double>(ns) * other_factor);
}

}  // namespace foresight::sim

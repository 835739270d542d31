// Cache replay of recorded selection streams (see selection_replay.hpp).
#include "foresight/sim/selection_replay.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

#include "cache_detail.hpp"
#include "foresight/sim/cache_policy.hpp"
#include "foresight/sim/schedule.hpp"

namespace foresight::sim {

SelectionIndex SelectionIndex::build(const trace::Trace& t) {
  SelectionIndex idx;
  for (const auto& k : t.selection_keys) {
    idx.layers = std::max<std::int32_t>(idx.layers, k.layer + 1);
    idx.seqs = std::max<std::int32_t>(idx.seqs, k.seq + 1);
    idx.heads = std::max<std::int32_t>(idx.heads, k.kv_head + 1);
    idx.steps = std::max<std::int32_t>(idx.steps, k.step + 1);
  }
  idx.rows.assign(static_cast<std::size_t>(idx.layers) * idx.seqs * idx.heads, {});
  for (std::size_t r = 0; r < t.selection_keys.size(); ++r) {
    const auto& k = t.selection_keys[r];
    if (k.layer < 0 || k.seq < 0 || k.step < 0)
      throw std::invalid_argument("/selections/keys[" + std::to_string(r) +
                                  "]: negative layer, seq or step");
    idx.rows[(static_cast<std::size_t>(k.layer) * idx.seqs + k.seq) * idx.heads + k.kv_head]
        .push_back(static_cast<std::uint32_t>(r));
  }
  for (auto& v : idx.rows)
    std::stable_sort(v.begin(), v.end(), [&](std::uint32_t a, std::uint32_t b) {
      return t.selection_keys[a].step < t.selection_keys[b].step;
    });
  return idx;
}

std::vector<bool> cache_layers(config::Mode mode, std::int64_t n_layers) {
  const bool select = config::mode_traits(mode).selects_blocks();
  return std::vector<bool>(static_cast<std::size_t>(std::max<std::int64_t>(n_layers, 0)), select);
}

std::int64_t tail_block(std::int64_t context_tokens, std::int32_t step, std::int64_t block_tokens) {
  const std::int64_t position = context_tokens - 1 + step;
  return position < 0 ? -1 : position / block_tokens;
}

SelectionStreams SelectionStreams::build(const trace::Trace& t, const SelectionIndex& idx) {
  const std::size_t width = t.selection_width;
  const std::int64_t block_tokens = t.header.model.sparse.block_tokens;
  if (block_tokens < 1)
    throw std::invalid_argument("header model.sparse.block_tokens must be >= 1 to find the tail "
                                "block, got " + std::to_string(block_tokens));
  const auto& ctx = t.header.run.context_tokens;
  if (static_cast<std::int64_t>(ctx.size()) < idx.seqs)
    throw std::invalid_argument("header run.context_tokens names " + std::to_string(ctx.size()) +
                                " sequences but /selections has sequence " +
                                std::to_string(idx.seqs - 1));
  SelectionStreams st;
  st.blocks.reserve(t.selection_blocks.size());
  st.row_begin.reserve(t.selection_keys.size() + 1);
  st.tail_hit.reserve(t.selection_keys.size());
  st.stream_begin.reserve(idx.rows.size() + 1);
  for (const auto& rows : idx.rows) {
    st.stream_begin.push_back(st.tail_hit.size());
    for (const std::uint32_t r : rows) {
      const auto& key = t.selection_keys[r];
      const auto* b = t.selection_blocks.data() + static_cast<std::size_t>(r) * width;
      const std::int64_t tail =
          tail_block(ctx[static_cast<std::size_t>(key.seq)], key.step, block_tokens);
      st.row_begin.push_back(st.blocks.size());
      std::uint8_t hit = 0;
      for (const auto* e = b; e != b + key.count; ++e) {
        if (static_cast<std::int64_t>(*e) == tail) {
          hit = 1;  // served by the tail slot: no lookup, no insert
        } else {
          st.blocks.push_back(*e);
        }
      }
      st.tail_hit.push_back(hit);
    }
  }
  st.stream_begin.push_back(st.tail_hit.size());
  st.row_begin.push_back(st.blocks.size());
  return st;
}

StreamOutcomes replay_selections(const trace::Trace& t, const SelectionIndex& idx,
                                 config::Eviction policy, std::int64_t capacity,
                                 const std::vector<bool>& replay_layer) {
  return replay_selections(idx, SelectionStreams::build(t, idx), t, policy, capacity, replay_layer);
}

namespace {

// A fresh cache for one (layer, seq, head) stream: rows at positions
// first..first+n of `st`. `lru` is the runtime's LRU working set
// (kernels/working_set.hpp: oldest last-selected step, ties by lowest slot
// index), i.e. sparda's rule above top-k, not the textbook lru of
// make_block_cache, which orders the blocks used in one step by selection
// order: a replay predicts what the runtime does with that many slots, and
// the two differ whenever blocks last used in the same step tie for a victim.
std::unique_ptr<BlockCache> stream_cache(const SelectionStreams& st, std::size_t first, std::size_t n,
                                         config::Eviction policy, std::int64_t capacity,
                                         bool exact_working_set) {
  if (exact_working_set) return detail::make_sparda_cache(capacity, /*victims_by_slot=*/true);
  if (policy == config::Eviction::lru) return detail::make_sparda_cache(capacity);
  if (policy != config::Eviction::opt) return make_block_cache(policy, capacity);
  std::vector<std::vector<std::uint32_t>> future(n);
  for (std::size_t i = 0; i < n; ++i) {
    const auto sel = st.row(first + i);
    future[i].assign(sel.begin(), sel.end());
  }
  return make_block_cache(policy, capacity, future);
}

}  // namespace

config::Eviction replay_equivalent(config::Eviction policy, std::int64_t capacity, std::int64_t topk) {
  // stream_cache: lru is make_sparda_cache(capacity), and so is sparda unless exact_working_set.
  return policy == config::Eviction::lru && capacity != topk ? config::Eviction::sparda : policy;
}

StreamOutcomes replay_selections(const SelectionIndex& idx, const SelectionStreams& st,
                                 const trace::Trace& t, config::Eviction policy,
                                 std::int64_t capacity, const std::vector<bool>& replay_layer) {
  StreamOutcomes o;
  o.layers = idx.layers;
  o.seqs = idx.seqs;
  o.steps = idx.steps;
  o.hits.assign(static_cast<std::size_t>(o.layers) * o.seqs * o.steps, 0);
  o.misses.assign(o.hits.size(), 0);
  // The runtime keeps exactly top-k regular slots with its exact variant
  // (victims by slot index), more slots with LRU; sparda at top-k follows it.
  const bool exact_working_set =
      policy == config::Eviction::sparda && capacity == t.header.run.topk_blocks;
  for (std::int32_t l = 0; l < idx.layers; ++l) {
    if (l >= static_cast<std::int32_t>(replay_layer.size()) || !replay_layer[l]) continue;
    for (std::int32_t s = 0; s < idx.seqs; ++s) {
      for (std::int32_t h = 0; h < idx.heads; ++h) {
        const std::size_t q = (static_cast<std::size_t>(l) * idx.seqs + s) * idx.heads + h;
        const auto& rows = idx.rows[q];
        const std::size_t first = st.stream_begin[q];
        auto cache = stream_cache(st, first, rows.size(), policy, capacity, exact_working_set);
        for (std::size_t i = 0; i < rows.size(); ++i) {
          const AccessOutcome a = cache->access(st.row(first + i));
          const std::size_t at =
              (static_cast<std::size_t>(l) * o.seqs + s) * o.steps + t.selection_keys[rows[i]].step;
          o.hits[at] += a.hits + st.tail_hit[first + i];
          o.misses[at] += a.misses;
        }
      }
    }
  }
  return o;
}

std::vector<trace::CacheOutcome> aggregate_outcomes(const StreamOutcomes& o,
                                                    const std::vector<std::int32_t>& seq_map,
                                                    const std::vector<bool>& replay_layer,
                                                    std::uint64_t block_bytes) {
  std::vector<std::int32_t> layers;  // replayed layers, ascending
  for (std::int32_t l = 0; l < o.layers; ++l)
    if (l < static_cast<std::int32_t>(replay_layer.size()) && replay_layer[l]) layers.push_back(l);
  const std::size_t nl = layers.size(), steps = static_cast<std::size_t>(std::max(o.steps, 0));
  std::vector<trace::CacheOutcome> out(steps * nl);  // (step, layer), step after step
  // Summed per layer over the batch's streams, each read in step order (contiguous).
  std::vector<std::uint64_t> hits(steps), misses(steps);
  for (std::size_t li = 0; li < nl; ++li) {
    std::fill(hits.begin(), hits.end(), 0);
    std::fill(misses.begin(), misses.end(), 0);
    for (std::int32_t s : seq_map) {
      const std::size_t base = (static_cast<std::size_t>(layers[li]) * o.seqs + s) * steps;
      for (std::size_t step = 0; step < steps; ++step) {
        hits[step] += o.hits[base + step];
        misses[step] += o.misses[base + step];
      }
    }
    for (std::size_t step = 0; step < steps; ++step) {
      trace::CacheOutcome& c = out[step * nl + li];
      c.step = static_cast<std::int32_t>(step);
      c.layer = static_cast<std::int16_t>(layers[li]);
      c.hits = hits[step];
      c.misses = misses[step];
      c.selected = c.hits + c.misses;
      c.loaded_bytes = c.misses * block_bytes;
    }
  }
  return out;
}

}  // namespace foresight::sim

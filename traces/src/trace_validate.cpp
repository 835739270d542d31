// Whole-trace validation (reader.hpp: validate). Every message names the
// source, the dataset, the record index and the field.
#include <fmt/core.h>

#include <algorithm>
#include <map>

#include "foresight/config/load.hpp"
#include "foresight/config/sparse_prefill.hpp"
#include "foresight/trace/reader.hpp"

namespace foresight::trace {
namespace {

template <class... A>
[[noreturn]] void bad(const std::string& where, fmt::format_string<A...> f, A&&... a) {
  throw TraceError(where + ": " + fmt::format(f, std::forward<A>(a)...));
}

// Times of one record of `table` ("/ops", "/steps"): start <= end, both in
// [0, kMaxTimeNs]; adds the duration to `total_ns`, which must stay within
// kMaxTotal (so no sum over the table wraps).
void check_times(const std::string& w, const char* table, std::size_t i, std::int64_t start,
                 std::int64_t end, std::int64_t& total_ns) {
  if (end < start) bad(w, "{}[{}].end_ns ({}) < start_ns ({})", table, i, end, start);
  if (start < 0 || start > kMaxTimeNs)
    bad(w, "{}[{}].start_ns ({}) outside [0, 2^56] ns", table, i, start);
  if (end > kMaxTimeNs) bad(w, "{}[{}].end_ns ({}) outside [0, 2^56] ns", table, i, end);
  total_ns += end - start;  // at most 2^62 + 2^56: cannot wrap
  if (static_cast<std::uint64_t>(total_ns) > kMaxTotal)
    bad(w, "{}[{}]: durations up to this record add up to {} ns, more than 2^62", table, i,
        total_ns);
}

// A count or byte field of record i: at most kMaxBytes, and its running sum
// `total` over the table at most kMaxTotal.
void check_amount(const std::string& w, const char* table, std::size_t i, const char* field,
                  std::uint64_t value, std::uint64_t& total) {
  if (value > kMaxBytes) bad(w, "{}[{}].{} ({}) more than 2^56", table, i, field, value);
  total += value;  // <= 2^62 + 2^56: cannot wrap
  if (total > kMaxTotal)
    bad(w, "{}[{}].{}: the sum up to this record is {}, more than 2^62", table, i, field, total);
}

void check_configs(const Trace& t, const std::string& w) {
  const auto& run = t.header.run;
  const auto& model = t.header.model;
  if (t.header.schema_version < kOldestSchemaVersion || t.header.schema_version > kSchemaVersion)
    bad(w, "schema_version {} is not supported (this build reads {} to {})", t.header.schema_version,
        kOldestSchemaVersion, kSchemaVersion);
  try {
    config::validate_run(run, model, w + ": /config/run");
  } catch (const config::ConfigError& e) {
    throw TraceError(e.what());
  }
  if (static_cast<std::int64_t>(run.context_tokens.size()) != run.batch)
    bad(w, "/config/run.context_tokens has {} entries for batch {}", run.context_tokens.size(),
        run.batch);
  if (model.sparse.block_tokens <= 0)
    bad(w, "/config/model.sparse.block_tokens ({}) must be positive", model.sparse.block_tokens);
}

void check_ops(const Trace& t, const std::string& w) {
  const auto& model = t.header.model;
  const auto& run = t.header.run;
  // Last step seen per (stream, phase): steps never go back on one stream.
  std::map<std::pair<int, int>, std::int32_t> last_step;
  std::int64_t total_ns = 0;
  std::uint64_t total_bytes = 0;
  for (std::size_t i = 0; i < t.ops.size(); ++i) {
    const Op& op = t.ops[i];
    if (i > 0 && op.id <= t.ops[i - 1].id)
      bad(w, "/ops[{}].id ({}) not greater than /ops[{}].id ({})", i, op.id, i - 1,
          t.ops[i - 1].id);
    check_times(w, "/ops", i, op.start_ns, op.end_ns, total_ns);
    check_amount(w, "/ops", i, "bytes", op.bytes, total_bytes);
    if (static_cast<int>(op.kind) >= kOpKindCount)
      bad(w, "/ops[{}].kind ({}) is not a known kind", i, static_cast<int>(op.kind));
    if (static_cast<int>(op.engine) >= kEngineCount)
      bad(w, "/ops[{}].engine ({}) is not a known engine", i, static_cast<int>(op.engine));
    if (static_cast<int>(op.phase) > 1)
      bad(w, "/ops[{}].phase ({}) is not prefill (0) or decode (1)", i, static_cast<int>(op.phase));
    if (op.stage >= t.stages.size())
      bad(w, "/ops[{}].stage ({}) out of range (/stages has {})", i, op.stage, t.stages.size());
    if (op.stream >= t.streams.size())
      bad(w, "/ops[{}].stream ({}) out of range (/streams has {})", i, op.stream, t.streams.size());
    if (op.layer < -1 || op.layer >= model.n_layers)
      bad(w, "/ops[{}].layer ({}) outside [-1, {})", i, op.layer, model.n_layers);
    if (op.seq < -1 || op.seq >= run.batch)
      bad(w, "/ops[{}].seq ({}) outside [-1, {})", i, op.seq, run.batch);
    if (op.step < 0) bad(w, "/ops[{}].step ({}) is negative", i, op.step);
    auto [it, fresh] = last_step.try_emplace({op.stream, static_cast<int>(op.phase)}, op.step);
    if (!fresh) {
      if (op.step < it->second)
        bad(w, "/ops[{}].step ({}) goes back from step {} on stream '{}'", i, op.step, it->second,
            t.streams[op.stream].name);
      it->second = op.step;
    }
    if (op.dep_offset > t.deps.size() || op.dep_count > t.deps.size() - op.dep_offset)
      bad(w, "/ops[{}].dep_offset/dep_count ({}, {}) outside /op_deps (size {})", i, op.dep_offset,
          op.dep_count, t.deps.size());
    for (std::uint64_t k = op.dep_offset; k < op.dep_offset + op.dep_count; ++k) {
      const std::uint64_t d = t.deps[k];
      const auto end = t.ops.begin() + static_cast<std::ptrdiff_t>(i);
      const auto hit = std::lower_bound(t.ops.begin(), end, d,
                                        [](const Op& o, std::uint64_t id) { return o.id < id; });
      if (hit == end || hit->id != d)
        bad(w, "/op_deps[{}] (op {}) named by /ops[{}] (id {}) is not an earlier op", k, d, i,
            op.id);
    }
  }
}

void check_steps(const Trace& t, const std::string& w) {
  const StepSpan* prev[2] = {nullptr, nullptr};
  std::int64_t total_ns = 0;
  for (std::size_t i = 0; i < t.steps.size(); ++i) {
    const StepSpan& s = t.steps[i];
    const int ph = static_cast<int>(s.phase);
    if (ph > 1) bad(w, "/steps[{}].phase ({}) is not prefill (0) or decode (1)", i, ph);
    check_times(w, "/steps", i, s.start_ns, s.end_ns, total_ns);
    if (s.step < 0) bad(w, "/steps[{}].step ({}) is negative", i, s.step);
    if (prev[ph]) {
      if (s.step <= prev[ph]->step)
        bad(w, "/steps[{}].step ({}) not greater than the previous {} step ({})", i, s.step,
            to_string(s.phase), prev[ph]->step);
      if (s.start_ns < prev[ph]->start_ns)
        bad(w, "/steps[{}].start_ns ({}) before the previous {} step's start ({})", i, s.start_ns,
            to_string(s.phase), prev[ph]->start_ns);
    }
    prev[ph] = &s;
  }
}

void check_selections(const Trace& t, const std::string& w) {
  const auto& model = t.header.model;
  const auto& run = t.header.run;
  const std::uint64_t width = t.selection_width;
  if (t.selection_blocks.size() != t.selection_keys.size() * width)
    bad(w, "/selections/blocks holds {} ids for {} rows of width {}", t.selection_blocks.size(),
        t.selection_keys.size(), width);
  for (std::size_t r = 0; r < t.selection_keys.size(); ++r) {
    const SelectionKey& k = t.selection_keys[r];
    if (k.count > width) bad(w, "/selections/keys[{}].count ({}) > width ({})", r, k.count, width);
    if (k.step < 0) bad(w, "/selections/keys[{}].step ({}) is negative", r, k.step);
    if (k.layer < 0 || k.layer >= model.n_layers)
      bad(w, "/selections/keys[{}].layer ({}) outside [0, {})", r, k.layer, model.n_layers);
    if (k.seq < 0 || k.seq >= run.batch)
      bad(w, "/selections/keys[{}].seq ({}) outside [0, {})", r, k.seq, run.batch);
    if (k.kv_head >= model.n_kv_heads)
      bad(w, "/selections/keys[{}].kv_head ({}) outside [0, {})", r, k.kv_head, model.n_kv_heads);
    const std::int64_t tokens = run.context_tokens[static_cast<std::size_t>(k.seq)] + k.step + 1;
    const std::int64_t n_blocks =
        (tokens + model.sparse.block_tokens - 1) / model.sparse.block_tokens;
    const std::uint32_t* row = t.selection_blocks.data() + r * width;
    for (std::uint64_t j = 0; j < width; ++j) {
      if (j >= k.count) {
        if (row[j] != Trace::kNoBlock)
          bad(w, "/selections/blocks[{}, {}] ({}) past count {} must be empty", r, j, row[j],
              k.count);
        continue;
      }
      if (row[j] >= n_blocks)
        bad(w,
            "/selections/blocks[{}, {}] ({}) outside the context of seq {} at step {} ({} blocks)",
            r, j, row[j], k.seq, k.step, n_blocks);
      if (j > 0 && row[j] <= row[j - 1])
        bad(w, "/selections/blocks[{}, {}] ({}) not greater than the previous id ({})", r, j,
            row[j], row[j - 1]);
    }
  }
}

// Token rows: keys in range, each row's ids (ascending by the codec) inside
// its sequence at that step, and as many ids as the keys count.
void check_token_selections(const Trace& t, const std::string& w) {
  const auto& model = t.header.model;
  const auto& run = t.header.run;
  const config::ModeTraits& mt = config::mode_traits(run.mode);
  if (!t.token_keys.empty() && !mt.selects_tokens())
    bad(w, "/token_selections holds {} rows but mode {} does not select tokens", t.token_keys.size(),
        config::to_string(run.mode));
  if (!t.selection_keys.empty() && mt.selects_tokens())
    bad(w, "/selections holds {} block rows but mode {} selects tokens", t.selection_keys.size(),
        config::to_string(run.mode));
  std::size_t at = 0;
  for (std::size_t r = 0; r < t.token_keys.size(); ++r) {
    const SelectionKey& k = t.token_keys[r];
    if (k.step < 0) bad(w, "/token_selections/keys[{}].step ({}) is negative", r, k.step);
    if (k.layer < 0 || k.layer >= model.n_layers)
      bad(w, "/token_selections/keys[{}].layer ({}) outside [0, {})", r, k.layer, model.n_layers);
    if (k.seq < 0 || k.seq >= run.batch)
      bad(w, "/token_selections/keys[{}].seq ({}) outside [0, {})", r, k.seq, run.batch);
    if (k.kv_head != 0) bad(w, "/token_selections/keys[{}].kv_head ({}) must be 0", r, k.kv_head);
    if (at + k.count > t.token_ids.size())
      bad(w, "/token_selections/keys[{}].count ({}) runs past the {} ids", r, k.count, t.token_ids.size());
    const std::int64_t tokens = run.context_tokens[static_cast<std::size_t>(k.seq)] + k.step + 1;
    for (std::uint32_t j = 0; j < k.count; ++j, ++at) {
      if (t.token_ids[at] >= tokens)
        bad(w, "/token_selections/ids: row {} id {} ({}) outside the {} tokens of seq {} at step {}", r, j,
            t.token_ids[at], tokens, k.seq, k.step);
      if (j > 0 && t.token_ids[at] <= t.token_ids[at - 1])
        bad(w, "/token_selections/ids: row {} id {} ({}) not greater than the previous id", r, j, t.token_ids[at]);
    }
  }
  if (at != t.token_ids.size())
    bad(w, "/token_selections holds {} ids but its keys count {}", t.token_ids.size(), at);
}

void check_cache_memory(const Trace& t, const std::string& w) {
  std::uint64_t sums[4] = {};  // selected, hits, misses, loaded_bytes
  for (std::size_t i = 0; i < t.cache.size(); ++i) {
    const CacheOutcome& c = t.cache[i];
    check_amount(w, "/cache", i, "selected", c.selected, sums[0]);
    check_amount(w, "/cache", i, "hits", c.hits, sums[1]);
    check_amount(w, "/cache", i, "misses", c.misses, sums[2]);
    check_amount(w, "/cache", i, "loaded_bytes", c.loaded_bytes, sums[3]);
    if (c.hits + c.misses != c.selected)
      bad(w, "/cache[{}].hits ({}) + misses ({}) != selected ({})", i, c.hits, c.misses,
          c.selected);
    if (c.layer < 0 || c.layer >= t.header.model.n_layers)
      bad(w, "/cache[{}].layer ({}) outside [0, {})", i, c.layer, t.header.model.n_layers);
    if (c.step < 0) bad(w, "/cache[{}].step ({}) is negative", i, c.step);
  }
  std::uint64_t by_location[2] = {};  // a footprint: at most kMaxBytes per location
  for (std::size_t i = 0; i < t.memory.size(); ++i) {
    const MemoryEntry& m = t.memory[i];
    const int loc = static_cast<int>(m.location);
    if (loc > 1) bad(w, "/memory[{}].location ({}) is not gpu (0) or host_pinned (1)", i, loc);
    if (m.category.empty()) bad(w, "/memory[{}].category is empty", i);
    if (m.bytes > kMaxBytes) bad(w, "/memory[{}].bytes ({}) more than 2^56", i, m.bytes);
    by_location[loc] += m.bytes;  // <= 2^57: cannot wrap
    if (by_location[loc] > kMaxBytes)
      bad(w, "/memory[{}].bytes ({}) takes the {} total to {} bytes, more than 2^56", i, m.bytes,
          to_string(m.location), by_location[loc]);
  }
  for (std::size_t i = 0; i < t.streams.size(); ++i)
    if (static_cast<int>(t.streams[i].kind) > 2)
      bad(w, "/streams[{}].kind ({}) is not compute, copy or host", i,
          static_cast<int>(t.streams[i].kind));
}

}  // namespace

// Sparse prefill patterns: in range, tiles within dense, recall a share, and
// only in a run whose prefill attention is sparse.
void check_prefill_patterns(const Trace& t, const std::string& w) {
  const auto& run = t.header.run;
  const auto& model = t.header.model;
  if (!t.prefill_patterns.empty() && !config::prefill_is_sparse(run.prefill_attention))
    bad(w, "/prefill_patterns holds {} rows but the run's prefill attention is {}", t.prefill_patterns.size(),
        config::to_string(run.prefill_attention));
  for (std::size_t i = 0; i < t.prefill_patterns.size(); ++i) {
    const PrefillPattern& p = t.prefill_patterns[i];
    if (p.seq < 0 || p.seq >= run.batch) bad(w, "/prefill_patterns[{}].seq ({}) outside [0, {})", i, p.seq, run.batch);
    if (p.layer < 0 || p.layer >= model.n_layers)
      bad(w, "/prefill_patterns[{}].layer ({}) outside [0, {})", i, p.layer, model.n_layers);
    if (p.head >= model.n_heads) bad(w, "/prefill_patterns[{}].head ({}) outside [0, {})", i, p.head, model.n_heads);
    if (p.kind >= config::kPrefillPatternKinds)
      bad(w, "/prefill_patterns[{}].kind ({}) is not 0, 1 or 2", i, static_cast<int>(p.kind));
    if (p.full > 1) bad(w, "/prefill_patterns[{}].full ({}) is not 0 or 1", i, static_cast<int>(p.full));
    if (p.tokens < 1 || p.tokens > model.max_context)
      bad(w, "/prefill_patterns[{}].tokens ({}) outside [1, {}]", i, p.tokens, model.max_context);
    const auto dense = static_cast<std::uint64_t>(config::dense_prefill_tiles(p.tokens));
    if (p.dense_tiles != dense)
      bad(w, "/prefill_patterns[{}].dense_tiles ({}) is not Q (Q + 1) / 2 = {} for {} tokens", i, p.dense_tiles,
          dense, p.tokens);
    if (p.tiles < 1 || p.tiles > p.dense_tiles)
      bad(w, "/prefill_patterns[{}].tiles ({}) outside [1, dense_tiles = {}]", i, p.tiles, p.dense_tiles);
    if (!(p.recall >= 0.0 && p.recall <= 1.0 + 1e-6))
      bad(w, "/prefill_patterns[{}].recall ({}) outside [0, 1]", i, p.recall);
    if (p.param_a < 0 || p.param_b < 0)
      bad(w, "/prefill_patterns[{}].param_a/param_b ({}, {}) negative", i, p.param_a, p.param_b);
  }
}

void validate(const Trace& t, const std::string& where) {
  check_configs(t, where);
  check_ops(t, where);
  check_steps(t, where);
  check_selections(t, where);
  check_token_selections(t, where);
  check_cache_memory(t, where);
  check_prefill_patterns(t, where);
}

}  // namespace foresight::trace

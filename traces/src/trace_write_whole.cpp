// write_trace: a whole in-memory trace through the streaming TraceWriter.
#include <fmt/core.h>

#include "foresight/trace/reader.hpp"
#include "foresight/trace/writer.hpp"

namespace foresight::trace {

void write_trace(const std::filesystem::path& path, const Trace& t, WriterOptions opts) {
  TraceWriter w(path, t.header, t.selection_width, opts);
  std::vector<std::uint16_t> stage_map;
  for (const auto& s : t.stages) stage_map.push_back(w.stage(s));
  std::vector<std::uint8_t> stream_map;
  for (const auto& s : t.streams) stream_map.push_back(w.stream(s.name, s.kind));
  const std::string where = path.string() + ".partial";
  for (std::size_t i = 0; i < t.ops.size(); ++i) {
    Op op = t.ops[i];
    if (op.stage >= stage_map.size() || op.stream >= stream_map.size() ||
        op.dep_offset + op.dep_count > t.deps.size())
      throw TraceError(fmt::format("{}: /ops[{}]: stage, stream or deps out of range", where, i));
    op.stage = stage_map[op.stage];
    op.stream = stream_map[op.stream];
    w.add_op(op, std::span(t.deps).subspan(op.dep_offset, op.dep_count));
  }
  for (const auto& s : t.steps) w.add_step(s);
  if (t.selection_blocks.size() != t.selection_keys.size() * t.selection_width)
    throw TraceError(fmt::format("{}: {}: {} ids for {} rows of width {}", where,
                                 "/selections/blocks", t.selection_blocks.size(),
                                 t.selection_keys.size(), t.selection_width));
  for (std::size_t r = 0; r < t.selection_keys.size(); ++r) {
    const auto& k = t.selection_keys[r];
    if (k.count > t.selection_width)
      throw TraceError(fmt::format("{}: /selections/keys[{}].count ({}) > width ({})", where, r,
                                   k.count, t.selection_width));
    w.add_selection(k, std::span(t.selection_blocks).subspan(r * t.selection_width, k.count));
  }
  std::size_t at = 0;
  for (std::size_t r = 0; r < t.token_keys.size(); ++r) {
    const auto& k = t.token_keys[r];
    if (at + k.count > t.token_ids.size())
      throw TraceError(fmt::format("{}: /token_selections/keys[{}].count ({}) runs past the {} ids", where, r,
                                   k.count, t.token_ids.size()));
    w.add_token_selection(k, std::span(t.token_ids).subspan(at, k.count));
    at += k.count;
  }
  for (const auto& c : t.cache) w.add_cache(c);
  for (const auto& p : t.prefill_patterns) w.add_prefill_pattern(p);
  for (const auto& e : t.memory) w.add_memory(e);
  w.close(t.header.status, t.header.status_reason);
}

}  // namespace foresight::trace

// Recorder and the in-memory trace sink.
#include "foresight/runtime/recorder.hpp"

#include <algorithm>

namespace foresight::runtime {

MemoryTraceSink::MemoryTraceSink(trace::Header header, std::uint32_t selection_width) {
  trace_.header = std::move(header);
  trace_.selection_width = selection_width;
}

std::uint16_t MemoryTraceSink::stage(std::string_view name) {
  auto it = std::find(trace_.stages.begin(), trace_.stages.end(), name);
  if (it != trace_.stages.end()) return static_cast<std::uint16_t>(it - trace_.stages.begin());
  trace_.stages.emplace_back(name);
  return static_cast<std::uint16_t>(trace_.stages.size() - 1);
}

std::uint8_t MemoryTraceSink::stream(std::string_view name, trace::StreamKind kind) {
  for (std::size_t i = 0; i < trace_.streams.size(); ++i) {
    if (trace_.streams[i].name == name) return static_cast<std::uint8_t>(i);
  }
  trace_.streams.push_back({std::string(name), kind});
  return static_cast<std::uint8_t>(trace_.streams.size() - 1);
}

void MemoryTraceSink::add_selection(const trace::SelectionKey& key, std::span<const std::uint32_t> blocks) {
  trace_.selection_keys.push_back(key);
  std::vector<std::uint32_t> row(blocks.begin(), blocks.end());
  std::sort(row.begin(), row.end());
  row.resize(trace_.selection_width, trace::Trace::kNoBlock);
  trace_.selection_blocks.insert(trace_.selection_blocks.end(), row.begin(), row.end());
}

void MemoryTraceSink::close(trace::RunStatus status, const std::string& reason) {
  trace_.header.status = status;
  trace_.header.status_reason = reason;
  closed_ = true;
}

Recorder::Recorder(Backend& backend, TraceSink* sink) : backend_(backend), sink_(sink) {
  if (sink_) main_stream_ = sink_->stream("main", trace::StreamKind::compute);
}

void Recorder::begin_step(trace::Phase phase, std::int32_t step) {
  phase_ = phase;
  step_ = step;
  pending_.clear();
  step_begin_ = backend_.mark();
}

std::int64_t Recorder::end_step() {
  const auto step_end = backend_.mark();
  backend_.synchronize();
  const std::int64_t t0 = backend_.mark_ns(step_begin_), t1 = backend_.mark_ns(step_end);
  for (const auto& p : pending_) {
    const std::int64_t a = backend_.mark_ns(p.begin), b = backend_.mark_ns(p.end);
    auto it = std::find_if(stage_totals_.begin(), stage_totals_.end(),
                           [&](const auto& s) { return s.first == p.info.stage; });
    if (it == stage_totals_.end()) {
      stage_totals_.emplace_back(std::string(p.info.stage), 0);
      it = stage_totals_.end() - 1;
    }
    it->second += b - a;
    if (!sink_) continue;
    trace::Op op;
    op.id = next_id_++;
    op.kind = p.info.kind;
    op.engine = p.info.engine;
    op.phase = phase_;
    op.stage = sink_->stage(p.info.stage);
    op.stream = main_stream_;
    op.step = step_;
    op.layer = p.info.layer;
    op.seq = p.info.seq;
    op.start_ns = a;
    op.end_ns = std::max(a, b);
    op.bytes = p.info.bytes;
    op.flops = p.info.flops;
    op.chunks = p.info.chunks;
    sink_->add_op(op);
  }
  pending_.clear();
  if (sink_) sink_->add_step({phase_, step_, t0, t1});
  return t1 - t0;
}

void Recorder::selection(std::int32_t step, std::int16_t layer, std::int32_t seq, std::uint16_t kv_head,
                         std::span<const std::int32_t> ids) {
  if (!sink_) return;
  std::vector<std::uint32_t> blocks;
  for (auto id : ids) if (id >= 0) blocks.push_back(static_cast<std::uint32_t>(id));
  trace::SelectionKey key{step, layer, seq, kv_head, static_cast<std::uint16_t>(blocks.size())};
  sink_->add_selection(key, blocks);
}

void Recorder::cache(const trace::CacheOutcome& c) {
  if (sink_) sink_->add_cache(c);
}
void Recorder::memory(const trace::MemoryEntry& m) {
  if (sink_) sink_->add_memory(m);
}

void Recorder::close(trace::RunStatus status, const std::string& reason) {
  if (closed_) return;
  closed_ = true;
  if (sink_) sink_->close(status, reason);
}

}  // namespace foresight::runtime

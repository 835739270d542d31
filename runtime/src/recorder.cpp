// Recorder and the in-memory trace sink.
#include "foresight/runtime/recorder.hpp"

#include <algorithm>
#include <stdexcept>

namespace foresight::runtime {

MemoryTraceSink::MemoryTraceSink(trace::Header header, std::uint32_t selection_width, bool keep_selections)
    : keep_selections_(keep_selections) {
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

void MemoryTraceSink::add_op(const trace::Op& op, std::span<const std::uint64_t> deps) {
  trace::Op o = op;
  o.dep_offset = trace_.deps.size();
  o.dep_count = static_cast<std::uint32_t>(deps.size());
  trace_.deps.insert(trace_.deps.end(), deps.begin(), deps.end());
  trace_.ops.push_back(o);
}

void MemoryTraceSink::add_selection(const trace::SelectionKey& key, std::span<const std::uint32_t> blocks) {
  if (!keep_selections_) return;
  trace_.selection_keys.push_back(key);
  std::vector<std::uint32_t> row(blocks.begin(), blocks.end());
  std::sort(row.begin(), row.end());
  row.resize(trace_.selection_width, trace::Trace::kNoBlock);
  trace_.selection_blocks.insert(trace_.selection_blocks.end(), row.begin(), row.end());
}

void MemoryTraceSink::add_token_selection(const trace::SelectionKey& key, std::span<const std::uint32_t> tokens) {
  if (!keep_selections_) return;
  trace_.token_keys.push_back(key);
  trace_.token_ids.insert(trace_.token_ids.end(), tokens.begin(), tokens.end());
}

void MemoryTraceSink::close(trace::RunStatus status, const std::string& reason) {
  trace_.header.status = status;
  trace_.header.status_reason = reason;
  closed_ = true;
}

Recorder::Recorder(Backend& backend, TraceSink* sink, bool time_ops)
    : backend_(backend), sink_(sink), time_ops_(time_ops) {
  if (sink_) {
    main_stream_ = sink_->stream("main", trace::StreamKind::compute);
    // One-stream backends (CPU) run side-stream work in program order on main.
    side_stream_ = backend_.stream_count() > 1 ? sink_->stream("side", trace::StreamKind::copy) : main_stream_;
  }
}

void Recorder::patch(int handle, std::uint64_t bytes, std::uint32_t chunks, std::uint64_t flops) {
  if (handle < 0) return;
  auto& p = pending_.at(static_cast<std::size_t>(handle));
  p.info.bytes = bytes;
  p.info.chunks = chunks;
  p.info.flops = flops;
}

void Recorder::begin_capture(int slot, int first_handle) {
  if (!time_ops_) return;
  if (first_handle < 0) throw std::invalid_argument("Recorder::begin_capture: negative first_handle");
  shared_ = {false, false};  // the graph's first ops start at marks of the graph
  slot_ = slot;
  captured_at_.at(static_cast<std::size_t>(slot)) = pending_.size();
  replay_at_.at(static_cast<std::size_t>(slot)) = static_cast<std::size_t>(first_handle);
  capturing_ = true;
}

void Recorder::end_capture(int slot) {
  if (!time_ops_) return;
  if (!capturing_) throw std::logic_error("Recorder::end_capture without begin_capture");
  capturing_ = false;
  const auto sz = static_cast<std::size_t>(slot);
  if (sz != static_cast<std::size_t>(slot_)) throw std::logic_error("Recorder::end_capture of another slot");
  captured_.at(sz).assign(pending_.begin() + static_cast<std::ptrdiff_t>(captured_at_[sz]), pending_.end());
  pending_.resize(captured_at_[sz]);  // the capture ran nothing: its ops belong to the replaying steps
  shared_ = {false, false};  // nothing after the graph shares its marks
}

void Recorder::replay_captured(int slot) {
  if (!time_ops_) return;
  const auto sz = static_cast<std::size_t>(slot);
  if (pending_.size() != replay_at_.at(sz)) {
    throw std::logic_error("Recorder::replay_captured: the ops before the graph differ from the capturing step's");
  }
  pending_.insert(pending_.end(), captured_[sz].begin(), captured_[sz].end());
  shared_ = {false, false};
}

namespace {
// Consecutive ops share marks: each mark is read once (a CUDA event query
// costs the host ~0.3 us and a step has hundreds). `known` >= 0: already read.
class MarkReader {
 public:
  explicit MarkReader(Backend& be) : be_(be) {}
  std::int64_t operator()(Backend::Mark mk, std::int64_t known = -1) {
    if (known >= 0) return known;
    if (mk != last_) {
      last_ = mk;
      ns_ = be_.mark_ns(mk);
    }
    return ns_;
  }

 private:
  Backend& be_;
  Backend::Mark last_ = -1;
  std::int64_t ns_ = 0;
};
}  // namespace

void Recorder::begin_step(trace::Phase phase, std::int32_t step) {
  phase_ = phase;
  step_ = step;
  pending_.clear();
  after_.clear();
  step_begin_ = backend_.mark();
  last_end_ = {step_begin_, 0};
  shared_ = {backend_.current_stream() == 0, false};
}

std::int64_t Recorder::end_step() {
  const auto step_end = backend_.mark();
  shared_ = {false, false};
  backend_.synchronize();
  Ended e{phase_, step_, backend_.mark_ns(step_begin_), backend_.mark_ns(step_end), std::move(pending_),
          std::move(after_)};
  // Marks that the next step re-takes are read now, the rest when resolved.
  MarkReader read(backend_);
  for (auto& p : e.ops) {
    for (auto [mk, ns] : {std::pair{p.begin, &p.begin_ns}, std::pair{p.end, &p.end_ns}}) {
      if (!backend_.mark_outlives_step(mk)) *ns = read(mk);
    }
  }
  pending_.clear();
  after_.clear();
  flush();  // an older step first (none when resolve_previous was called)
  ended_ = std::move(e);
  backend_.recycle_marks();
  return ended_->t1 - ended_->t0;
}

void Recorder::flush() {
  if (!ended_) return;
  Ended e = std::move(*ended_);
  ended_.reset();
  resolve(e);
}

void Recorder::resolve(Ended& e) {
  const std::uint64_t first_id = next_id_;
  MarkReader time_of(backend_);
  std::vector<std::uint64_t> deps;
  for (const auto& p : e.ops) {
    if (!sink_) break;  // nothing reads op times but the trace
    const std::int64_t a = time_of(p.begin, p.begin_ns), b = time_of(p.end, p.end_ns);
    trace::Op op;
    op.id = next_id_++;
    op.kind = p.info.kind;
    op.engine = p.info.engine;
    op.phase = e.phase;
    op.stage = sink_->stage(p.info.stage);
    const bool side = p.info.stream != 0 && side_stream_ != main_stream_;
    op.stream = side ? side_stream_ : main_stream_;
    op.ctas = p.info.ctas;
    deps.clear();
    if (side_stream_ != main_stream_) {  // cross-stream dependencies (one stream: program order)
      for (int d : p.info.deps) {
        if (d >= 0) deps.push_back(first_id + static_cast<std::uint64_t>(d));
      }
    }
    op.step = e.step;
    op.layer = p.info.layer;
    op.seq = p.info.seq;
    op.start_ns = a;
    op.end_ns = std::max(a, b);
    op.bytes = p.info.bytes;
    op.flops = p.info.flops;
    op.chunks = p.info.chunks;
    sink_->add_op(op, deps);
  }
  if (sink_) sink_->add_step({e.phase, e.step, e.t0, e.t1});
  for (auto& f : e.after) f();
  if (sink_) sink_->step_done();
}

void Recorder::selection(std::int32_t step, std::int16_t layer, std::int32_t seq, std::uint16_t kv_head,
                         std::span<const std::int32_t> ids) {
  if (!sink_) return;
  std::vector<std::uint32_t> blocks;
  for (auto id : ids) if (id >= 0) blocks.push_back(static_cast<std::uint32_t>(id));
  trace::SelectionKey key{step, layer, seq, kv_head, static_cast<std::uint16_t>(blocks.size())};
  sink_->add_selection(key, blocks);
}

void Recorder::token_selection(std::int32_t step, std::int16_t layer, std::int32_t seq,
                               std::span<const std::int32_t> ids) {
  if (!sink_) return;
  std::vector<std::uint32_t> tokens(ids.begin(), ids.end());
  trace::SelectionKey key{step, layer, seq, 0, static_cast<std::uint16_t>(tokens.size())};
  sink_->add_token_selection(key, tokens);
}

void Recorder::prefill_pattern(const trace::PrefillPattern& p) {
  if (sink_) sink_->add_prefill_pattern(p);
}

void Recorder::cache(const trace::CacheOutcome& c) {
  if (sink_) sink_->add_cache(c);
}
void Recorder::memory(const trace::MemoryEntry& m) {
  if (sink_) sink_->add_memory(m);
}

void Recorder::close(trace::RunStatus status, const std::string& reason) {
  if (closed_) return;
  try {
    flush();  // the last ended step
  } catch (...) {
    if (status == trace::RunStatus::complete) throw;  // a truncated trace is closed as such regardless
  }
  closed_ = true;
  if (sink_) sink_->close(status, reason);
}

}  // namespace foresight::runtime

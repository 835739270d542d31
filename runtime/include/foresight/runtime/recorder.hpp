// Recorder: times every stage of the decode loop on the backend's clock and
// streams ops, step spans, selections, cache outcomes and the memory snapshot
// to a trace sink (the HDF5 TraceWriter, or memory for tests). A step's span
// is resolved when it ends (after the backend synchronises); its ops and the
// records queued with after_step() are resolved and written one step later,
// by resolve_previous() while the next step runs on the device (or by
// flush()), so that host work is off the decode loop's critical path.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "foresight/runtime/backend.hpp"
#include "foresight/trace/schema.hpp"

namespace foresight::runtime {

// Where the recorder's records go. Same calls as trace::TraceWriter.
class TraceSink {
 public:
  virtual ~TraceSink() = default;
  virtual std::uint16_t stage(std::string_view name) = 0;
  virtual std::uint8_t stream(std::string_view name, trace::StreamKind kind) = 0;
  // `deps`: ids of earlier ops (other streams) this op waited for.
  virtual void add_op(const trace::Op& op, std::span<const std::uint64_t> deps) = 0;
  virtual void add_step(const trace::StepSpan& s) = 0;
  virtual void add_selection(const trace::SelectionKey& key, std::span<const std::uint32_t> blocks) = 0;
  // DSA: one (step, layer, seq)'s selected token ids, strictly ascending.
  virtual void add_token_selection(const trace::SelectionKey& key, std::span<const std::uint32_t> tokens) = 0;
  virtual void add_cache(const trace::CacheOutcome& c) = 0;
  virtual void add_prefill_pattern(const trace::PrefillPattern& p) = 0;
  virtual void add_memory(const trace::MemoryEntry& m) = 0;
  virtual void close(trace::RunStatus status, const std::string& reason) = 0;
  // Every record of a step (or prefill chunk) has been added: a file sink
  // may checkpoint here (trace::TraceWriter::checkpoint).
  virtual void step_done() {}
  // Whether selections given to it are kept (false: the caller may skip
  // reading them back from the GPU).
  virtual bool keeps_selections() const { return true; }
};

// Keeps everything in a trace::Trace (tests, small runs, the metrics of an
// untraced run). keep_selections false: selections are dropped (they are the
// bulk of a trace and no metric reads them).
class MemoryTraceSink final : public TraceSink {
 public:
  explicit MemoryTraceSink(trace::Header header, std::uint32_t selection_width, bool keep_selections = true);
  std::uint16_t stage(std::string_view name) override;
  std::uint8_t stream(std::string_view name, trace::StreamKind kind) override;
  void add_op(const trace::Op& op, std::span<const std::uint64_t> deps) override;
  void add_step(const trace::StepSpan& s) override { trace_.steps.push_back(s); }
  void add_selection(const trace::SelectionKey& key, std::span<const std::uint32_t> blocks) override;
  void add_token_selection(const trace::SelectionKey& key, std::span<const std::uint32_t> tokens) override;
  void add_cache(const trace::CacheOutcome& c) override { trace_.cache.push_back(c); }
  void add_prefill_pattern(const trace::PrefillPattern& p) override { trace_.prefill_patterns.push_back(p); }
  void add_memory(const trace::MemoryEntry& m) override { trace_.memory.push_back(m); }
  void close(trace::RunStatus status, const std::string& reason) override;
  bool keeps_selections() const override { return keep_selections_; }
  const trace::Trace& trace() const { return trace_; }
  bool closed() const { return closed_; }

 private:
  trace::Trace trace_;
  bool keep_selections_ = true;
  bool closed_ = false;
};

// Streams to "<path>.partial" through trace::TraceWriter; renamed on close.
std::unique_ptr<TraceSink> make_h5_trace_sink(const std::filesystem::path& path,
                                              const trace::Header& header,
                                              std::uint32_t selection_width);

// What one op is (everything but its times).
struct OpInfo {
  std::string_view stage;
  std::int16_t layer = -1;
  std::int32_t seq = -1;
  std::uint64_t bytes = 0;
  std::uint64_t flops = 0;
  trace::OpKind kind = trace::OpKind::compute;
  trace::Engine engine = trace::Engine::none;
  std::uint32_t chunks = 0;
  std::uint16_t ctas = 0;
  int stream = 0;                // backend stream the op runs on (0 main, 1 side)
  std::array<int, 2> deps{-1, -1};  // handles (Recorder::op) of ops on other streams it waits for
};

class Recorder {
 public:
  // `sink` may be null: nothing is written. time_ops false: only step spans
  // are timed (no per-op marks) - the "tracing off" configuration; a sink
  // then receives step spans, selections, cache outcomes and memory, no ops
  // (enough for the metrics of trace/metrics.hpp).
  Recorder(Backend& backend, TraceSink* sink, bool time_ops = true);

  void begin_step(trace::Phase phase, std::int32_t step);
  // Ends the step: returns its duration (ns). Its marks that do not outlive
  // the step (Backend::mark_outlives_step) are read now; the rest, the ops,
  // the span and the after_step() work wait for resolve_previous() or flush().
  std::int64_t end_step();
  // Resolves and writes the previous (ended) step, if any: call it once the
  // next step's device work is enqueued. Graph marks must still hold that
  // step's times (a graph in the other slot runs now).
  void resolve_previous() { flush(); }
  // Resolves and writes every ended step (before reading totals; close()
  // flushes too).
  void flush();
  // Host work that writes this step's records (selections, cache outcomes):
  // runs when the step is resolved, after its ops are written.
  void after_step(std::function<void()> f) { after_.push_back(std::move(f)); }
  // Whether a sink keeps the selections (an untraced run's does not): the
  // engine reads them back from the GPU only then.
  bool keeps_selections() const { return sink_ && sink_->keeps_selections(); }

  // Runs `f` between two marks (on the backend's current stream) and records
  // it as one op of the current step. Returns a handle for OpInfo::deps and
  // patch() (-1 when ops are not timed).
  // Consecutive ops on one stream share a mark (the end of one is the start
  // of the next), halving the events; call boundary() after enqueuing
  // anything outside an op that takes time (e.g. a wait on another stream).
  template <class F>
  int op(const OpInfo& info, F&& f) {
    if (!time_ops_) {
      f();
      return -1;
    }
    const auto s = static_cast<std::size_t>(backend_.current_stream() != 0);
    const auto a = shared_[s] ? last_end_[s] : backend_.mark();
    f();
    const auto b = backend_.mark();
    last_end_[s] = b;
    shared_[s] = true;
    pending_.push_back({info, a, b});
    // While capturing, handles are those the ops will have in a replaying step.
    const std::size_t index = pending_.size() - 1;
    return static_cast<int>(capturing_ ? index - captured_at_[slot_] + replay_at_[slot_] : index);
  }
  void boundary() { shared_[static_cast<std::size_t>(backend_.current_stream() != 0)] = false; }
  // Sets the bytes, chunks and FLOPs of a pending op (known on the device
  // only after the step ran; call before end_step). -1: nothing.
  void patch(int handle, std::uint64_t bytes, std::uint32_t chunks, std::uint64_t flops = 0);
  bool times_ops() const { return time_ops_; }

  // CUDA graphs with timed ops: the ops recorded between begin_capture and
  // end_capture (while the backend captures a step's work, between steps or
  // inside one) are set aside for the graph's slot; at each step that
  // launches that graph, replay_captured(slot) adds them to the step with the
  // graph's marks, which the launch re-records. `first_handle`: how many ops
  // a replaying step records before the graph (their handles come first);
  // handles returned while capturing count from there, and replay_captured
  // throws std::logic_error when a step has another number of ops before it.
  void begin_capture(int slot, int first_handle);
  void end_capture(int slot);
  void replay_captured(int slot);

  void selection(std::int32_t step, std::int16_t layer, std::int32_t seq, std::uint16_t kv_head,
                 std::span<const std::int32_t> ids);  // -1 entries are skipped
  // DSA: the first `count` of `ids` (ascending token ids) of (step, layer, seq).
  void token_selection(std::int32_t step, std::int16_t layer, std::int32_t seq, std::span<const std::int32_t> ids);
  void cache(const trace::CacheOutcome& c);
  void prefill_pattern(const trace::PrefillPattern& p);
  void memory(const trace::MemoryEntry& m);
  // Flushes, then closes the sink (idempotent).
  void close(trace::RunStatus status, const std::string& reason = {});

 private:
  struct Pending {
    OpInfo info;
    Backend::Mark begin, end;
    std::int64_t begin_ns = -1, end_ns = -1;  // >= 0: read at end_step (marks that do not outlive it)
  };
  struct Ended {  // a step whose ops are not resolved yet
    trace::Phase phase;
    std::int32_t step;
    std::int64_t t0, t1;
    std::vector<Pending> ops;
    std::vector<std::function<void()>> after;
  };
  void resolve(Ended& e);
  Backend& backend_;
  TraceSink* sink_;
  bool time_ops_ = true;
  std::array<Backend::Mark, 2> last_end_{};
  std::array<bool, 2> shared_{};
  std::uint8_t main_stream_ = 0, side_stream_ = 0;
  trace::Phase phase_ = trace::Phase::decode;
  std::int32_t step_ = 0;
  Backend::Mark step_begin_ = 0;
  std::uint64_t next_id_ = 0;
  std::vector<Pending> pending_;
  std::vector<std::function<void()>> after_;
  std::optional<Ended> ended_;
  std::array<std::vector<Pending>, Backend::kGraphSlots> captured_;  // each graph's ops (replay_captured)
  std::array<std::size_t, Backend::kGraphSlots> captured_at_{};      // where they began in pending_
  std::array<std::size_t, Backend::kGraphSlots> replay_at_{};        // their first handle when replayed
  int slot_ = 0;                                                      // being captured
  bool capturing_ = false;
  bool closed_ = false;
};

}  // namespace foresight::runtime

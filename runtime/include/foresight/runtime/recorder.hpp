// Recorder: times every stage of the decode loop on the backend's clock and
// streams ops, step spans, selections, cache outcomes and the memory snapshot
// to a trace sink (the HDF5 TraceWriter, or memory for tests). Marks are
// resolved at the end of each step (after the backend synchronises), so a
// GPU backend can use events without stalling per op.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
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
  virtual void add_op(const trace::Op& op) = 0;
  virtual void add_step(const trace::StepSpan& s) = 0;
  virtual void add_selection(const trace::SelectionKey& key, std::span<const std::uint32_t> blocks) = 0;
  virtual void add_cache(const trace::CacheOutcome& c) = 0;
  virtual void add_memory(const trace::MemoryEntry& m) = 0;
  virtual void close(trace::RunStatus status, const std::string& reason) = 0;
};

// Keeps everything in a trace::Trace (tests, small runs).
class MemoryTraceSink final : public TraceSink {
 public:
  explicit MemoryTraceSink(trace::Header header, std::uint32_t selection_width);
  std::uint16_t stage(std::string_view name) override;
  std::uint8_t stream(std::string_view name, trace::StreamKind kind) override;
  void add_op(const trace::Op& op) override { trace_.ops.push_back(op); }
  void add_step(const trace::StepSpan& s) override { trace_.steps.push_back(s); }
  void add_selection(const trace::SelectionKey& key, std::span<const std::uint32_t> blocks) override;
  void add_cache(const trace::CacheOutcome& c) override { trace_.cache.push_back(c); }
  void add_memory(const trace::MemoryEntry& m) override { trace_.memory.push_back(m); }
  void close(trace::RunStatus status, const std::string& reason) override;
  const trace::Trace& trace() const { return trace_; }
  bool closed() const { return closed_; }

 private:
  trace::Trace trace_;
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
};

class Recorder {
 public:
  // `sink` may be null: times are still measured (for metrics), nothing is written.
  Recorder(Backend& backend, TraceSink* sink);

  void begin_step(trace::Phase phase, std::int32_t step);
  // Resolves the step's marks, writes its ops and span; returns its duration (ns).
  std::int64_t end_step();

  // Runs `f` between two marks and records it as one op of the current step.
  template <class F>
  void op(const OpInfo& info, F&& f) {
    const auto a = backend_.mark();
    f();
    pending_.push_back({info, a, backend_.mark()});
  }

  void selection(std::int32_t step, std::int16_t layer, std::int32_t seq, std::uint16_t kv_head,
                 std::span<const std::int32_t> ids);  // -1 entries are skipped
  void cache(const trace::CacheOutcome& c);
  void memory(const trace::MemoryEntry& m);
  // Closes the sink (idempotent).
  void close(trace::RunStatus status, const std::string& reason = {});

  // Summed op time per stage name over the run (ns), for metrics.
  const std::vector<std::pair<std::string, std::int64_t>>& stage_totals() const { return stage_totals_; }

 private:
  struct Pending {
    OpInfo info;
    Backend::Mark begin, end;
  };
  Backend& backend_;
  TraceSink* sink_;
  std::uint8_t main_stream_ = 0;
  trace::Phase phase_ = trace::Phase::decode;
  std::int32_t step_ = 0;
  Backend::Mark step_begin_ = 0;
  std::uint64_t next_id_ = 0;
  std::vector<Pending> pending_;
  std::vector<std::pair<std::string, std::int64_t>> stage_totals_;
  bool closed_ = false;
};

}  // namespace foresight::runtime

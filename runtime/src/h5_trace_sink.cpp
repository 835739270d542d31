// Trace sink over the streaming HDF5 TraceWriter, written on a thread of its
// own: the decode loop hands each record over (a copy) and goes on, so
// encoding selections and HDF5's chunk flushes never sit between a step's
// graph launch and its read-back (at batch 16, dsa writes 1 M token ids per
// step; on the decode thread that made the H200's p99 step 16.9 ms against a
// 9.0 ms median, bench/RESULTS-runtime-h200.md). Records reach the writer in the order they
// were added; a writer error is rethrown by the next call or by close(), and
// the records after it are dropped. At most kMaxPendingBytes of selections
// wait at a time: beyond that, adding blocks until the writer catches up.
// Between steps, at most once per kCheckpointInterval, the writer checkpoints
// the file, so a killed run leaves a readable trace.h5.partial.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "foresight/runtime/recorder.hpp"
#include "foresight/trace/writer.hpp"

namespace foresight::runtime {
namespace {

class H5TraceSink final : public TraceSink {
 public:
  H5TraceSink(const std::filesystem::path& path, const trace::Header& header, std::uint32_t width)
      : w_(path, header, width), worker_([this] { work(); }) {}
  ~H5TraceSink() override {
    stop();  // an unclosed sink: the writer's destructor leaves the .partial file
  }
  // Names are registered in order with the records before them, once each:
  // the recorder asks for a stage's id at every op it writes.
  std::uint16_t stage(std::string_view name) override {
    const auto known = stages_.find(name);
    if (known != stages_.end()) return known->second;
    drain();
    const std::uint16_t id = w_.stage(name);
    stages_.emplace(std::string(name), id);
    return id;
  }
  std::uint8_t stream(std::string_view name, trace::StreamKind kind) override {
    drain();
    return w_.stream(name, kind);
  }
  void add_op(const trace::Op& op, std::span<const std::uint64_t> deps) override {
    post([this, op, d = std::vector<std::uint64_t>(deps.begin(), deps.end())] { w_.add_op(op, d); }, 0);
  }
  void add_step(const trace::StepSpan& s) override {
    post([this, s] { w_.add_step(s); }, 0);
  }
  void add_selection(const trace::SelectionKey& key, std::span<const std::uint32_t> blocks) override {
    post([this, key, b = std::vector<std::uint32_t>(blocks.begin(), blocks.end())] { w_.add_selection(key, b); },
         blocks.size_bytes());
  }
  void add_token_selection(const trace::SelectionKey& key, std::span<const std::uint32_t> tokens) override {
    post([this, key, t = std::vector<std::uint32_t>(tokens.begin(), tokens.end())] {
      w_.add_token_selection(key, t);
    }, tokens.size_bytes());
  }
  void add_cache(const trace::CacheOutcome& c) override {
    post([this, c] { w_.add_cache(c); }, 0);
  }
  void add_prefill_pattern(const trace::PrefillPattern& p) override {
    post([this, p] { w_.add_prefill_pattern(p); }, 0);
  }
  void add_memory(const trace::MemoryEntry& m) override {
    post([this, m] { w_.add_memory(m); }, 0);
  }
  void step_done() override {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_checkpoint_ < kCheckpointInterval) return;
    last_checkpoint_ = now;
    post([this] { w_.checkpoint(); }, 0);
  }
  void close(trace::RunStatus status, const std::string& reason) override {
    drain();
    stop();
    w_.close(status, reason);
  }

 private:
  static constexpr std::size_t kMaxPendingBytes = std::size_t{256} << 20;
  static constexpr std::chrono::seconds kCheckpointInterval{1};
  struct Job {
    std::function<void()> write;
    std::size_t bytes = 0;  // selection ids it holds
  };

  void post(std::function<void()> write, std::size_t bytes) {
    std::unique_lock<std::mutex> lock(mu_);
    idle_.wait(lock, [this] { return pending_bytes_ < kMaxPendingBytes || failed_; });
    rethrow_locked();
    pending_bytes_ += bytes;
    const bool was_empty = queue_.empty();  // else the worker is busy and takes it next
    queue_.push_back({std::move(write), bytes});
    if (was_empty) wake_.notify_one();
  }
  // Waits until every record posted so far is written; rethrows a writer error.
  void drain() {
    std::unique_lock<std::mutex> lock(mu_);
    idle_.wait(lock, [this] { return queue_.empty() && !busy_; });
    rethrow_locked();
  }
  void rethrow_locked() {
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return;
      stopping_ = true;
      wake_.notify_one();
    }
    worker_.join();
  }
  void work() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, all written
      Job job = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
      const bool skip = failed_;  // after an error the rest is dropped: the error is what counts
      lock.unlock();
      std::exception_ptr error;
      try {
        if (!skip) job.write();
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
      if (error) {
        failed_ = true;
        error_ = error;
      }
      busy_ = false;
      const bool was_full = pending_bytes_ >= kMaxPendingBytes;
      pending_bytes_ -= job.bytes;
      // Waiters: drain() (an empty queue), post() (room below the limit), close() after an error.
      if (queue_.empty() || failed_ || (was_full && pending_bytes_ < kMaxPendingBytes)) idle_.notify_all();
    }
  }

  trace::TraceWriter w_;
  std::map<std::string, std::uint16_t, std::less<>> stages_;  // the caller's thread only
  std::chrono::steady_clock::time_point last_checkpoint_ = std::chrono::steady_clock::now();  // caller's thread
  std::mutex mu_;
  std::condition_variable wake_, idle_;
  std::deque<Job> queue_;
  std::size_t pending_bytes_ = 0;
  bool busy_ = false, stopping_ = false, failed_ = false;
  std::exception_ptr error_;
  std::thread worker_;  // last: starts after everything it uses
};

}  // namespace

std::unique_ptr<TraceSink> make_h5_trace_sink(const std::filesystem::path& path, const trace::Header& header,
                                              std::uint32_t selection_width) {
  return std::make_unique<H5TraceSink>(path, header, selection_width);
}

}  // namespace foresight::runtime

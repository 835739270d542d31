// Streaming trace writer. Appends records in bounded-memory batches to a file
// named "<path>.partial"; close() writes the status and renames it to <path>.
// A writer destroyed without close() (crash, exception) deletes nothing and
// renames nothing: no file under <path> ever looks complete unless it is.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

#include "foresight/trace/schema.hpp"

namespace foresight::trace {

struct WriterOptions {
  std::size_t buffer_records = 1 << 16;  // records buffered per table before a flush
  int deflate_level = 4;                  // 0 disables compression
};

class TraceWriter {
 public:
  // Creates "<path>.partial" and writes the header. `selection_width` is top-k
  // (ids per selection row). Throws TraceError on I/O failure.
  TraceWriter(const std::filesystem::path& path, const Header& header,
              std::uint32_t selection_width, WriterOptions opts = {});
  ~TraceWriter();
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;

  // Interned tables. Return the index to put in Op::stage / Op::stream.
  std::uint16_t stage(std::string_view name);
  std::uint8_t stream(std::string_view name, StreamKind kind);

  // Appends an op; `op.id` must exceed every earlier id and `deps` must name
  // earlier ops. dep_offset/dep_count are filled in by the writer.
  void add_op(Op op, std::span<const std::uint64_t> deps = {});
  void add_step(const StepSpan& s);
  // `blocks.size()` <= selection_width; stored sorted ascending.
  void add_selection(SelectionKey key, std::span<const std::uint32_t> blocks);
  // A DSA row (key.kv_head ignored, stored as 0): `tokens` strictly
  // ascending, at most 65535; encoded as trace/token_codec.hpp says.
  void add_token_selection(SelectionKey key, std::span<const std::uint32_t> tokens);
  void add_cache(const CacheOutcome& c);
  void add_prefill_pattern(const PrefillPattern& p);
  void add_memory(const MemoryEntry& m);

  // Writes everything added so far into "<path>.partial" and flushes the
  // file: until the next checkpoint, the file on disk is a readable trace of
  // those records, status truncated ("the run ended without closing its
  // trace"). So a process killed later (SIGKILL, a crash) leaves a
  // recoverable trace, unless the kill lands while HDF5 updates the file's
  // metadata, which the reader's checksums then reject. Call it between
  // steps (a step's ops, span, selections and outcomes together).
  void checkpoint();
  // Flushes, stamps the status and renames to the final path.
  void close(RunStatus status = RunStatus::complete, const std::string& reason = {});
  const std::filesystem::path& final_path() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Current UTC time as ISO-8601 ("2026-11-23T05:43:03Z"), for Header::created_utc.
std::string utc_now();

// Writes a whole in-memory trace (uses TraceWriter).
void write_trace(const std::filesystem::path& path, const Trace& t, WriterOptions opts = {});

}  // namespace foresight::trace

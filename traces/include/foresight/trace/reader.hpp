// Trace reader. Loads a whole file and validates everything it loads; any
// violation throws TraceError whose message names the file, the dataset or
// field, and the record index.
#pragma once

#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "foresight/common/errors.hpp"
#include "foresight/trace/schema.hpp"

namespace foresight::trace {

struct TraceError : common::InputError {
  using common::InputError::InputError;
};

struct ReadOptions {
  bool load_selections = true;  // false: keys and blocks left empty (faster inspect)
};

Trace read_trace(const std::filesystem::path& path, ReadOptions opts = {});

// Bounds validate() puts on values, so that no sum a reader forms can wrap:
// a value beyond them is damage, not a measurement of one run.
inline constexpr std::int64_t kMaxTimeNs = std::int64_t{1} << 56;   // ns, about 2.3 years
inline constexpr std::uint64_t kMaxBytes = std::uint64_t{1} << 56;  // 64 PiB (or blocks)
inline constexpr std::uint64_t kMaxTotal = std::uint64_t{1} << 62;  // a field summed over a table

// The checks read_trace applies, usable on a trace built in memory.
// `where` prefixes messages (usually the file name). Checks: schema version;
// ids strictly increasing; end >= start; times of ops and steps in
// [0, kMaxTimeNs], and their durations summed over /ops (or /steps) at most
// kMaxTotal; op bytes, cache counts and loaded bytes, memory bytes
// at most kMaxBytes per record, their sums over the table at most kMaxTotal
// (memory: at most kMaxBytes per location); deps name earlier existing ops;
// stage/stream indices in range; steps non-decreasing with start times
// non-decreasing per phase; selection ids < the sequence's block count and
// count <= width; cache hits + misses == selected; configs valid.
void validate(const Trace& t, const std::string& where);

}  // namespace foresight::trace

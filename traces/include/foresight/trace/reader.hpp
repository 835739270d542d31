// Trace reader. Loads a whole file and validates everything it loads; any
// violation throws TraceError whose message names the file, the dataset or
// field, and the record index.
#pragma once

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

// The checks read_trace applies, usable on a trace built in memory.
// `where` prefixes messages (usually the file name). Checks: schema version;
// ids strictly increasing; end >= start; deps name earlier existing ops;
// stage/stream indices in range; steps non-decreasing with start times
// non-decreasing per phase; selection ids < the sequence's block count and
// count <= width; cache hits + misses == selected; configs valid.
void validate(const Trace& t, const std::string& where);

}  // namespace foresight::trace

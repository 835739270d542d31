// Private: the HDF5 compound types of schema v1's tables, each as a pair
// (memory type over the C++ struct, packed little-endian file type). Layout
// documented in traces/README.md; field names here are the file's names.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "foresight/trace/schema.hpp"
#include "trace_h5.hpp"

namespace foresight::trace::h5 {

// Fixed length of every name field in the file (stage, stream, memory
// category), NUL-padded; longer names are rejected by the writer.
inline constexpr std::size_t kNameLen = 48;

// Dataset paths.
inline constexpr const char* kOps = "/ops";
inline constexpr const char* kOpDeps = "/op_deps";
inline constexpr const char* kStages = "/stages";
inline constexpr const char* kStreams = "/streams";
inline constexpr const char* kSteps = "/steps";
inline constexpr const char* kSelKeys = "/selections/keys";
inline constexpr const char* kSelBlocks = "/selections/blocks";
inline constexpr const char* kTokGroup = "/token_selections";
inline constexpr const char* kTokKeys = "/token_selections/keys";
inline constexpr const char* kTokIds = "/token_selections/ids";
inline constexpr const char* kCache = "/cache";
inline constexpr const char* kMemory = "/memory";
inline constexpr const char* kPrefillPatterns = "/prefill_patterns";

// In-memory rows of tables whose C++ form holds std::string.
struct NameRow {
  char name[kNameLen];
};
struct StreamRow {
  char name[kNameLen];
  std::uint8_t kind;
};
struct MemoryRow {
  std::uint8_t location;
  char category[kNameLen];
  std::uint64_t bytes;
};

struct CompoundTypes {
  Handle mem;
  Handle file;
  std::vector<std::string> fields;  // member names, in file order
};

CompoundTypes op_types();      // Op
CompoundTypes step_types();    // StepSpan
CompoundTypes key_types();     // SelectionKey
CompoundTypes cache_types();   // CacheOutcome
CompoundTypes stream_types();  // StreamRow
CompoundTypes memory_types();  // MemoryRow
CompoundTypes prefill_pattern_types();  // PrefillPattern

// Whether every value of file type `file_type` converts to `mem_type`
// unchanged: an integer type no wider than the memory integer, signed only
// where the memory type is (HDF5 would clip -1 to 0, or 2^63 to INT64_MAX, or
// round a float, without a word); a fixed-length string no longer than the
// memory string (a longer one would be cut).
bool reads_exactly(hid_t file_type, hid_t mem_type);

// Throws TraceError "<where>: <dataset>: missing field '<f>'" (or "is not a
// table", or "field '<f>' is float64, expected int64") unless `dset`'s type is
// a compound holding every field of `t`, each of a type that reads_exactly()
// into the C++ field.
void require_fields(hid_t dset, const CompoundTypes& t, const std::string& where,
                    const std::string& dataset);

// Copies `s` into a fixed name field; throws TraceError if it does not fit.
void put_name(char (&dst)[kNameLen], const std::string& s, const std::string& what);
std::string get_name(const char (&src)[kNameLen]);

}  // namespace foresight::trace::h5

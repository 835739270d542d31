// Trace schema v1: the in-memory form of one run's trace. The HDF5 layout that
// stores it is documented field by field in traces/README.md; this header and
// that document change together, and any change to either bumps
// kSchemaVersion.
//
// Units: times are integer nanoseconds on the run's own clock (0 = start of
// the run); bytes are bytes; FLOPs count a multiply-add as 2.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "foresight/config/hardware.hpp"
#include "foresight/config/model.hpp"
#include "foresight/config/run.hpp"

namespace foresight::trace {

inline constexpr int kSchemaVersion = 2;
// Oldest schema this build reads: v1 lacks /token_selections (it reads as none).
inline constexpr int kOldestSchemaVersion = 1;

// What an op did. Stored as uint8 in /ops.kind.
enum class OpKind : std::uint8_t {
  compute = 0,  // a kernel (or a CPU-backend function) doing math
  h2d = 1,      // host-to-device transfer (any engine)
  d2h = 2,      // device-to-host transfer
  d2d = 3,      // device-to-device gather/copy
  wait = 4,     // a stream blocked on an event of another stream
  host = 5,     // host-side work on the critical path (launch, planning)
};
inline constexpr int kOpKindCount = 6;

// Which mechanism moved bytes; the simulator re-times transfers from the
// hardware config's curve for this engine. Stored as uint8 in /ops.engine.
enum class Engine : std::uint8_t {
  none = 0,            // not a transfer
  memcpy_bulk = 1,     // one cudaMemcpyAsync of contiguous bytes
  memcpy_per_block = 2,// one cudaMemcpyAsync per chunk (API-overhead bound)
  zero_copy_gather = 3,// GPU kernel reading mapped pinned memory, `ctas` CTAs
  cpu_memcpy = 4,      // host memcpy (CPU backend, CPU gather)
  bulk_copy_gather = 5,// GPU kernel driving Hopper's bulk-copy (TMA) engine, `ctas` one-warp CTAs
};
inline constexpr int kEngineCount = 6;
// A transfer run by a GPU kernel that holds `ctas` CTAs (and their SMs)
// while compute runs beside it: what slows concurrent compute.
constexpr bool holds_ctas(Engine e) { return e == Engine::zero_copy_gather || e == Engine::bulk_copy_gather; }
// The engine of a CUDA run's host KV gathers under its kernel options.
inline Engine host_gather_engine(const config::KernelOptions& k) {
  return config::bulk_copy_gather(k) ? Engine::bulk_copy_gather : Engine::zero_copy_gather;
}

enum class Phase : std::uint8_t { prefill = 0, decode = 1 };

enum class StreamKind : std::uint8_t { compute = 0, copy = 1, host = 2 };

enum class RunStatus : std::uint8_t { complete = 0, truncated = 1 };

// One stream or resource that ops run on (a CUDA stream, a copy engine, a host
// thread). Ops on one stream execute in the order of their op ids.
struct Stream {
  std::string name;  // e.g. "main", "side", "d2h", "host"
  StreamKind kind = StreamKind::compute;
};

// One timed operation. Row of /ops.
struct Op {
  std::uint64_t id = 0;        // unique, strictly increasing in file order
  OpKind kind = OpKind::compute;
  Engine engine = Engine::none;
  Phase phase = Phase::decode;
  std::uint16_t stage = 0;     // index into Trace::stages
  std::uint8_t stream = 0;     // index into Trace::streams
  std::int32_t step = 0;       // decode step (>= 0) or prefill chunk index
  std::int16_t layer = -1;     // -1: not tied to a layer
  std::int32_t seq = -1;       // -1: the whole batch
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;     // >= start_ns
  std::uint64_t bytes = 0;     // bytes moved (transfers) or touched (kernels)
  std::uint64_t flops = 0;
  std::uint32_t chunks = 0;    // transfers: pieces moved (e.g. KV blocks)
  std::uint16_t ctas = 0;      // CTAs the op occupied, 0 if unknown
  std::uint64_t dep_offset = 0;// first entry of this op's ids in Trace::deps
  std::uint32_t dep_count = 0; // explicit cross-stream dependencies
};

// Key of one block selection: top-k block ids chosen for (step, layer, seq,
// kv_head). The ids themselves are row `row` of Trace::selection_blocks.
struct SelectionKey {
  std::int32_t step = 0;
  std::int16_t layer = 0;
  std::int32_t seq = 0;
  std::uint16_t kv_head = 0;
  std::uint16_t count = 0;     // valid ids in the row (<= selection_width)
};

// Cache outcome of one (step, layer), summed over sequences and KV heads.
struct CacheOutcome {
  std::int32_t step = 0;
  std::int16_t layer = 0;
  std::uint64_t selected = 0;      // blocks selected
  std::uint64_t hits = 0;          // selected blocks already resident
  std::uint64_t misses = 0;        // selected blocks that had to be loaded
  std::uint64_t loaded_bytes = 0;  // bytes moved to load the misses
};

// Dynamic sparse prefill (config/sparse_prefill.hpp): the pattern one query
// head of one layer used for one sequence's prompt, and what it cost.
struct PrefillPattern {
  std::int32_t seq = 0;
  std::int16_t layer = 0;
  std::uint16_t head = 0;        // query head
  std::uint8_t kind = 0;         // config::prefill_pattern_name: 0 triangular, 1 interval-slash, 2 block-cluster
  std::uint8_t full = 0;         // 1: the full-coverage fallback (computes every causal tile)
  std::int64_t tokens = 0;       // prompt tokens (keys and queries)
  std::int64_t param_a = 0;      // triangular: sink tokens; interval-slash: columns; block-cluster: local blocks
  std::int64_t param_b = 0;      // triangular: local tokens; interval-slash: slashes; block-cluster: key blocks
  std::uint64_t tiles = 0;       // 64 x 64 tiles computed
  std::uint64_t dense_tiles = 0; // tiles of dense causal attention: Q (Q + 1) / 2
  double recall = 0;             // estimated share of the attention mass kept, [0, 1]
};

enum class MemoryLocation : std::uint8_t { gpu = 0, host_pinned = 1 };

// Memory in use by category at the end of set-up (largest footprint).
struct MemoryEntry {
  MemoryLocation location = MemoryLocation::gpu;
  std::string category;  // e.g. "weights", "kv_working_set", "kv_full"
  std::uint64_t bytes = 0;
};

// One decode step (or prefill chunk) boundary on the main stream.
struct StepSpan {
  Phase phase = Phase::decode;
  std::int32_t step = 0;
  std::int64_t start_ns = 0;
  std::int64_t end_ns = 0;
};

struct Header {
  int schema_version = kSchemaVersion;
  std::string tool_version;     // foresight version that wrote the file
  std::string created_utc;      // ISO-8601
  std::string clock;            // "cuda_events", "steady_clock", "synthetic"
  RunStatus status = RunStatus::complete;
  std::string status_reason;    // why a run was truncated; empty if complete
  config::ModelConfig model;
  config::HardwareConfig hardware;
  config::RunConfig run;
};

// A whole trace in memory. Selections are stored row-major:
// selection_blocks has selection_keys.size() * selection_width entries; unused
// tail entries of a row hold kNoBlock.
//
// Token selections (DSA modes, schema v2): the tokens attention read for
// (step, layer, seq), shared by the sequence's KV heads. Row r is keyed by
// token_keys[r] (kv_head 0; count ids) and its ids, strictly ascending, are
// the next `count` entries of token_ids (rows concatenated in key order).
struct Trace {
  static constexpr std::uint32_t kNoBlock = 0xFFFFFFFFu;

  Header header;
  std::vector<std::string> stages;   // stage names, indexed by Op::stage
  std::vector<Stream> streams;       // indexed by Op::stream
  std::vector<Op> ops;
  std::vector<std::uint64_t> deps;   // op ids, sliced by Op::dep_offset/count
  std::vector<StepSpan> steps;
  std::uint32_t selection_width = 0; // top-k (max ids per selection row)
  std::vector<SelectionKey> selection_keys;
  std::vector<std::uint32_t> selection_blocks;
  std::vector<SelectionKey> token_keys;
  std::vector<std::uint32_t> token_ids;
  std::vector<CacheOutcome> cache;
  std::vector<MemoryEntry> memory;
  std::vector<PrefillPattern> prefill_patterns;  // dynamic sparse prefill runs; empty otherwise
};

// Names for enums, used in files, JSON and messages.
const char* to_string(OpKind k);
const char* to_string(Engine e);
const char* to_string(Phase p);
const char* to_string(StreamKind k);
const char* to_string(RunStatus s);
const char* to_string(MemoryLocation m);

}  // namespace foresight::trace

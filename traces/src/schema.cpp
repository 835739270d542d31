// Names of the schema's enums, as written in files and messages.
#include "foresight/trace/schema.hpp"

namespace foresight::trace {

const char* to_string(OpKind k) {
  switch (k) {
    case OpKind::compute: return "compute";
    case OpKind::h2d: return "h2d";
    case OpKind::d2h: return "d2h";
    case OpKind::d2d: return "d2d";
    case OpKind::wait: return "wait";
    case OpKind::host: return "host";
  }
  return "?";
}

const char* to_string(Engine e) {
  switch (e) {
    case Engine::none: return "none";
    case Engine::memcpy_bulk: return "memcpy_bulk";
    case Engine::memcpy_per_block: return "memcpy_per_block";
    case Engine::zero_copy_gather: return "zero_copy_gather";
    case Engine::cpu_memcpy: return "cpu_memcpy";
    case Engine::bulk_copy_gather: return "bulk_copy_gather";
  }
  return "?";
}

const char* to_string(Phase p) { return p == Phase::prefill ? "prefill" : "decode"; }

const char* to_string(StreamKind k) {
  switch (k) {
    case StreamKind::compute: return "compute";
    case StreamKind::copy: return "copy";
    case StreamKind::host: return "host";
  }
  return "?";
}

const char* to_string(RunStatus s) { return s == RunStatus::complete ? "complete" : "truncated"; }

const char* to_string(MemoryLocation m) {
  return m == MemoryLocation::gpu ? "gpu" : "host_pinned";
}

}  // namespace foresight::trace

// Views of a trace for people and other tools.
#pragma once

#include <filesystem>
#include <iosfwd>

#include <nlohmann/json_fwd.hpp>

#include "foresight/trace/schema.hpp"

namespace foresight::trace {

// Chrome trace-event JSON (opens in ui.perfetto.dev): one thread track per
// stream, one complete ("X") slice per op named "<stage> L<layer>", args with
// bytes, flops, step, seq and engine. Times in microseconds as the format
// requires.
nlohmann::json to_perfetto(const Trace& t);
// Streams the JSON to OUT atomically; a failed write is common::WriteError.
void write_perfetto(const Trace& t, const std::filesystem::path& out);

// Derived summary used by `foresight inspect` (and tests): steps, per-stage
// time share, H2D bytes, hit rate, memory. Also returned as JSON. Step times
// and the stage share cover steady decode steps; warm-up decode steps
// (steps.hpp) are reported apart (steps.warmup_step_ns).
nlohmann::json summarize(const Trace& t);
void print_summary(const Trace& t, std::ostream& os);

}  // namespace foresight::trace

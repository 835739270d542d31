// Fits a GPU calibration (config/calibration.hpp) from runtime traces of the
// profile grid (`foresight profile`). Only step spans and main-stream op
// intervals are used: on the GPU, per-op marks inside CUDA graphs are event
// nodes off the critical path, so one op's mark can land on its neighbour,
// but the intervals of a stream always add up to its span.
//
//   stage tables   no-offload traces (sparse, sparda-no-offload) at several
//                  batches and contexts: per op, the mean main-stream interval
//                  (end - previous end) of the stage over steady steps;
//   step overhead  step span minus the op intervals (host work per step);
//   gather         sparda-no-prefetch traces: the step span beyond the stage
//                  tables' prediction is the inline gathers' time; per CTA
//                  count, latency + bytes / GB/s by least squares over batches;
//   beside         sparda traces: their side-stream gathers' time against
//                  the inline fit, per CTA count;
//   slowdown       sparda traces: per batch and CTA count, the compute slowdown
//                  beside a gather that makes the simulator reproduce the step
//                  time (only traces whose step depends on that compute: not
//                  gather-bound ones);
//   eager launch   traces without CUDA graphs: the host time per launch that
//                  makes the simulator reproduce the step time.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "foresight/config/calibration.hpp"
#include "foresight/trace/schema.hpp"

namespace foresight::sim {

struct CalibrationInputs {
  std::vector<trace::Trace> traces;    // runtime traces, one per configuration
  std::vector<std::string> names;      // their names in messages (paths)
  config::Calibration meta;            // hardware, gpu_name, driver, created_utc, command, tool_version
  // Extend this calibration (`profile --extend`): the traces' stage tables
  // of keys it lacks are added (its own tables, measured over its grid, are
  // kept); every other part (step overhead, gather, slowdown, eager launch,
  // fidelity) is fitted only from traces that measure it and otherwise kept.
  // Its model and hardware must be the traces'.
  std::optional<config::Calibration> base;
};

// Progress callback: (done, total, what).
using FitProgress = std::function<void(std::size_t, std::size_t, const std::string&)>;

// Throws std::invalid_argument naming the trace or what is missing (e.g. no
// no-offload trace, traces of two models or two hardware configs).
config::Calibration fit_calibration(const CalibrationInputs& in, const FitProgress& progress = {});

}  // namespace foresight::sim

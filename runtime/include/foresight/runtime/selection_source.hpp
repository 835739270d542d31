// Block selections that come from outside the model: a selection file (the
// trace's selection format) or the workload model. With synthetic weights the
// model's own selections have no realistic locality; these drive the decode
// loop instead, while the scoring kernels still run and all data movement
// stays real.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "foresight/config/model.hpp"
#include "foresight/config/run.hpp"
#include "foresight/trace/schema.hpp"

namespace foresight::runtime {

class ExternalSelections {
 public:
  virtual ~ExternalSelections() = default;
  // Fills `out` (size k) with ascending block ids in [0, n_blocks), padded
  // with -1, for decode step `step` of (layer, seq, kv_head). Calls come in
  // step order, layers ascending within a step. Throws std::runtime_error
  // naming the source and the key when it has no valid selection.
  virtual void get(std::int32_t step, std::int32_t layer, std::int32_t seq, std::int32_t kv_head,
                   std::int64_t n_blocks, std::span<std::int32_t> out) = 0;
};

// Selections recorded in a trace (e.g. one written by `foresight run` or the
// synthesizer); `where` names the file in errors. Steps beyond the trace's
// last step are an error.
std::unique_ptr<ExternalSelections> make_trace_selections(const trace::Trace& t, std::string where);

// The workload model (foresight/workload/selection_model.hpp) with the run's
// locality settings; `context_tokens` as in the run (the sequence holds
// context + step tokens at decode step `step`).
std::unique_ptr<ExternalSelections> make_workload_selections(const config::ModelConfig& m,
                                                             const config::RunConfig& run);

}  // namespace foresight::runtime

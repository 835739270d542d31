// Warm-up and steady decode steps: the one definition that `foresight
// inspect`, the simulator's metrics and `replay --validate` share.
//
// A run's first `run.warmup_steps` decode steps (trace header; steps
// 0 .. warmup_steps - 1) are warm-up: on the GPU step 0 also captures the
// CUDA graphs, and the block cache starts cold. Every later decode step is
// steady. Prefill chunks are neither. Simulated traces copy the header of the
// trace they replay, so they leave out the same steps.
#pragma once

#include <cstdint>
#include <vector>

#include "foresight/trace/schema.hpp"

namespace foresight::trace {

enum class StepGroup : std::uint8_t { prefill, warmup, steady };

// "prefill", "warmup" or "steady" (as in JSON keys).
const char* to_string(StepGroup g);

// The group of prefill chunk or decode step `step` of `phase` in a run with header `h`.
StepGroup step_group(const Header& h, Phase phase, std::int32_t step);

// A decode step with step < h.run.warmup_steps.
inline bool is_warmup_step(const Header& h, Phase phase, std::int32_t step) {
  return step_group(h, phase, step) == StepGroup::warmup;
}

// A decode step with step >= h.run.warmup_steps.
inline bool is_steady_step(const Header& h, Phase phase, std::int32_t step) {
  return step_group(h, phase, step) == StepGroup::steady;
}

// The spans of t.steps in group `g`, in their order in t.steps.
std::vector<StepSpan> steps_in_group(const Trace& t, StepGroup g);

// The steady decode step spans of t.steps (warm-up and prefill left out).
inline std::vector<StepSpan> steady_decode_steps(const Trace& t) {
  return steps_in_group(t, StepGroup::steady);
}

}  // namespace foresight::trace

// Warm-up and steady decode steps (steps.hpp).
#include "foresight/trace/steps.hpp"

namespace foresight::trace {

const char* to_string(StepGroup g) {
  switch (g) {
    case StepGroup::prefill: return "prefill";
    case StepGroup::warmup: return "warmup";
    case StepGroup::steady: return "steady";
  }
  return "?";
}

StepGroup step_group(const Header& h, Phase phase, std::int32_t step) {
  if (phase == Phase::prefill) return StepGroup::prefill;
  return step < h.run.warmup_steps ? StepGroup::warmup : StepGroup::steady;
}

std::vector<StepSpan> steps_in_group(const Trace& t, StepGroup g) {
  std::vector<StepSpan> out;
  for (const auto& s : t.steps)
    if (step_group(t.header, s.phase, s.step) == g) out.push_back(s);
  return out;
}

}  // namespace foresight::trace

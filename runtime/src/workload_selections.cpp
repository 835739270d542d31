// Selections from the workload model (traces/include/foresight/workload).
#include <algorithm>
#include <stdexcept>

#include <fmt/core.h>

#include "foresight/runtime/selection_source.hpp"
#include "foresight/workload/selection_model.hpp"

namespace foresight::runtime {
namespace {

class WorkloadSelections final : public ExternalSelections {
 public:
  WorkloadSelections(const workload::SelectionModelParams& p, std::int64_t n_layers, std::int64_t n_kv,
                     std::vector<std::int64_t> prefilled)
      : model_(p, n_layers, n_kv, std::move(prefilled)) {}

  void get(std::int32_t step, std::int32_t layer, std::int32_t seq, std::int32_t kv_head, std::int64_t n_blocks,
           std::span<std::int32_t> out) override {
    const auto& ids = model_.next(step, layer, seq, kv_head);
    if (model_.n_blocks(seq, step) != n_blocks || ids.size() > out.size()) {
      throw std::logic_error(fmt::format("workload selections: step {}, layer {}, seq {}: model has {} blocks "
                                         "and {} ids, the runtime {} blocks and top-k {}",
                                         step, layer, seq, model_.n_blocks(seq, step), ids.size(), n_blocks,
                                         out.size()));
    }
    std::fill(out.begin(), out.end(), -1);
    std::transform(ids.begin(), ids.end(), out.begin(), [](std::uint32_t v) { return static_cast<std::int32_t>(v); });
  }

 private:
  workload::SelectionModel model_;
};

}  // namespace

std::unique_ptr<ExternalSelections> make_workload_selections(const config::ModelConfig& m,
                                                             const config::RunConfig& run) {
  workload::SelectionModelParams p;
  p.topk_blocks = run.topk_blocks;
  p.sink_blocks = m.sparse.sink_blocks;
  p.window_blocks = std::max<std::int64_t>(m.sparse.window_blocks, 1);
  p.block_tokens = m.sparse.block_tokens;
  p.locality = run.workload;
  p.seed = run.seed;
  // The model's context is the prefilled tokens: the runtime feeds the last
  // prompt token at step 0, so after step t a sequence holds context + t tokens.
  std::vector<std::int64_t> prefilled;
  for (auto c : run.context_tokens) prefilled.push_back(c - 1);
  return std::make_unique<WorkloadSelections>(p, m.n_layers, m.n_kv_heads, std::move(prefilled));
}

}  // namespace foresight::runtime

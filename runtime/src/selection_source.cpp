// Selections from a trace file's selection table.
#include "foresight/runtime/selection_source.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/core.h>

namespace foresight::runtime {
namespace {

class TraceSelections final : public ExternalSelections {
 public:
  TraceSelections(const trace::Trace& t, std::string where) : where_(std::move(where)) {
    const std::size_t w = t.selection_width;
    for (std::size_t i = 0; i < t.selection_keys.size(); ++i) {
      const auto& k = t.selection_keys[i];
      std::vector<std::int32_t> ids;
      for (std::size_t j = 0; j < k.count && j < w; ++j) {
        ids.push_back(static_cast<std::int32_t>(t.selection_blocks[i * w + j]));
      }
      rows_[{k.step, k.layer, k.seq, k.kv_head}] = std::move(ids);
    }
  }
  void get(std::int32_t step, std::int32_t layer, std::int32_t seq, std::int32_t kv_head,
           std::int64_t n_blocks, std::span<std::int32_t> out) override {
    auto it = rows_.find({step, layer, seq, kv_head});
    if (it == rows_.end()) {
      throw std::runtime_error(fmt::format("{}: no selection for step {}, layer {}, seq {}, kv_head {}",
                                           where_, step, layer, seq, kv_head));
    }
    std::vector<std::int32_t> ids = it->second;
    std::sort(ids.begin(), ids.end());
    if (ids.size() > out.size()) {
      throw std::runtime_error(fmt::format("{}: selection of step {}, layer {}, seq {}, kv_head {} has {} "
                                           "blocks, more than top-k {}",
                                           where_, step, layer, seq, kv_head, ids.size(), out.size()));
    }
    for (auto id : ids) {
      if (id < 0 || id >= n_blocks) {
        throw std::runtime_error(fmt::format("{}: selection of step {}, layer {}, seq {}, kv_head {} names "
                                             "block {}, but the sequence has {} blocks",
                                             where_, step, layer, seq, kv_head, id, n_blocks));
      }
    }
    std::fill(out.begin(), out.end(), -1);
    std::copy(ids.begin(), ids.end(), out.begin());
  }

 private:
  std::string where_;
  std::map<std::tuple<std::int32_t, std::int32_t, std::int32_t, std::int32_t>, std::vector<std::int32_t>> rows_;
};

}  // namespace

std::unique_ptr<ExternalSelections> make_trace_selections(const trace::Trace& t, std::string where) {
  return std::make_unique<TraceSelections>(t, std::move(where));
}

}  // namespace foresight::runtime

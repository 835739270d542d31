// The op graph of one decode layer per mode. See decode_plan.hpp.
#include "foresight/config/decode_plan.hpp"

#include <algorithm>

namespace foresight::config {

bool layer_kv_on_host(const ModeTraits& t, std::int32_t layer) {
  return t.kv_on_host() && !(layer == 0 && t.layer0_on_gpu());
}

namespace {

// The selection and transfer work of a selecting mode's layer `l`, after its
// compress and before its attention.
// `d`: prefetch_distance (0: every layer fetches its own misses inline).
void add_selection_work(std::vector<LayerStep>& out, const ModeTraits& t, int d, std::int32_t l,
                        std::int32_t n_layers) {
  auto side = [&](std::int32_t layer) { return d > 0 && layer < n_layers && layer_kv_on_host(t, layer); };
  if (t.forecast()) {
    // Layer 0 selects its own (resident) blocks with no lookahead, then the
    // first d layers'; every later layer l selects layer l + d's.
    if (l == 0) {
      out.push_back({LayerWork::self_project, 0});
      out.push_back({LayerWork::select, 0});
      out.push_back({LayerWork::fetch, 0});
    }
    for (std::int32_t target = l == 0 ? 1 : l + std::max(d, 1); target <= l + std::max(d, 1); ++target) {
      if (target >= n_layers) break;
      out.push_back({LayerWork::select, target});
      if (side(target)) out.push_back({LayerWork::prefetch, target});
    }
    if (l > 0 && !side(l)) out.push_back({LayerWork::fetch, l});
  } else {
    out.push_back({LayerWork::select, l});
    if (side(l + d)) out.push_back({LayerWork::prefetch, l + d});
    if (!side(l)) out.push_back({LayerWork::fetch, l});
  }
  if (side(l)) out.push_back({LayerWork::wait_fetch, l});
}

}  // namespace

std::vector<LayerStep> decode_layer_plan(const ModeTraits& t, Prefetch prefetch, std::int32_t layer,
                                         std::int32_t n_layers) {
  const int d = prefetch_distance(prefetch);
  std::vector<LayerStep> out;
  out.reserve(14);
  // A query mode's first d layers have no earlier selection: their prefetches start with the step.
  for (std::int32_t target = 0; t.selects_blocks() && !t.forecast() && layer == 0 && target < d; ++target)
    if (target < n_layers && layer_kv_on_host(t, target)) out.push_back({LayerWork::prefetch, target});
  out.push_back({LayerWork::project, layer});
  out.push_back({LayerWork::rope_append, layer});
  if (t.selects_blocks()) {
    out.push_back({LayerWork::compress, layer});
    add_selection_work(out, t, d, layer, n_layers);
    out.push_back({LayerWork::sparse_attention, layer});
  } else if (t.selects_tokens()) {
    out.push_back({LayerWork::index_select, layer});
    out.push_back({LayerWork::token_gather, layer});
    out.push_back({LayerWork::token_attention, layer});
  } else {
    out.push_back({LayerWork::dense_attention, layer});
  }
  out.push_back({LayerWork::o_proj, layer});
  out.push_back({LayerWork::mlp, layer});
  return out;
}

const std::vector<PrefillWork>& prefill_layer_plan() {
  static const std::vector<PrefillWork> plan = {PrefillWork::project, PrefillWork::rope, PrefillWork::kv_write,
                                                PrefillWork::attention, PrefillWork::o_proj, PrefillWork::mlp};
  return plan;
}

PrefillOffload prefill_offload(const ModeTraits& t) {
  if (!t.kv_on_host()) return PrefillOffload::none;
  return t.forecast() ? PrefillOffload::side_copy : PrefillOffload::inline_copy;
}

const char* to_string(LayerWork w) {
  switch (w) {
    case LayerWork::project: return "project";
    case LayerWork::rope_append: return "rope_append";
    case LayerWork::dense_attention: return "dense_attention";
    case LayerWork::compress: return "compress";
    case LayerWork::self_project: return "self_project";
    case LayerWork::select: return "select";
    case LayerWork::fetch: return "fetch";
    case LayerWork::prefetch: return "prefetch";
    case LayerWork::wait_fetch: return "wait_fetch";
    case LayerWork::sparse_attention: return "sparse_attention";
    case LayerWork::index_select: return "index_select";
    case LayerWork::token_gather: return "token_gather";
    case LayerWork::token_attention: return "token_attention";
    case LayerWork::o_proj: return "o_proj";
    case LayerWork::mlp: return "mlp";
  }
  return "?";
}

}  // namespace foresight::config

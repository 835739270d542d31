// DeviceWeights: one upload of the model's weights.
#include "foresight/runtime/device_weights.hpp"

#include <stdexcept>

namespace foresight::runtime {
namespace {
DeviceArray<bf16> upload(Backend& be, const std::vector<bf16>& v, std::uint64_t& bytes) {
  DeviceArray<bf16> d(be, v.size());
  if (!v.empty()) d.upload(v.data(), v.size());
  bytes += d.bytes();
  return d;
}
}  // namespace

DeviceWeights::DeviceWeights(const config::ModelConfig& m, const Weights& w, Backend& be) : backend(be) {
  if (w.layers.size() != static_cast<std::size_t>(m.n_layers)) {
    throw std::invalid_argument("DeviceWeights: weights have a different layer count than the model");
  }
  for (const auto& lw : w.layers) {
    layers.push_back({upload(be, lw.attn_norm, bytes), upload(be, lw.wqkvf, bytes), upload(be, lw.wo, bytes),
                      upload(be, lw.ffn_norm, bytes), upload(be, lw.w_gate_up, bytes), upload(be, lw.w_down, bytes)});
  }
  embed = upload(be, w.embed, bytes);
  final_norm = upload(be, w.final_norm, bytes);
  if (!w.lm_head.empty()) lm_head = upload(be, w.lm_head, bytes);
  lm_head_ptr = w.lm_head.empty() ? embed.get() : lm_head.get();
  selector = upload(be, w.layer0_selector, bytes);
}

}  // namespace foresight::runtime

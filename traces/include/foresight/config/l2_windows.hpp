// The runtime's GPU L2 reservation (run --l2-reserve), written once: which
// KV an L2 persisting set-aside covers. The block-sparse modes re-read every
// layer's GPU slot buffer (the K and V slots of all its sequences and KV
// heads, config: engine.hpp) at every step, so the reservation marks the
// slot buffers of the first layers persisting, one access-policy window per
// layer, set while that layer's attention runs:
//   n = reserve / slot_bytes whole layers (at most n_layers), hit ratio 1;
//   when not even one layer fits, layer 0 alone with hit ratio
//   reserve / slot_bytes (CUDA's advice: set-aside over window).
// Other layers' KV, weights and activations use the rest of L2 as usual.
//
// The DSA mode `dsa` re-reads most of each layer's selected tokens at the
// next step (scattered rows of its KV store, K and V in one allocation), so
// the reservation pins the tokens the first layers read: a window over the
// whole store of each of the first n = reserve / read_bytes layers (read_bytes:
// the K and V rows its gather reads per step), hit ratio 1, so the lines
// kept are those read; when not one layer's reads fit, layer 0 with hit
// ratio reserve / read_bytes. (The backend clamps a window to the GPU's
// largest; the lines a window does not cover stream through L2.)
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace foresight::config {

struct L2Window {
  std::int64_t layer = 0;
  std::int64_t bytes = 0;   // the window: the layer's slot buffer (DSA: its KV store)
  double hit_ratio = 1.0;   // share of the window's accesses marked persisting
};

// reserve_bytes: the granted set-aside (bytes, >= 0); slot_bytes: one
// layer's slot buffer (bytes, > 0). Empty when reserve_bytes is 0.
inline std::vector<L2Window> l2_windows(std::int64_t reserve_bytes, std::int64_t slot_bytes, std::int64_t n_layers) {
  std::vector<L2Window> w;
  if (reserve_bytes <= 0 || slot_bytes <= 0 || n_layers <= 0) return w;
  const std::int64_t whole = std::min(reserve_bytes / slot_bytes, n_layers);
  if (whole == 0) return {{0, slot_bytes, static_cast<double>(reserve_bytes) / static_cast<double>(slot_bytes)}};
  for (std::int64_t l = 0; l < whole; ++l) w.push_back({l, slot_bytes, 1.0});
  return w;
}

// DSA (see above): read_bytes > 0 per layer and step; store_bytes: one
// layer's K and V store, the window. Empty when reserve_bytes is 0.
inline std::vector<L2Window> l2_token_windows(std::int64_t reserve_bytes, std::int64_t read_bytes,
                                              std::int64_t store_bytes, std::int64_t n_layers) {
  std::vector<L2Window> w = l2_windows(reserve_bytes, read_bytes, n_layers);
  for (auto& x : w) x.bytes = store_bytes;
  return w;
}

}  // namespace foresight::config

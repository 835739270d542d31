// What each decode mode does, written once: who selects the KV blocks, where
// the full KV lives and how selected blocks reach the GPU working set. The
// runtime (engine, memory plan), the simulator (schedule, memory model) and
// the capacity plan all read these traits; adding a mode means adding one
// row to the table in traces/src/config_mode.cpp.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace foresight::config {

// Decode modes; names as in the CLI and the trace.
//   dense               full attention, KV on the GPU
//   sparse              query-selected blocks, KV on the GPU, GPU-to-GPU gather
//   sparse-offload      query-selected blocks, KV in pinned host memory, inline fetch
//   sparda-no-prefetch  Forecast of layer l-1 selects, KV on host, inline fetch
//   sparda              Forecast of layer l-1 selects, fetched one layer ahead
//   sparda-no-offload   Forecast of layer l-1 selects, KV on the GPU
//   dsa                 layer l's indexer selects top-k tokens, KV on the GPU, GPU-to-GPU gather
//   dsa-offload         the same with the KV in pinned host memory, inline gather over PCIe
enum class Mode { dense, sparse, sparse_offload, sparda_no_prefetch, sparda, sparda_no_offload, dsa, dsa_offload };

// When an offloaded layer's misses are fetched: inline before its attention
// (none), or on the side stream right after they were selected, one layer
// ahead (lookahead: the runtime's sparda) or two (lookahead2, "lookahead-2":
// a simulator what-if, config/decode_plan.hpp).
enum class Prefetch { none, lookahead, lookahead2 };
// Layers between a prefetch's selection and the layer it fetches: 0, 1, 2.
inline int prefetch_distance(Prefetch p) {
  return p == Prefetch::lookahead2 ? 2 : p == Prefetch::lookahead ? 1 : 0;
}

// Who picks layer l's top-k blocks.
enum class SelectionSource {
  none,      // dense: every block is attended
  query,     // layer l's own query scores the compressed keys
  forecast,  // layer l-1's Forecast projection (layer 0: its selector) picks for layer l
  indexer,   // layer l's indexer scores every token; top-k tokens (model.dsa), not blocks
};

// Where a layer's full K and V live.
enum class KvLocation { gpu, host_pinned };

// How the selected blocks of a layer reach its GPU working set (slots).
enum class TransferPath {
  none,           // dense: attention reads the full KV in place
  device_gather,  // GPU-to-GPU copy from the resident KV
  inline_gather,  // zero-copy gather over PCIe on the main stream, before attention
  side_prefetch,  // the same gather on a side stream, one layer ahead
};

struct ModeTraits {
  Mode mode = Mode::dense;
  const char* name = "dense";           // CLI and trace spelling
  SelectionSource selection = SelectionSource::none;
  KvLocation kv = KvLocation::gpu;      // layers >= 1 (layer 0: layer0_on_gpu())
  TransferPath transfer = TransferPath::none;
  Prefetch prefetch = Prefetch::none;   // the runtime's choice for this mode

  // Block-granular selection (compressed keys, working-set slots, /selections).
  bool selects_blocks() const { return selection == SelectionSource::query || selection == SelectionSource::forecast; }
  // Token-granular selection (DSA: an indexer, a packed gather, /token_selections).
  bool selects_tokens() const { return selection == SelectionSource::indexer; }
  bool forecast() const { return selection == SelectionSource::forecast; }
  // The KV attention reads stays in HBM between decode steps, so an L2
  // reservation can keep it: resident KV or working-set slots of the block
  // modes, resident KV of dsa (dsa-offload packs host tokens anew each step;
  // dense reads all of it, nothing to choose).
  bool l2_reservable() const { return selects_blocks() || (selects_tokens() && !kv_on_host()); }
  bool kv_on_host() const { return kv == KvLocation::host_pinned; }
  // Forecast modes keep layer 0's KV on the GPU even when they offload: layer
  // 0 selects its own blocks with no lookahead, so it has nothing to prefetch.
  bool layer0_on_gpu() const { return !kv_on_host() || forecast(); }
  // Layers whose full KV is in pinned host memory, of n_layers.
  std::int64_t host_layers(std::int64_t n_layers) const {
    return kv_on_host() ? n_layers - (layer0_on_gpu() ? 1 : 0) : 0;
  }
};

inline constexpr std::array<Mode, 8> kAllModes = {Mode::dense, Mode::sparse, Mode::sparse_offload,
                                                  Mode::sparda_no_prefetch, Mode::sparda,
                                                  Mode::sparda_no_offload, Mode::dsa, Mode::dsa_offload};

const ModeTraits& mode_traits(Mode m);
const char* to_string(Mode m);
const char* to_string(Prefetch p);
// Parse a name; throw foresight::config::ConfigError naming `field` if unknown.
Mode parse_mode(const std::string& s, const std::string& field);
Prefetch parse_prefetch(const std::string& s, const std::string& field);

}  // namespace foresight::config

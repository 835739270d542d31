// The L2 reservation model: a region of `reserve` bytes of L2 (CUDA's
// persisting set-aside) that holds KV between decode steps. The KV entries
// attention reads are replayed in the order the GPU reads them (step by step,
// layer by layer, sequence by sequence, KV head by KV head) through that
// region under an eviction policy; everything else (weights, activations,
// KV outside the region) passes through the rest of L2 and is not modelled
// here beyond the time effect the replay applies (docs/simulator.md).
//
// Two layers: replay_l2 is granularity-free (entry keys in access order, a
// capacity in entries), so a token-granular workload can add its own key
// builder; l2_block_outcomes builds the block-granular keys of a trace's
// recorded selections (the selected blocks plus the tail block of every
// (step, layer, sequence, KV head)).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "foresight/config/calibration.hpp"
#include "foresight/config/hardware.hpp"
#include "foresight/config/scenario.hpp"
#include "foresight/sim/selection_replay.hpp"
#include "foresight/trace/metrics.hpp"
#include "foresight/trace/schema.hpp"

namespace foresight::sim {

// Replays `keys` (one entry each, in access order) through a fully
// associative region of `capacity` entries under `policy`; returns 1 per
// access that hit, 0 per miss. lru: evicts the least recently accessed entry.
// opt: Belady's MIN, evicts the resident entry whose next access is furthest
// (never = furthest; ties by smallest key), every miss is inserted; no policy
// that inserts every miss gets more hits. capacity 0: every access misses.
// Throws std::invalid_argument for a negative capacity.
std::vector<std::uint8_t> replay_l2(std::span<const std::uint64_t> keys, std::int64_t capacity,
                                    config::L2Policy policy);

// Block-granular L2 outcomes per (decode step, layer) of a batch whose
// sequence i replays the recorded sequence seq_map[i] (its own KV: entries
// of different i never alias), over the layers with `layers[l]`. Entries are
// KV blocks (one KV head's K and V of block_tokens tokens); capacity_blocks
// = reserve bytes / block bytes. The tail block is that of the recorded
// sequence (selection_replay.hpp's tail_block). Outcomes are listed in
// (step, layer) order; steps with no recorded selection row are absent.
// Throws std::invalid_argument if a key field does not fit its bits or
// seq_map names a sequence /selections lack.
// A field of an entry key (keys pack layer, sequence, ... into 64 bits):
// throws std::invalid_argument naming `what` unless 0 <= v < 2^bits.
void require_key_bits(std::int64_t v, int bits, const char* what);

std::vector<trace::L2Outcome> l2_block_outcomes(const trace::Trace& t, const SelectionIndex& idx,
                                                const std::vector<std::int32_t>& seq_map,
                                                const std::vector<bool>& layers, std::int64_t capacity_blocks,
                                                config::L2Policy policy);

// The cost to other ops, measured on the H200 (bench/RESULTS-llc.md,
// 2026-12-03): decode steps of sparse and sparda at batch 1/4/16 and 32K/128K
// with a real persisting set-aside (run --l2-reserve) against none. The step
// moved by the median +0.5 / +0.2 / +0.4% with 8 / 16 / 24 MiB (noise; 12
// points each) and by the median +7.8% (+6.8 to +15.4%, 11 points) at the
// maximum, 37.5 MiB; a 1 GiB stream read was 10.5% slower at the maximum
// (measured-h200.md). As shares of the persisting maximum: no cost up to
// kL2FreeShare of it, then a linear rise to kL2SlowdownAtMax at the maximum.
inline constexpr double kL2FreeShare = 24.0 / 37.5;
inline constexpr double kL2SlowdownAtMax = 0.078;

// The step slowdown at the persisting maximum for `mode`'s selection
// granularity on this GPU: the median of the calibration's l2_measured runs
// at that set-aside (within 1%) of the modes with the same granularity
// (block or token), or kL2SlowdownAtMax when it has none (H200: block modes
// 7.8%, the constant's own runs; dsa 9.45%, six runs).
double l2_slowdown_at_max(const config::Calibration* cal, const config::HardwareConfig& hw, config::Mode mode);

// The time effect of a reservation:
// - attention reads its KV hits at l2_gbps instead of hbm_gbps: it lasts
//   ns - hit_bytes * (1/hbm_gbps - 1/l2_gbps), never less than reading all
//   its KV from L2 (read_bytes / l2_gbps) nor more than ns;
// - every other decode compute op runs `other_factor` times longer, with
//   other_factor = 1 + slowdown_at_max * max(0, share - kL2FreeShare) /
//   (1 - kL2FreeShare), share = reserve / persisting max (capped at 1): the
//   measured steps' slowdown (their attention is a small part of them).
struct L2TimeModel {
  double l2_gbps = 0;       // GB/s = bytes per ns
  double hbm_gbps = 0;      // GB/s
  double other_factor = 1;  // duration multiplier of other compute
  double slowdown_at_max = kL2SlowdownAtMax;  // the step slowdown at the persisting maximum it used
  static L2TimeModel of(const config::HardwareConfig& hw, std::int64_t reserve_bytes,
                        double slowdown_at_max = kL2SlowdownAtMax);
  std::int64_t attention_ns(std::int64_t ns, double hit_bytes, double read_bytes) const;
  std::int64_t other_ns(std::int64_t ns) const;
};

}  // namespace foresight::sim

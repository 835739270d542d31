// The memory footprint of a run (see config/footprint.hpp for the formulas).
#include "foresight/config/footprint.hpp"
#include "foresight/config/sparse_prefill.hpp"

#include <algorithm>

#include <fmt/core.h>

namespace foresight::config {
namespace {

using trace::MemoryLocation;
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

std::uint64_t u(std::int64_t v) { return static_cast<std::uint64_t>(std::max<std::int64_t>(v, 0)); }

// The shapes every category is computed from.
struct Shape {
  std::uint64_t B = 0, L = 0, T = 0;  // batch, layers, tokens per sequence store (whole blocks)
  std::uint64_t kv_tok = 0;           // bytes of K and V, one token, one layer
  std::uint64_t key_row = 0;          // bytes of one token's keys, all KV heads
  std::uint64_t W = 0;                // compressed keys of T tokens (>= 1)
  std::uint64_t rows = 0;             // B * n_kv_heads
  std::uint64_t slots = 0;            // working-set slots per (layer, seq, KV head), tail included
};

std::int64_t compressed_keys(std::int64_t tokens, const SparseConfig& s) {
  return tokens >= s.compress_kernel ? (tokens - s.compress_kernel) / s.compress_stride + 1 : 0;
}

Shape shape_of(const ModelConfig& m, const RunConfig& run) {
  const auto& sp = m.sparse;
  std::int64_t longest = 0;
  for (auto c : run.context_tokens) longest = std::max(longest, c);
  const std::int64_t tokens = longest + std::max<std::int64_t>(run.warmup_steps + run.decode_steps, 1);
  Shape s;
  s.B = u(run.batch);
  s.L = u(m.n_layers);
  s.T = u((tokens + sp.block_tokens - 1) / sp.block_tokens * sp.block_tokens);
  s.kv_tok = u(m.kv_bytes_per_token_layer());
  s.key_row = u(m.n_kv_heads * m.head_dim * m.dtype_bytes);
  s.W = std::max<std::uint64_t>(u(compressed_keys(static_cast<std::int64_t>(s.T), sp)), 1);
  s.rows = s.B * u(m.n_kv_heads);
  s.slots = u(std::max(run.topk_blocks + 1, run.cache_blocks));
  return s;
}

// Block maps, load lists and LRU clocks per layer; scores, selected ids and
// slot lists (runtime/src/engine.cpp, allocate_kv).
std::uint64_t selection_bytes(const Shape& s, const RunConfig& run) {
  const std::uint64_t k = u(run.topk_blocks);
  const std::uint64_t map_slots = s.slots - 1;  // the engine's n_slots: the tail has no map entry
  const std::uint64_t lru_clock = lru_working_set(run) ? 8 : 0;
  const std::uint64_t per_layer = s.rows * map_slots * (3 * 4 + lru_clock) + s.rows * 4;
  const std::uint64_t selected = s.L * s.rows * k * 4 * (run.selection_source == "model" ? 1 : 2);
  const std::uint64_t lists = s.rows * (s.W * 4 + (k + 1) * 4 + k * 4 + 2 * 4) + s.L * 3 * 8;
  return s.L * per_layer + selected + lists;
}

// DSA: token scores over the store, every layer's selected tokens and
// their counts (read back once per step).
std::uint64_t token_selection_bytes(const ModelConfig& m, const Shape& s) {
  const std::uint64_t k = u(m.dsa.topk_tokens);
  return s.B * s.T * 4 + s.L * s.B * (k + 1) * 4;
}

// Indexer rows of one token: queries, key, head weights.
std::int64_t indexer_row(const ModelConfig& m) {
  return m.dsa.indexer_heads * m.dsa.indexer_dim + m.dsa.indexer_dim + m.dsa.indexer_heads;
}

std::uint64_t activation_bytes(const ModelConfig& m, const RunConfig& run, const Shape& s) {
  const std::int64_t q = m.n_heads * m.head_dim, kv = m.n_kv_heads * m.head_dim;
  const std::int64_t indexer = mode_traits(run.mode).selects_tokens() ? indexer_row(m) : 0;
  const std::int64_t qkvf = q + 3 * kv + indexer;
  const std::uint64_t rows = std::max(s.B, u(run.prefill_chunk_tokens));
  const std::uint64_t per_row = u(2 * m.hidden + qkvf + q + 3 * m.intermediate);
  const std::uint64_t per_seq = u(q + kv + m.vocab);
  return (rows * per_row + s.B * per_seq) * u(m.dtype_bytes);
}

std::uint64_t workspace_bytes(const ModelConfig& m, const HardwareConfig& hw, const ModeTraits& mt,
                              const Shape& s) {
  const std::uint64_t heads_rows = s.B * u(m.n_heads);
  const std::uint64_t splits = std::max<std::uint64_t>(1, s.rows > 0 ? u(hw.sm_count) / s.rows : 1);
  const std::uint64_t attention = 4 * heads_rows * splits * u(m.head_dim + 2);
  const std::uint64_t chunks = (s.W + 255) / 256;  // kernels::kQueryGroupChunk
  const std::uint64_t query = mt.selection == SelectionSource::query ? 4 * heads_rows * (s.W + 2 * chunks) : 0;
  return u(hw.gpu_workspace_bytes) + std::max(attention, query);
}

}  // namespace

std::uint64_t Footprint::gpu_bytes() const {
  std::uint64_t n = 0;
  for (const auto& i : items) n += i.location == MemoryLocation::gpu ? i.bytes : 0;
  return n;
}

std::uint64_t Footprint::host_bytes() const {
  std::uint64_t n = 0;
  for (const auto& i : items) n += i.location == MemoryLocation::host_pinned ? i.bytes : 0;
  return n;
}

std::uint64_t Footprint::bytes(const std::string& category) const {
  std::uint64_t n = 0;
  for (const auto& i : items) n += i.category == category ? i.bytes : 0;
  return n;
}

std::uint64_t Footprint::cpu_backend_host_bytes() const {
  return std::max(gpu_bytes() + host_bytes(), 2 * bytes("weights"));
}

std::string Footprint::shortfall() const {
  std::string s;
  auto add = [&](const char* what, std::uint64_t need, std::uint64_t cap) {
    if (need <= cap) return;
    s += fmt::format("{}{}: needs {:.2f} GiB of {:.2f} GiB", s.empty() ? "" : "; ", what, need / kGiB, cap / kGiB);
  };
  add("GPU memory", gpu_bytes(), gpu_capacity_bytes);
  add("pinned host memory", host_bytes(), host_capacity_bytes);
  return s;
}

std::string Footprint::breakdown() const {
  std::string s;
  for (auto loc : {MemoryLocation::gpu, MemoryLocation::host_pinned}) {
    const std::uint64_t total = loc == MemoryLocation::gpu ? gpu_bytes() : host_bytes();
    const std::uint64_t cap = loc == MemoryLocation::gpu ? gpu_capacity_bytes : host_capacity_bytes;
    s += fmt::format("  {}: {:.3f} GiB needed of {:.3f} GiB{}\n", trace::to_string(loc), total / kGiB, cap / kGiB,
                     total > cap ? "  (DOES NOT FIT)" : "");
    for (const auto& i : items)
      if (i.location == loc) s += fmt::format("    {:<18} {:>12.3f} GiB\n", i.category, i.bytes / kGiB);
  }
  return s;
}

Footprint footprint(const ModelConfig& m, const RunConfig& run, const HardwareConfig& hw) {
  const ModeTraits& mt = mode_traits(run.mode);
  const Shape s = shape_of(m, run);
  Footprint f;
  f.gpu_capacity_bytes = u(hw.gpu_mem_bytes);
  f.host_capacity_bytes = u(hw.host_mem_bytes - hw.host_reserve_bytes);
  auto add = [&](MemoryLocation loc, const char* category, std::uint64_t bytes) {
    if (bytes > 0) f.items.push_back({loc, category, bytes});
  };
  const auto gpu = MemoryLocation::gpu;
  const std::uint64_t store_layer = s.B * s.T * s.kv_tok;  // all sequences, one layer
  const std::uint64_t host_layers = u(mt.host_layers(m.n_layers));

  const std::int64_t indexer = mt.selects_tokens() ? m.indexer_params() : 0;
  add(gpu, "weights", u(m.stored_params() + indexer) * u(m.dtype_bytes));
  add(gpu, mt.kv_on_host() ? "kv_layer0" : "kv_full", (s.L - host_layers) * store_layer);
  if (mt.kv_on_host() && run.prefill != "synthetic")
    add(gpu, "kv_prefill_staging", host_layers * s.T * s.kv_tok);
  if (mt.selects_blocks()) {
    add(gpu, "kv_working_set", s.L * s.B * s.slots * u(m.sparse.block_tokens) * s.kv_tok);
    add(gpu, "compressed_keys",
        s.L * s.B * (s.W + u(m.sparse.compress_kernel)) * s.key_row + s.T * s.key_row);
    add(gpu, "selection", selection_bytes(s, run));
  }
  if (mt.selects_tokens()) {
    add(gpu, "kv_gathered", s.B * u(m.dsa.topk_tokens) * s.kv_tok);
    add(gpu, "indexer_keys", s.L * s.B * s.T * u(m.dsa.indexer_dim * m.dtype_bytes));
    add(gpu, "selection", token_selection_bytes(m, s));
  }
  add(gpu, "activations", activation_bytes(m, run, s));
  if (run.prefill == "real" && prefill_is_sparse(run.prefill_attention))
    add(gpu, "prefill_sparse", prefill_sparse_bytes(m, static_cast<std::int64_t>(s.T)));
  add(gpu, "workspace", workspace_bytes(m, hw, mt, s));
  add(MemoryLocation::host_pinned, "kv_full", host_layers * store_layer);
  return f;
}

}  // namespace foresight::config

// Memory planner (see memory_plan.hpp for what is counted).
#include "foresight/runtime/memory_plan.hpp"

#include <algorithm>

#include <fmt/core.h>

namespace foresight::runtime {
namespace {

using config::Mode;
using trace::MemoryLocation;

std::uint64_t u(std::int64_t v) { return static_cast<std::uint64_t>(std::max<std::int64_t>(v, 0)); }

std::int64_t compressed_windows(std::int64_t tokens, const config::SparseConfig& s) {
  return tokens >= s.compress_kernel ? (tokens - s.compress_kernel) / s.compress_stride + 1 : 0;
}

constexpr std::uint64_t kGemmWorkspaceBytes = std::uint64_t{32} << 20;  // cuBLAS workspace
constexpr std::int64_t kPrefillChunkTokens = 2048;
constexpr std::int64_t kAttentionSplits = 32;  // split-KV partials per (seq, head)

}  // namespace

bool is_offload_mode(Mode m) {
  return m == Mode::sparse_offload || m == Mode::sparda_no_prefetch || m == Mode::sparda;
}
bool is_sparse_mode(Mode m) { return m != Mode::dense; }

std::uint64_t weight_bytes(const config::ModelConfig& m) {
  const std::int64_t H = m.hidden, q = m.n_heads * m.head_dim, kv = m.n_kv_heads * m.head_dim;
  const std::int64_t per_layer = 2 * H + (q + 3 * kv) * H + H * q + 3 * m.intermediate * H;
  const std::int64_t params = m.vocab * H * (m.tie_embeddings ? 1 : 2) + H + m.n_layers * per_layer + kv * H;
  return u(params) * u(m.dtype_bytes);
}

std::uint64_t MemoryPlan::gpu_bytes() const {
  std::uint64_t n = 0;
  for (const auto& i : items) n += i.location == MemoryLocation::gpu ? i.bytes : 0;
  return n;
}
std::uint64_t MemoryPlan::host_bytes() const {
  std::uint64_t n = 0;
  for (const auto& i : items) n += i.location == MemoryLocation::host_pinned ? i.bytes : 0;
  return n;
}

std::string MemoryPlan::breakdown() const {
  constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
  std::string s;
  for (auto loc : {MemoryLocation::gpu, MemoryLocation::host_pinned}) {
    const std::uint64_t total = loc == MemoryLocation::gpu ? gpu_bytes() : host_bytes();
    const std::uint64_t cap = loc == MemoryLocation::gpu ? gpu_capacity_bytes : host_capacity_bytes;
    s += fmt::format("  {}: {:.3f} GiB needed of {:.3f} GiB{}\n", trace::to_string(loc), total / kGiB,
                     cap / kGiB, total > cap ? "  (DOES NOT FIT)" : "");
    for (const auto& i : items) {
      if (i.location == loc && i.bytes > 0) s += fmt::format("    {:<18} {:>12.3f} GiB\n", i.category, i.bytes / kGiB);
    }
  }
  return s;
}

MemoryPlan plan_memory(const config::ModelConfig& m, const config::RunConfig& run,
                       const config::HardwareConfig& hw) {
  MemoryPlan p;
  p.gpu_capacity_bytes = u(hw.gpu_mem_bytes);
  p.host_capacity_bytes = u(hw.host_mem_bytes);
  const auto& sp = m.sparse;
  const std::int64_t kv_tok = m.kv_bytes_per_token_layer();
  const std::int64_t B = run.batch;
  auto gpu = [&](std::string c, std::uint64_t b) { p.items.push_back({MemoryLocation::gpu, std::move(c), b}); };
  auto host = [&](std::string c, std::uint64_t b) { p.items.push_back({MemoryLocation::host_pinned, std::move(c), b}); };

  gpu("weights", weight_bytes(m));

  // Tokens each sequence holds at the end of the run, rounded up to blocks.
  std::int64_t kv_tokens_all = 0, windows_all = 0, max_tokens = 0;
  for (std::int64_t b = 0; b < B; ++b) {
    const std::int64_t ctx = b < static_cast<std::int64_t>(run.context_tokens.size())
                                 ? run.context_tokens[static_cast<std::size_t>(b)]
                                 : (run.context_tokens.empty() ? 0 : run.context_tokens.back());
    const std::int64_t t = ctx + run.decode_steps + run.warmup_steps;
    const std::int64_t blocks = (t + sp.block_tokens - 1) / sp.block_tokens;
    kv_tokens_all += blocks * sp.block_tokens;
    windows_all += compressed_windows(t, sp);
    max_tokens = std::max(max_tokens, t);
  }
  const std::uint64_t kv_full = u(kv_tokens_all) * u(m.n_layers) * u(kv_tok);
  if (is_offload_mode(run.mode)) {
    const std::int64_t slots = run.cache_blocks > 0 ? run.cache_blocks : run.topk_blocks + 1;
    // Per (layer, seq, KV head) `slots` blocks; kv_tok covers all KV heads.
    const bool layer0_resident = run.mode != Mode::sparse_offload;
    const std::int64_t ws_layers = layer0_resident ? m.n_layers - 1 : m.n_layers;
    gpu("kv_working_set", u(ws_layers) * u(B) * u(slots) * u(sp.block_tokens) * u(kv_tok));
    if (layer0_resident) gpu("kv_layer0", u(kv_tokens_all) * u(kv_tok));
    host("kv_full", kv_full);
  } else {
    gpu("kv_full", kv_full);
    // sparse / sparda-no-offload gather the selected blocks GPU-to-GPU into
    // per-layer slots: top-k plus the tail slot per (layer, seq, KV head).
    if (is_sparse_mode(run.mode)) {
      gpu("kv_working_set", u(m.n_layers) * u(B) * u(run.topk_blocks + 1) * u(sp.block_tokens) * u(kv_tok));
    }
  }
  if (is_sparse_mode(run.mode)) {
    gpu("compressed_keys", u(windows_all) * u(m.n_layers) * u(m.n_kv_heads * m.head_dim) * u(m.dtype_bytes));
    // Scores (fp32) over compressed positions and top-k ids, per (seq, KV head).
    gpu("selection", u(B) * u(m.n_kv_heads) *
                         (u(compressed_windows(max_tokens, sp)) * 4 + u(run.topk_blocks) * 4 * 2));
  }
  // Decode activations: hidden state, residual, normed input, QKVF, attention
  // output, gate/up and SwiGLU output; prefill activations of one chunk.
  const std::int64_t act_row = 3 * m.hidden + (m.n_heads + 3 * m.n_kv_heads) * m.head_dim +
                               m.n_heads * m.head_dim + 3 * m.intermediate;
  const std::int64_t chunk = std::min<std::int64_t>(kPrefillChunkTokens, std::max<std::int64_t>(max_tokens, 1));
  gpu("activations", (u(B) + u(chunk)) * u(act_row) * u(m.dtype_bytes));
  gpu("workspace", kGemmWorkspaceBytes + u(B) * u(m.n_heads) * u(kAttentionSplits) * u(m.head_dim + 2) * 4);
  gpu("logits", u(B) * u(m.vocab) * (u(m.dtype_bytes) + 4));
  return p;
}

void require_fits(const MemoryPlan& plan) {
  if (!plan.fits()) {
    throw MemoryError("the run does not fit in memory:\n" + plan.breakdown());
  }
}

std::int64_t largest_feasible_batch(const config::ModelConfig& m, config::RunConfig run,
                                    const config::HardwareConfig& hw, Mode mode,
                                    std::int64_t context_tokens) {
  run.mode = mode;
  auto fits = [&](std::int64_t b) {
    run.batch = b;
    run.context_tokens.assign(static_cast<std::size_t>(b), context_tokens);
    return plan_memory(m, run, hw).fits();
  };
  if (!fits(1)) return 0;
  std::int64_t lo = 1, hi = 2;
  while (fits(hi)) {
    lo = hi;
    hi *= 2;
    if (hi > (std::int64_t{1} << 24)) return lo;  // guard: absurd capacity
  }
  while (hi - lo > 1) {  // fits(lo), !fits(hi)
    const std::int64_t mid = lo + (hi - lo) / 2;
    (fits(mid) ? lo : hi) = mid;
  }
  return lo;
}

}  // namespace foresight::runtime

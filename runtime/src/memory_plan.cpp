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

std::int64_t blocks_of(std::int64_t tokens, const config::SparseConfig& s) {
  return (tokens + s.block_tokens - 1) / s.block_tokens;
}

constexpr std::uint64_t kGemmWorkspaceBytes = std::uint64_t{32} << 20;  // cuBLAS workspace
constexpr std::int64_t kPrefillChunkTokens = 2048;
constexpr std::int64_t kAttentionSplits = 32;  // split-KV partials per (seq, head)
constexpr Mode kAllModes[] = {Mode::dense, Mode::sparse, Mode::sparse_offload, Mode::sparda_no_prefetch,
                              Mode::sparda, Mode::sparda_no_offload};

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
  // Pinned memory cannot be swapped or reclaimed: leave the OS, the process
  // (host weights while they are made) and the page cache a reserve.
  p.host_capacity_bytes = u(hw.host_mem_bytes) > kHostReserveBytes ? u(hw.host_mem_bytes) - kHostReserveBytes : 0;
  const auto& sp = m.sparse;
  const std::int64_t kv_tok = m.kv_bytes_per_token_layer();
  const std::int64_t B = run.batch;
  auto gpu = [&](std::string c, std::uint64_t b) { p.items.push_back({MemoryLocation::gpu, std::move(c), b}); };
  auto host = [&](std::string c, std::uint64_t b) { p.items.push_back({MemoryLocation::host_pinned, std::move(c), b}); };

  gpu("weights", weight_bytes(m));

  // Tokens each sequence holds at the end of the run, rounded up to blocks.
  // Sequences past the end of context_tokens repeat its last entry; they are
  // counted at once, so a plan costs O(context_tokens.size()), not O(batch).
  std::int64_t kv_tokens_all = 0, windows_all = 0, max_tokens = 0;
  auto add_sequences = [&](std::int64_t ctx, std::int64_t count) {
    if (count <= 0) return;
    const std::int64_t t = ctx + run.decode_steps + run.warmup_steps;
    kv_tokens_all += count * blocks_of(t, sp) * sp.block_tokens;
    windows_all += count * compressed_windows(t, sp);
    max_tokens = std::max(max_tokens, t);
  };
  const auto listed = std::min<std::int64_t>(B, static_cast<std::int64_t>(run.context_tokens.size()));
  for (std::int64_t b = 0; b < listed; ++b) add_sequences(run.context_tokens[static_cast<std::size_t>(b)], 1);
  add_sequences(run.context_tokens.empty() ? 0 : run.context_tokens.back(), B - listed);
  const std::uint64_t kv_seq_layer = u(kv_tokens_all) * u(kv_tok);  // all sequences, one layer
  if (is_offload_mode(run.mode)) {
    // SparDA modes keep layer 0's KV resident on the GPU (layer 0 selects its
    // own blocks with no lookahead); every other layer's full K and V lives in
    // pinned host memory, and the GPU holds per (layer, seq, KV head) `slots`
    // blocks: top-k plus the tail slot, or cache_blocks (which counts the tail).
    const bool layer0_resident = run.mode != Mode::sparse_offload;
    const std::int64_t host_layers = layer0_resident ? m.n_layers - 1 : m.n_layers;
    const std::int64_t slots = std::max(run.cache_blocks, run.topk_blocks + 1);
    // Every layer has slots (layer 0's are filled GPU-to-GPU in the sparda modes).
    gpu("kv_working_set", u(m.n_layers) * u(B) * u(slots) * u(sp.block_tokens) * u(kv_tok));
    if (layer0_resident) gpu("kv_layer0", kv_seq_layer);
    // Real prefill computes one sequence's KV for all layers on the GPU, then
    // copies it to the host: a staging buffer of the longest sequence.
    if (run.prefill == "real") {
      gpu("kv_prefill_staging", u(blocks_of(max_tokens, sp) * sp.block_tokens) * u(host_layers) * u(kv_tok));
    }
    host("kv_full", u(host_layers) * kv_seq_layer);
  } else {
    gpu("kv_full", u(m.n_layers) * kv_seq_layer);
    // sparse / sparda-no-offload gather the selected blocks GPU-to-GPU into
    // per-layer slots: top-k plus the tail slot (or cache_blocks) per (layer, seq, KV head).
    if (is_sparse_mode(run.mode)) {
      const std::int64_t slots = std::max(run.cache_blocks, run.topk_blocks + 1);
      gpu("kv_working_set", u(m.n_layers) * u(B) * u(slots) * u(sp.block_tokens) * u(kv_tok));
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
  run.context_tokens.assign(1, context_tokens);  // every sequence this long; O(1) per plan
  auto fits = [&](std::int64_t b) {
    run.batch = b;
    return plan_memory(m, run, hw).fits();
  };
  if (!fits(1)) return 0;
  // Exponential search for a batch that does not fit, then bisection.
  constexpr std::int64_t kMaxBatch = std::int64_t{1} << 40;  // guard: absurd capacity
  std::int64_t lo = 1, hi = 2;
  while (fits(hi)) {
    lo = hi;
    if (hi >= kMaxBatch) return lo;
    hi *= 2;
  }
  while (hi - lo > 1) {  // fits(lo), !fits(hi)
    const std::int64_t mid = lo + (hi - lo) / 2;
    (fits(mid) ? lo : hi) = mid;
  }
  return lo;
}

std::vector<FeasibilityRow> feasibility_table(const config::ModelConfig& m, const config::RunConfig& run,
                                              const config::HardwareConfig& hw,
                                              std::int64_t context_tokens) {
  std::vector<FeasibilityRow> rows;
  for (Mode mode : kAllModes) {
    FeasibilityRow r{mode, largest_feasible_batch(m, run, hw, mode, context_tokens), 0, 0};
    if (r.largest_batch > 0) {
      config::RunConfig at = run;
      at.mode = mode;
      at.batch = r.largest_batch;
      at.context_tokens.assign(1, context_tokens);
      const MemoryPlan p = plan_memory(m, at, hw);
      r.gpu_bytes = p.gpu_bytes();
      r.host_bytes = p.host_bytes();
    }
    rows.push_back(r);
  }
  return rows;
}

nlohmann::json to_json(const std::vector<FeasibilityRow>& rows) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& r : rows) {
    j.push_back({{"mode", config::to_string(r.mode)},
                 {"largest_batch", r.largest_batch},
                 {"gpu_bytes", r.gpu_bytes},
                 {"host_bytes", r.host_bytes}});
  }
  return j;
}

std::string format_feasibility_table(const std::vector<FeasibilityRow>& rows) {
  constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
  std::string s = fmt::format("{:<20} {:>13} {:>10} {:>15}\n", "mode", "largest batch", "GPU GiB",
                              "pinned host GiB");
  for (const auto& r : rows) {
    if (r.largest_batch == 0) {
      s += fmt::format("{:<20} {:>13} {:>10} {:>15}\n", config::to_string(r.mode), "none fits", "-", "-");
    } else {
      s += fmt::format("{:<20} {:>13} {:>10.2f} {:>15.2f}\n", config::to_string(r.mode), r.largest_batch,
                       static_cast<double>(r.gpu_bytes) / kGiB, static_cast<double>(r.host_bytes) / kGiB);
    }
  }
  return s;
}

}  // namespace foresight::runtime

// GPU / pinned-host footprint of a run (see memory_model.hpp).
#include "foresight/sim/memory_model.hpp"

#include <fmt/core.h>

#include "foresight/sim/cost_model.hpp"
#include "foresight/sim/schedule.hpp"

namespace foresight::sim {

namespace {
constexpr std::uint64_t kGiB = 1ull << 30;
constexpr std::uint64_t kWorkspaceFixed = 256ull << 20;  // cuBLAS workspace + allocator slack (assumption)
}  // namespace

MemoryPlan plan_memory(const config::ModelConfig& m, const config::HardwareConfig& hw,
                       config::Mode mode, std::int64_t batch, std::int64_t max_tokens,
                       std::int64_t cache_blocks) {
  using trace::MemoryLocation;
  const ModeShape ms = mode_shape(mode, config::Prefetch::lookahead);
  const auto dt = static_cast<std::uint64_t>(m.dtype_bytes);
  const auto L = static_cast<std::uint64_t>(m.n_layers);
  const auto T = static_cast<std::uint64_t>(max_tokens);
  const auto B = static_cast<std::uint64_t>(batch);
  const auto nkv = static_cast<std::uint64_t>(m.n_kv_heads);
  const auto hd = static_cast<std::uint64_t>(m.head_dim);
  const auto kv_tok = static_cast<std::uint64_t>(m.kv_bytes_per_token_layer());
  MemoryPlan p;
  auto add = [&](MemoryLocation loc, const char* cat, std::uint64_t bytes) {
    p.entries.push_back({loc, cat, bytes});
    (loc == MemoryLocation::gpu ? p.gpu_bytes : p.host_bytes) += bytes;
  };
  std::uint64_t params = static_cast<std::uint64_t>(m.weight_params());
  if (ms.forecast) params += static_cast<std::uint64_t>(m.forecast_params());
  add(MemoryLocation::gpu, "weights", params * dt);
  if (!ms.kv_on_host) {
    add(MemoryLocation::gpu, "kv_full", L * T * kv_tok);
  } else {
    const std::uint64_t resident_layers = ms.forecast ? 1 : 0;
    const std::uint64_t ws_layers = L - resident_layers;
    add(MemoryLocation::gpu, "kv_working_set",
        ws_layers * B * nkv * static_cast<std::uint64_t>(cache_blocks) *
            static_cast<std::uint64_t>(kv_block_bytes(m)));
    if (resident_layers) add(MemoryLocation::gpu, "kv_layer0", T * kv_tok);
  }
  if (ms.select) {
    const auto stride = static_cast<std::uint64_t>(m.sparse.compress_stride);
    add(MemoryLocation::gpu, "compressed_keys", L * (T / stride) * nkv * hd * dt);
  }
  const auto H = static_cast<std::uint64_t>(m.hidden), I = static_cast<std::uint64_t>(m.intermediate);
  const auto qkvf = (static_cast<std::uint64_t>(m.n_heads) + 3 * nkv) * hd;
  add(MemoryLocation::gpu, "activations",
      B * (4 * H + qkvf + 3 * I) * dt + B * static_cast<std::uint64_t>(m.vocab) * 4);
  std::uint64_t scores = 0;
  if (ms.select) {
    const auto heads = ms.forecast ? nkv : static_cast<std::uint64_t>(m.n_heads);
    scores = (T / static_cast<std::uint64_t>(m.sparse.compress_stride)) * heads * 4 * 2;
  }
  add(MemoryLocation::gpu, "workspace", kWorkspaceFixed + scores);
  // Forecast modes keep layer 0 on the GPU (kv_layer0): L - 1 layers on the host.
  if (ms.kv_on_host) add(MemoryLocation::host_pinned, "kv_full", (ms.forecast ? L - 1 : L) * T * kv_tok);

  const auto gpu_cap = static_cast<std::uint64_t>(hw.gpu_mem_bytes);
  const auto host_cap = static_cast<std::uint64_t>(hw.host_mem_bytes);
  if (gpu_cap > 0 && p.gpu_bytes > gpu_cap) {
    p.fits = false;
    p.reason = fmt::format("GPU memory: needs {:.2f} GiB of {:.2f} GiB", double(p.gpu_bytes) / kGiB,
                           double(gpu_cap) / kGiB);
  } else if (host_cap > 0 && p.host_bytes > host_cap) {
    p.fits = false;
    p.reason = fmt::format("pinned host memory: needs {:.2f} GiB of {:.2f} GiB",
                           double(p.host_bytes) / kGiB, double(host_cap) / kGiB);
  }
  return p;
}

}  // namespace foresight::sim

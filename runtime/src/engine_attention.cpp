// Decode attention (dense, and over the selected blocks' slots) and the end
// of a sparse step: the cache counters and selections read back into pinned memory.
#include <algorithm>
#include <stdexcept>

#include <fmt/core.h>

#include "engine_state.hpp"

namespace foresight::runtime {

namespace st = trace::stage;

namespace {
// Bytes (K and V read) and FLOPs of dense decode attention at a step.
std::pair<std::uint64_t, std::uint64_t> dense_attention_cost(const std::vector<std::int64_t>& ctx, std::int64_t step,
                                                             int nkv, int nh, int hd) {
  std::uint64_t tokens = 0;
  for (auto c : ctx) tokens += static_cast<std::uint64_t>(c + step);
  return {tokens * static_cast<std::uint64_t>(nkv * hd * 4), tokens * static_cast<std::uint64_t>(4 * nh * hd)};
}
}  // namespace

void DecodeEngine::State::patch_dense_attention() {
  const auto [bytes, flops] = dense_attention_cost(ctx, step, nkv, nh, hd);
  for (int h : attention_op) rec.patch(h, bytes, 0, flops);
}

void DecodeEngine::State::dense_attention(int l) {
  const auto lz = static_cast<std::size_t>(l);
  const auto [bytes, flops] = dense_attention_cost(ctx, step, nkv, nh, hd);
  attention_op[lz] = rec.op({st::attention, static_cast<std::int16_t>(l), -1, bytes, flops},
         [&] {
           kernels::DenseDecodeAttentionParams p;
           p.shape.batch = B; p.shape.n_heads = nh; p.shape.kv_heads = nkv; p.shape.head_dim = hd;
           p.q = q.get(); p.k = kv[lz].k; p.v = kv[lz].v; p.seq_len = counts.get();
           p.out = attn.get(); p.max_tokens = max_tokens;
           be.dense_decode_attention(p);
         });
}

void DecodeEngine::State::wait_fetch(int l) {
  if (be.stream_count() < 2) return;  // one stream: the gather ran inline
  OpInfo wi{st::wait_kv, static_cast<std::int16_t>(l), -1, 0, 0, trace::OpKind::wait};
  wi.deps = {gather_op[static_cast<std::size_t>(l)], -1};
  rec.op(wi, [&] { be.wait(done_event(l)); });
}

void DecodeEngine::State::sparse_attention(int l) {
  const auto ls = static_cast<std::int16_t>(l);
  const auto lz = static_cast<std::size_t>(l);
  auto& lk = kv[lz];
  const float l2_ratio = l2_hit_ratio[lz];
  attention_op[lz] = rec.op({st::attention, ls, -1}, [&] {
    if (l2_ratio > 0) be.set_l2_window(lk.slots.get(), lk.slots.bytes(), l2_ratio);
    kernels::SlotListParams sp;
    sp.selected = sel(l); sp.block_map = lk.block_map.get(); sp.tail_block = tail_block.get();
    sp.load_count = lk.load_count.get(); sp.slot_list = slot_list.get(); sp.list_len = list_len.get();
    sp.counters = counters.get() + 3 * lz;
    sp.rows = rows; sp.k = k; sp.n_slots = n_slots; sp.tail_slot = n_slots; sp.list_stride = k + 1;
    be.slot_list(sp);
    kernels::SparseDecodeAttentionParams p;
    p.shape.batch = B; p.shape.n_heads = nh; p.shape.kv_heads = nkv; p.shape.head_dim = hd;
    p.q = q.get(); p.slots_k = lk.slots_k.get(); p.slots_v = lk.slots_v.get();
    p.slot_list = slot_list.get(); p.list_len = list_len.get(); p.tail_tokens = tail_tokens.get();
    p.out = attn.get(); p.slots_per_row = n_slots + 1; p.list_stride = k + 1; p.tail_slot = n_slots;
    p.block_tokens = block;
    be.sparse_decode_attention(p);
    if (l2_ratio > 0) be.set_l2_window(nullptr, 0, 0.0f);
  });
}

ReadbackPool::Buffer ReadbackPool::take(Backend& be, std::size_t count) {
  for (const auto& b : buffers_) {
    if (b.use_count() == 1 && b->size() >= count) return b;
  }
  buffers_.push_back(std::make_shared<HostArray<std::int32_t>>(be, count));
  return buffers_.back();
}

void DecodeEngine::State::enqueue_readback() {
  // The selections are read back only when the trace keeps them (an
  // untraced run's sink does not): at batch 16, 0.4 MB a step of block ids
  // (sparda), 4 MB of token ids (dsa).
  const DeviceArray<std::int32_t>& chosen = dsa ? tok_ids : selected;
  readback_ids = rec.keeps_selections() ? readback_pool.take(be, chosen.size()) : nullptr;
  if (readback_ids) be.device_copy(readback_ids->get(), chosen.get(), chosen.bytes());
  if (dsa) {
    be.device_copy(readback_counts.get(), tok_count.get(), tok_count.bytes());
  } else {
    be.device_copy(readback_counters.get(), counters.get(), counters.bytes());
  }
}

void DecodeEngine::State::finish_step() {
  const std::uint64_t* cnt = readback_counters.get();
  const std::uint64_t block_bytes = static_cast<std::uint64_t>(kernels::kv_block_bytes(block, hd));
  const auto stp = static_cast<std::int32_t>(step);
  std::vector<trace::CacheOutcome> outcomes;
  for (int l = 0; l < L; ++l) {
    const auto lz = static_cast<std::size_t>(l);
    const std::uint64_t selected_n = cnt[3 * lz], loaded = cnt[3 * lz + 1], missing = cnt[3 * lz + 2];
    if (missing != 0) {
      throw std::logic_error(fmt::format("decode step {}, layer {}: {} selected blocks have no GPU slot after the "
                                         "working-set update", step, l, missing));
    }
    rec.patch(gather_op[lz], 2 * loaded * block_bytes, static_cast<std::uint32_t>(loaded));
    rec.patch(attention_op[lz], selected_n * 2 * block_bytes, 0,
              selected_n * static_cast<std::uint64_t>(block) * 4 * static_cast<std::uint64_t>(group * hd));
    trace::CacheOutcome c;
    c.step = stp;
    c.layer = static_cast<std::int16_t>(l);
    c.selected = selected_n;
    c.misses = loaded;
    c.hits = selected_n - std::min(selected_n, loaded);
    c.loaded_bytes = 2 * loaded * block_bytes;
    outcomes.push_back(c);
    if (stp < o.warmup_steps) continue;  // warm-up: in the trace, not in the totals
    totals.selected += c.selected;
    totals.hits += c.hits;
    totals.misses += c.misses;
    totals.loaded_bytes += c.loaded_bytes;
    if (kv[lz].on_host) totals.h2d_bytes += c.loaded_bytes;
  }
  // Writing the selections and outcomes to the trace waits until the next
  // step runs on the device (Recorder::after_step), possibly after this
  // engine is gone: the work holds only the recorder and values.
  // The selections (when kept) go with it in their pinned buffer.
  rec.after_step([&r = rec, stp, rows_n = rows, kvh = nkv, kk = k, chosen = std::move(readback_ids),
                  outcomes = std::move(outcomes)] {
    for (std::size_t lz = 0; lz < outcomes.size(); ++lz) {
      for (int row = 0; row < rows_n && chosen; ++row) {
        const std::size_t at = (lz * static_cast<std::size_t>(rows_n) + static_cast<std::size_t>(row)) * kk;
        r.selection(stp, static_cast<std::int16_t>(lz), row / kvh, static_cast<std::uint16_t>(row % kvh),
                    std::span<const std::int32_t>(chosen->get() + at, static_cast<std::size_t>(kk)));
      }
      r.cache(outcomes[lz]);
    }
  });
  // A replayed graph records the same ops with the same handles every step;
  // eager steps assign them again.
  if (!graph_ready[static_cast<std::size_t>(step % Backend::kGraphSlots)]) {
    std::fill(gather_op.begin(), gather_op.end(), -1);
    std::fill(attention_op.begin(), attention_op.end(), -1);
    std::fill(ws_op.begin(), ws_op.end(), -1);
  }
}

}  // namespace foresight::runtime

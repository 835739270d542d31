// Decode-step block selection and attention (dense and over selected blocks).
#include <algorithm>

#include "engine_state.hpp"

namespace foresight::runtime {

namespace st = trace::stage;

void DecodeEngine::State::select_into(int l, bool by_forecast, const bf16* sel, std::int64_t sel_stride,
                                      const DeviceArray<std::int32_t>& ncomp, std::int32_t* out) {
  const auto ls = static_cast<std::int16_t>(l);
  const auto lz = static_cast<std::size_t>(l);
  const std::uint64_t heads = static_cast<std::uint64_t>(by_forecast ? nkv : nh);
  const std::uint64_t kc_elems = static_cast<std::uint64_t>(B) * max_comp * nkv * hd;
  rec.op({st::score, ls, -1, 2 * kc_elems, 2 * kc_elems * heads / static_cast<std::uint64_t>(nkv)}, [&] {
    kernels::BlockScoreParams p;
    p.sel = sel; p.kc = kc[lz].get(); p.n_comp = ncomp.get(); p.scores = scores.get();
    p.batch = B; p.kv_heads = nkv; p.n_heads = nh; p.head_dim = hd;
    p.max_comp = static_cast<int>(max_comp); p.sel_batch_stride = sel_stride;
    p.kc_batch_stride = static_cast<std::int64_t>(kc_seq_stride());
    if (by_forecast) {
      be.block_score_forecast(p);
    } else {
      be.block_score_query_group(p);
    }
  });
  rec.op({st::pool_topk, ls, -1, static_cast<std::uint64_t>(B) * nkv * (4 * max_comp + 4 * k)}, [&] {
    kernels::BlockSelectParams p;
    p.scores = scores.get(); p.n_comp = ncomp.get(); p.n_blocks = n_blocks.get(); p.selected = out;
    p.batch = B; p.kv_heads = nkv; p.max_comp = static_cast<int>(max_comp);
    p.max_blocks = static_cast<int>(max_blocks); p.k = k;
    p.sink_blocks = static_cast<int>(m.sparse.sink_blocks);
    p.local_blocks = static_cast<int>(std::max<std::int64_t>(m.sparse.window_blocks, 1));
    p.pool_kernel = static_cast<int>(m.sparse.pool_kernel);
    p.pool_stride = static_cast<int>(m.sparse.pool_stride);
    p.pool_padding = static_cast<int>(m.sparse.pool_padding);
    be.block_select(p);
  });
}

void DecodeEngine::State::count_recall(int l) {
  const auto lz = static_cast<std::size_t>(l);
  select_into(l, false, qkvf.get() + q_off, R, n_comp, query_selected.get());
  const std::size_t n = static_cast<std::size_t>(B) * nkv * k;
  std::vector<std::int32_t> qs(n), fs(n);
  query_selected.download(qs.data(), n);
  selected[lz].download(fs.data(), n);
  const std::int64_t sink = m.sparse.sink_blocks, local = std::max<std::int64_t>(m.sparse.window_blocks, 1);
  for (int b = 0; b < B; ++b) {
    const std::int64_t nb = (ctx[static_cast<std::size_t>(b)] + step + block - 1) / block;
    for (int g = 0; g < nkv; ++g) {
      const std::size_t row = static_cast<std::size_t>(b * nkv + g) * k;
      for (int j = 0; j < k; ++j) {
        const std::int32_t id = qs[row + static_cast<std::size_t>(j)];
        if (id < 0 || id < sink || id >= nb - local) continue;  // forced blocks do not count
        ++recall[lz].query_blocks;
        const auto* f = fs.data() + row;
        if (std::find(f, f + k, id) != f + k) ++recall[lz].matched;
      }
    }
  }
}

void DecodeEngine::State::select_blocks(int l, bool by_forecast, const bf16* sel, std::int64_t sel_stride,
                                        const DeviceArray<std::int32_t>& ncomp) {
  const auto ls = static_cast<std::int16_t>(l);
  const auto lz = static_cast<std::size_t>(l);
  select_into(l, by_forecast, sel, sel_stride, ncomp, selected[lz].get());
  const std::size_t n = static_cast<std::size_t>(B) * nkv * k;
  std::vector<std::int32_t> chosen(n);
  if (o.selections) {  // the kernels ran; the external source decides
    rec.op({st::host, ls}, [&] {
      for (int b = 0; b < B; ++b) {
        const std::int64_t nb = (ctx[static_cast<std::size_t>(b)] + step + block - 1) / block;
        for (int g = 0; g < nkv; ++g) {
          o.selections->get(static_cast<std::int32_t>(step), l, b, g, nb,
                            std::span<std::int32_t>(chosen.data() + static_cast<std::size_t>(b * nkv + g) * k,
                                                    static_cast<std::size_t>(k)));
        }
      }
      selected[lz].upload(chosen.data(), n);
    });
  } else {
    selected[lz].download(chosen.data(), n);
  }
  for (int b = 0; b < B; ++b) {
    for (int g = 0; g < nkv; ++g) {
      rec.selection(static_cast<std::int32_t>(step), ls, b, static_cast<std::uint16_t>(g),
                    std::span<const std::int32_t>(chosen.data() + static_cast<std::size_t>(b * nkv + g) * k,
                                                  static_cast<std::size_t>(k)));
    }
  }
}

namespace {
// q [B, n_heads*head_dim] contiguous from the QKVF rows.
void gather_q(Backend& be, bf16* q, const bf16* qkvf, int B, int R, int q_elems) {
  for (int b = 0; b < B; ++b) {
    be.device_copy(q + static_cast<std::size_t>(b) * q_elems, qkvf + static_cast<std::size_t>(b) * R,
                   static_cast<std::size_t>(q_elems) * sizeof(bf16));
  }
}
}  // namespace

void DecodeEngine::State::dense_attention(int l) {
  const auto lz = static_cast<std::size_t>(l);
  std::uint64_t tokens = 0;
  for (auto c : ctx) tokens += static_cast<std::uint64_t>(c + step);
  rec.op({st::attention, static_cast<std::int16_t>(l), -1, tokens * nkv * hd * 4,
          tokens * static_cast<std::uint64_t>(4 * nh * hd)},
         [&] {
           gather_q(be, q.get(), qkvf.get(), B, R, nh * hd);
           kernels::DenseDecodeAttentionParams p;
           p.shape.batch = B; p.shape.n_heads = nh; p.shape.kv_heads = nkv; p.shape.head_dim = hd;
           p.q = q.get(); p.k = k_store[lz].get(); p.v = v_store[lz].get(); p.seq_len = counts.get();
           p.out = attn.get(); p.max_tokens = max_tokens;
           be.dense_decode_attention(p);
         });
}

void DecodeEngine::State::sparse_attention(int l) {
  const auto ls = static_cast<std::int16_t>(l);
  const auto lz = static_cast<std::size_t>(l);
  const int rows = B * nkv;
  const auto rz = static_cast<std::size_t>(rows);
  std::vector<std::int32_t> loads(rz);
  rec.op({st::ws_update, ls, -1, static_cast<std::uint64_t>(rows) * k * 16}, [&] {
    tail_block_dev.upload(tail_block[lz].data(), rz);
    kernels::WorkingSetParams p;
    p.block_map = block_map[lz].get(); p.selected = selected[lz].get(); p.tail_block = tail_block_dev.get();
    p.load_block = load_block.get(); p.load_slot = load_slot.get(); p.load_count = load_count.get();
    p.rows = rows; p.n_slots = k; p.k = k; p.step = step;
    be.working_set_update(p);
    load_count.download(loads.data(), rz);
  });
  std::uint64_t loaded = 0;
  for (auto c : loads) loaded += static_cast<std::uint64_t>(c);
  const std::uint64_t block_bytes = static_cast<std::uint64_t>(kernels::kv_block_bytes(block, hd));
  rec.op({st::d2d_gather, ls, -1, 2 * loaded * block_bytes, 0, trace::OpKind::d2d, trace::Engine::none,
          static_cast<std::uint32_t>(loaded)},
         [&] {
           kernels::KvGatherParams p;
           p.store_k = k_store[lz].get(); p.store_v = v_store[lz].get();
           p.slots_k = slots_k[lz].get(); p.slots_v = slots_v[lz].get();
           p.load_block = load_block.get(); p.load_slot = load_slot.get(); p.load_count = load_count.get();
           p.rows = rows; p.kv_heads = nkv; p.list_stride = k; p.slots_per_row = k + 1;
           p.max_blocks = max_blocks; p.block_tokens = block; p.head_dim = hd;
           be.kv_gather(p);
         });
  // Slot list per row: the regular slot of every selected block, the tail
  // slot (index k) for the current block.
  std::vector<std::int32_t> sel(rz * k), map(rz * k), list(rz * (k + 1), -1), len(rz, 0);
  std::uint64_t selected_n = 0;
  rec.op({st::host, ls}, [&] {
    selected[lz].download(sel.data(), sel.size());
    block_map[lz].download(map.data(), map.size());
    for (std::size_t r = 0; r < rz; ++r) {
      for (int j = 0; j < k; ++j) {
        const std::int32_t id = sel[r * k + static_cast<std::size_t>(j)];
        if (id < 0) continue;
        ++selected_n;
        std::int32_t slot = -1;
        if (id == tail_block[lz][r]) {
          slot = k;
        } else {
          const auto* row = map.data() + r * k;
          const auto* it = std::find(row, row + k, id);
          if (it != row + k) slot = static_cast<std::int32_t>(it - row);
        }
        if (slot < 0) throw std::logic_error("selected block has no slot after the working-set update");
        list[r * (k + 1) + static_cast<std::size_t>(len[r]++)] = slot;
      }
    }
    slot_list.upload(list.data(), list.size());
    list_len.upload(len.data(), len.size());
  });
  rec.op({st::attention, ls, -1, selected_n * 2 * block_bytes,
          selected_n * static_cast<std::uint64_t>(block) * 4 * group * hd},
         [&] {
           gather_q(be, q.get(), qkvf.get(), B, R, nh * hd);
           kernels::SparseDecodeAttentionParams p;
           p.shape.batch = B; p.shape.n_heads = nh; p.shape.kv_heads = nkv; p.shape.head_dim = hd;
           p.q = q.get(); p.slots_k = slots_k[lz].get(); p.slots_v = slots_v[lz].get();
           p.slot_list = slot_list.get(); p.list_len = list_len.get(); p.tail_tokens = tail_tokens.get();
           p.out = attn.get(); p.slots_per_row = k + 1; p.list_stride = k + 1; p.tail_slot = k;
           p.block_tokens = block;
           be.sparse_decode_attention(p);
         });
  trace::CacheOutcome c;
  c.step = static_cast<std::int32_t>(step);
  c.layer = ls;
  c.selected = selected_n;
  c.misses = loaded;
  c.hits = selected_n - loaded;
  c.loaded_bytes = 2 * loaded * block_bytes;
  rec.cache(c);
  totals.selected += c.selected;
  totals.hits += c.hits;
  totals.misses += c.misses;
  totals.loaded_bytes += c.loaded_bytes;
}

}  // namespace foresight::runtime

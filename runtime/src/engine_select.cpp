// Decode-step block selection, the working-set update and the fetch of the
// missing blocks (inline, or on the side stream for sparda's prefetch).
#include <algorithm>

#include "engine_state.hpp"

namespace foresight::runtime {

namespace st = trace::stage;

void DecodeEngine::State::select_into(int l, bool by_forecast, const bf16* sel_ptr, std::int64_t sel_stride,
                                      const DeviceArray<std::int32_t>& ncomp, std::int32_t* out) {
  const auto ls = static_cast<std::int16_t>(l);
  const auto lz = static_cast<std::size_t>(l);
  const std::uint64_t heads = static_cast<std::uint64_t>(by_forecast ? nkv : nh);
  const std::uint64_t kc_elems = static_cast<std::uint64_t>(B) * max_comp * nkv * hd;
  rec.op({st::score, ls, -1, 2 * kc_elems, 2 * kc_elems * heads / static_cast<std::uint64_t>(nkv)}, [&] {
    kernels::BlockScoreParams p;
    p.sel = sel_ptr; p.kc = kv[lz].kc.get(); p.n_comp = ncomp.get(); p.scores = scores.get();
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

void DecodeEngine::State::select_blocks(int l, bool by_forecast, const bf16* sel_ptr, std::int64_t sel_stride,
                                        const DeviceArray<std::int32_t>& ncomp) {
  select_into(l, by_forecast, sel_ptr, sel_stride, ncomp, sel(l));
  if (o.selections) {  // the kernels ran; the external source decides (uploaded at step start)
    const std::size_t n = static_cast<std::size_t>(rows) * k;
    be.device_copy(sel(l), ext_selected.get() + static_cast<std::size_t>(l) * n, n * sizeof(std::int32_t));
    rec.boundary();
  }
}

void DecodeEngine::State::count_recall(int l) {
  const auto lz = static_cast<std::size_t>(l);
  select_into(l, false, qkvf.get() + q_off, R, n_comp, query_selected.get());
  const std::size_t n = static_cast<std::size_t>(rows) * k;
  std::vector<std::int32_t> qs(n), fs(n);
  query_selected.download(qs.data(), n);
  be.to_host(fs.data(), sel(l), n * sizeof(std::int32_t));
  rec.boundary();
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

int DecodeEngine::State::update_working_set(int l) {
  auto& lk = kv[static_cast<std::size_t>(l)];
  return rec.op({st::ws_update, static_cast<std::int16_t>(l), -1, static_cast<std::uint64_t>(rows) * n_slots * 16}, [&] {
    kernels::WorkingSetParams p;
    p.block_map = lk.block_map.get(); p.last_used = lru ? lk.last_used.get() : nullptr;
    p.selected = sel(l); p.tail_block = tail_block.get();
    p.load_block = lk.load_block.get(); p.load_slot = lk.load_slot.get(); p.load_count = lk.load_count.get();
    p.rows = rows; p.n_slots = n_slots; p.k = k; p.step = step;
    be.working_set_update(p);
  });
}

void DecodeEngine::State::fetch(int l, int ws, bool side) {
  const auto lz = static_cast<std::size_t>(l);
  auto& lk = kv[lz];
  const auto ls = static_cast<std::int16_t>(l);
  const bool host = lk.on_host;
  const int ctas = host ? gather_ctas : 128;  // GPU-to-GPU copies want the whole GPU
  const bool bulk = host && config::bulk_copy_gather(o.kernels);
  OpInfo info{host ? st::h2d_gather : st::d2d_gather, ls, -1, 0, 0,
                     host ? trace::OpKind::h2d : trace::OpKind::d2d,
                     host ? trace::host_gather_engine(o.kernels) : trace::Engine::none, 0,
                     static_cast<std::uint16_t>(host ? ctas : 0)};
  if (side) {
    be.record(ready_event(l));  // after the working-set update on main
    be.set_stream(1);
    be.wait(ready_event(l));
    rec.boundary();
    info.stream = 1;
    info.deps = {ws, -1};
  }
  gather_op[lz] = rec.op(info, [&] {
    kernels::KvGatherParams p;
    p.store_k = lk.k; p.store_v = lk.v;
    p.slots_k = lk.slots_k.get(); p.slots_v = lk.slots_v.get();
    p.load_block = lk.load_block.get(); p.load_slot = lk.load_slot.get(); p.load_count = lk.load_count.get();
    p.rows = rows; p.kv_heads = nkv; p.list_stride = n_slots; p.slots_per_row = n_slots + 1;
    p.max_blocks = max_blocks; p.block_tokens = block; p.head_dim = hd; p.n_ctas = ctas;
    if (bulk) p.path = kernels::GatherPath::bulk_copy, p.bulk_stages = static_cast<int>(o.kernels.gather_stages);
    be.kv_gather(p);
  });
  if (side) {
    be.record(done_event(l));
    be.set_stream(0);
  }
}

}  // namespace foresight::runtime

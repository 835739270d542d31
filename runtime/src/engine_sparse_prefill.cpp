// Dynamic sparse prefill (issue #18; config/sparse_prefill.hpp): per layer,
// the last queries' attention masses on the device, a pattern per query head
// chosen on the host for the run's target recall and lowered to tile lists,
// then block-sparse attention over those tiles. One chunk per sequence.
#include <algorithm>
#include <stdexcept>

#include "engine_state.hpp"
#include "foresight/config/sparse_prefill.hpp"

namespace foresight::runtime {

namespace st = trace::stage;

static_assert(config::kSparsePrefillBlock == kernels::kSparsePrefillBlock,
              "the contract's tile size is the kernels' block");
static_assert(config::kSparsePrefillEstimateTilesPerSplit == kernels::kSparsePrefillEstimateTilesPerSplit,
              "the contract's estimate scratch follows the kernel's key splits");

SparsePrefillBuffers::SparsePrefillBuffers(Backend& be, int n_heads, std::int64_t tokens) {
  const auto nh = static_cast<std::size_t>(n_heads), T = static_cast<std::size_t>(std::max<std::int64_t>(tokens, 1));
  const auto Q = static_cast<std::size_t>(config::prefill_query_blocks(static_cast<std::int64_t>(T)));
  key_mass = DeviceArray<float>(be, nh * T);
  offset_mass = DeviceArray<float>(be, nh * T);
  block_mass = DeviceArray<float>(be, nh * Q);
  row_stats = DeviceArray<float>(be, static_cast<std::size_t>(config::prefill_estimate_scratch_floats(
                                         n_heads, static_cast<std::int64_t>(T))));
  tile_offsets = DeviceArray<std::int64_t>(be, nh * Q + 1);
  column_offsets = DeviceArray<std::int64_t>(be, nh + 1);
  tiles = DeviceArray<std::int32_t>(be, nh * Q * (Q + 1) / 2);
  columns = DeviceArray<std::int32_t>(be, nh * T);
  rules = DeviceArray<kernels::SparseHeadRule>(be, nh);
  column_bits = DeviceArray<std::uint64_t>(be, nh * Q);
  slash_bits = DeviceArray<std::uint64_t>(be, nh * Q);
}

namespace {
template <class T>
void upload_into(DeviceArray<T>& dst, const std::vector<T>& src, const char* what) {
  if (src.size() > dst.size())
    throw std::logic_error(std::string("sparse prefill: the layout's ") + what + " outgrew its buffer");
  if (!src.empty()) dst.upload(src.data(), src.size());
}

// The record of one head's choice (trace::PrefillPattern's parameters).
trace::PrefillPattern pattern_record(const kernels::SparsePrefillChoice& c, std::int64_t tokens) {
  trace::PrefillPattern r;
  r.kind = static_cast<std::uint8_t>(c.pattern.kind);
  r.tokens = tokens;
  switch (c.pattern.kind) {
    case kernels::SparsePatternKind::triangular:
      r.param_a = c.pattern.triangular.sink_tokens;
      r.param_b = c.pattern.triangular.local_tokens;
      break;
    case kernels::SparsePatternKind::interval_slash:
      r.param_a = static_cast<std::int64_t>(c.pattern.interval_slash.columns.size());
      r.param_b = static_cast<std::int64_t>(c.pattern.interval_slash.slashes.size());
      break;
    case kernels::SparsePatternKind::block_cluster:
      r.param_a = c.pattern.block_cluster.local_blocks;
      r.param_b = static_cast<std::int64_t>(c.pattern.block_cluster.key_blocks.size());
      break;
  }
  r.tiles = static_cast<std::uint64_t>(c.blocks);
  r.dense_tiles = static_cast<std::uint64_t>(config::dense_prefill_tiles(tokens));
  r.full = r.tiles >= r.dense_tiles ? 1 : 0;
  r.recall = std::clamp(c.recall, 0.0, 1.0);
  return r;
}
}  // namespace

kernels::SparsePrefillLayoutView DecodeEngine::State::upload_layout(const kernels::SparsePrefillLayout& l) {
  auto& sp = *sparse_prefill;
  upload_into(sp.tile_offsets, l.tile_offsets, "tile offsets");
  upload_into(sp.tiles, l.tiles, "tiles");
  upload_into(sp.rules, l.rules, "rules");
  upload_into(sp.column_offsets, l.column_offsets, "column offsets");
  upload_into(sp.columns, l.columns, "columns");
  upload_into(sp.column_bits, l.column_bits, "column bits");
  upload_into(sp.slash_bits, l.slash_bits, "slash bits");
  kernels::SparsePrefillLayoutView v;
  v.q_blocks = l.q_blocks;
  v.words = l.words;
  v.tile_offsets = sp.tile_offsets.get();
  v.tiles = sp.tiles.get();
  v.rules = sp.rules.get();
  v.column_offsets = sp.column_offsets.get();
  v.columns = sp.columns.get();
  v.column_bits = sp.column_bits.get();
  v.slash_bits = sp.slash_bits.get();
  return v;
}

void DecodeEngine::State::prefill_attention_sparse(int l, int b, int c, const bf16* kd, const bf16* vd, int seq) {
  auto& sp = *sparse_prefill;
  const auto ls = static_cast<std::int16_t>(l);
  const std::int64_t T = c;
  const std::int64_t Q = config::prefill_query_blocks(T);
  const int n_last = static_cast<int>(std::min<std::int64_t>(config::kSparsePrefillQueries, T));
  const auto gT = static_cast<std::size_t>(group) * static_cast<std::size_t>(T);
  const auto gQ = static_cast<std::size_t>(group) * static_cast<std::size_t>(Q);

  const config::PrefillOpCost est = config::prefill_estimate_cost(m, T);
  rec.op({st::prefill_estimate, ls, b, est.bytes, est.flops}, [&] {
    for (int g = 0; g < nkv; ++g)
      be.sparse_prefill_estimate(prefill_head_params(g, c, kd, vd, seq), n_last, sp.key_mass.get() + g * gT,
                                 sp.offset_mass.get() + g * gT, sp.block_mass.get() + g * gQ, sp.row_stats.get());
  });

  // Host: masses down, a pattern per head, tile lists up. The GPU waits.
  std::vector<kernels::SparsePrefillChoice> choices;
  kernels::SparsePrefillLayoutView view;
  std::uint64_t tiles = 0;
  const int choose_op = rec.op({st::prefill_choose, ls, b, 0, 0, trace::OpKind::host}, [&] {
    auto& e = sp.estimate;
    e.n_heads = nh; e.tokens = T; e.n_last = n_last;
    e.key_mass.resize(static_cast<std::size_t>(nh) * static_cast<std::size_t>(T));
    e.offset_mass.resize(e.key_mass.size());
    e.block_offset_mass.resize(static_cast<std::size_t>(nh) * static_cast<std::size_t>(Q));
    sp.key_mass.download(e.key_mass.data(), e.key_mass.size());
    sp.offset_mass.download(e.offset_mass.data(), e.offset_mass.size());
    sp.block_mass.download(e.block_offset_mass.data(), e.block_offset_mass.size());
    choices = kernels::choose_sparse_prefill(e, o.prefill_recall, config::prefill_pattern_kinds(o.prefill_attention));
    std::vector<kernels::HeadPattern> patterns;
    patterns.reserve(choices.size());
    for (const auto& ch : choices) patterns.push_back(ch.pattern);
    const kernels::SparsePrefillLayout layout = kernels::lower_sparse_prefill(patterns, T);
    tiles = static_cast<std::uint64_t>(layout.blocks_computed());
    view = upload_layout(layout);
  });
  const config::PrefillOpCost ch = config::prefill_choose_cost(m, T, tiles);
  rec.patch(choose_op, ch.bytes, 0, ch.flops);

  const config::PrefillOpCost att = config::prefill_sparse_attention_cost(m, T, tiles);
  rec.op({st::prefill_sparse_attention, ls, b, att.bytes, att.flops}, [&] {
    for (int g = 0; g < nkv; ++g) {
      const std::size_t h0 = static_cast<std::size_t>(g) * group;  // the group's heads of the layout
      kernels::SparsePrefillLayoutView v = view;
      v.rules += h0;
      v.column_offsets += h0;
      v.column_bits += h0 * static_cast<std::size_t>(v.words);
      v.slash_bits += h0 * static_cast<std::size_t>(v.words);
      v.tile_offsets += h0 * static_cast<std::size_t>(v.q_blocks);
      be.sparse_prefill({prefill_head_params(g, c, kd, vd, seq), v});
    }
  });
  for (std::size_t h = 0; h < choices.size(); ++h) {
    trace::PrefillPattern r = pattern_record(choices[h], T);
    r.seq = b;
    r.layer = ls;
    r.head = static_cast<std::uint16_t>(h);
    rec.prefill_pattern(r);
  }
}

}  // namespace foresight::runtime

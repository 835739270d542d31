// DecodeEngine's device buffers and host mirrors (internal to runtime/src).
#pragma once

#include <array>
#include <memory>
#include <vector>

#include "foresight/config/decode_plan.hpp"
#include "foresight/config/l2_windows.hpp"
#include "foresight/runtime/device_weights.hpp"
#include "foresight/runtime/engine.hpp"
#include "foresight/trace/stages.hpp"

namespace foresight::runtime {

// Pinned buffers that a step's read-backs land in: a stream-ordered copy into
// pinned memory (Backend::device_copy, waited for by the token download) is
// several times faster than a synchronous one into pageable memory, and a
// reused buffer costs no page faults. A buffer of selections stays with its
// step's trace work (Recorder::after_step) until that has run, so take()
// hands out only a buffer that nothing else holds.
class ReadbackPool {
 public:
  using Buffer = std::shared_ptr<HostArray<std::int32_t>>;
  Buffer take(Backend& be, std::size_t count);  // `count` int32 elements or more

 private:
  std::vector<Buffer> buffers_;
};

// One layer's KV: the full store (GPU, or pinned host memory in the offload
// modes) and, in the sparse modes, compressed keys and the GPU working set.
struct LayerKv {
  bf16* k = nullptr;  // store [B, nkv, max_tokens, hd] (device-accessible)
  bf16* v = nullptr;
  bool on_host = false;
  DeviceArray<bf16> dk, dv;      // the store when on the GPU
  HostArray<bf16> hk, hv;        // the store when offloaded
  DeviceArray<bf16> stage_k, stage_v;  // offloaded, real prefill: one sequence [nkv, max_tokens, hd]
  DeviceArray<bf16> kc, ring;    // [B, max_comp, nkv, hd], [B, ck, nkv, hd]
  DeviceArray<std::int32_t> block_map, load_block, load_slot, load_count;  // [rows, n_slots], ..., [rows]
  DeviceArray<std::int64_t> last_used;  // [rows, n_slots] (LRU variant only)
  DeviceArray<bf16> slots;              // K slots then V slots (one range: one L2 window)
  DeviceSpan<bf16> slots_k, slots_v;    // [B, nkv, n_slots + 1, block, hd]; slot n_slots = tail
  DeviceArray<bf16> ik;                 // DSA: indexer keys [B, max_tokens, idim] (GPU)
};

// Dynamic sparse prefill's buffers (engine_sparse_prefill.cpp), sized for the
// longest prompt T (Q = ceil(T / 64) query blocks) and reused by every layer:
// the estimate's masses on the device and their host copies, and the
// lowered layout (config::prefill_sparse_bytes counts the same).
struct SparsePrefillBuffers {
  SparsePrefillBuffers(Backend& be, int n_heads, std::int64_t tokens);
  // [nh, T], [nh, T], [nh, Q]; row_stats: the GPU estimate's scratch (config::prefill_estimate_scratch_floats)
  DeviceArray<float> key_mass, offset_mass, block_mass, row_stats;
  DeviceArray<std::int64_t> tile_offsets, column_offsets;          // [nh Q + 1], [nh + 1]
  DeviceArray<std::int32_t> tiles, columns;                        // [nh Q (Q + 1) / 2], [nh T]
  DeviceArray<kernels::SparseHeadRule> rules;                      // [nh]
  DeviceArray<std::uint64_t> column_bits, slash_bits;              // [nh Q] each
  kernels::SparsePrefillEstimate estimate;                         // host copy of the masses
};

struct DecodeEngine::State {
  State(const config::ModelConfig& model, const DeviceWeights& w, Recorder& recorder, EngineOptions options);

  const config::ModelConfig& m;
  const DeviceWeights& w;
  Backend& be;
  Recorder& rec;
  EngineOptions o;
  std::unique_ptr<DeviceWeights> owned;  // when constructed from host Weights

  // Shapes.
  int B = 0, H = 0, nh = 0, nkv = 0, hd = 0, I = 0, V = 0, R = 0, L = 0, group = 0, rows = 0;
  int q_off = 0, k_off = 0, v_off = 0, f_off = 0;  // column offsets in a QKVF row
  int block = 64, ck = 32, cs = 16, k = 0, n_slots = 0, act_rows = 0, gather_ctas = 16;
  std::int64_t max_tokens = 0, max_blocks = 0, max_comp = 0;
  bool sparse = false;            // selects blocks
  bool forecast_selects = false;  // sparda modes: layer l-1's Forecast selects layer l
  bool prefetch = false;          // sparda: offloaded layers are fetched on the side stream
  bool lru = false;               // cache_blocks > topk
  bool use_graph = false;         // replay decode steps as a CUDA graph
  // DSA (engine_dsa.cpp): an indexer of ih heads of idim scores every cached
  // token; the top kt tokens of each sequence are gathered and attended.
  bool dsa = false;
  int ih = 0, idim = 0, idx_rows = 0, kt = 0;  // idx_rows: queries | key | head weights, padded to 8
  std::array<bool, Backend::kGraphSlots> graph_ready{};  // per graph slot

  // Activations, act_rows = max(batch, prefill chunk) rows.
  DeviceArray<float> inv_freq;
  DeviceArray<bf16> x, xn, qkvf, q, attn, gate_up, act, logits, sel_q, k_tmp;
  DeviceArray<std::int32_t> ids, pos, counts, n_comp, n_comp_prev, n_blocks, out_ids, tail_tokens, tail_block;

  std::vector<LayerKv> kv;
  std::vector<config::L2Window> l2_windows;  // the L2 reservation's windows (run --l2-reserve)
  std::vector<float> l2_hit_ratio;           // per layer; 0: no window
  DeviceArray<float> scores;                      // [rows, max_comp]
  DeviceArray<std::int32_t> selected;             // [L, rows, k]
  DeviceArray<std::int32_t> ext_selected;         // [L, rows, k] external selections of the step
  std::vector<std::int32_t> ext_all;              // [steps, L, rows, k] on the host
  DeviceArray<std::int32_t> slot_list, list_len;  // [rows, k + 1], [rows]
  DeviceArray<std::uint64_t> counters;            // [L, 3] (slot_list.hpp)
  DeviceArray<std::int32_t> query_selected;       // [rows, k] recall scratch
  std::vector<DeviceArray<bf16>> idx_w;           // DSA, per layer [idx_rows, H] (synthetic)
  DeviceArray<bf16> idx_out;                      // [act_rows, idx_rows]
  DeviceArray<float> tok_scores;                  // [B, max_tokens]
  DeviceArray<std::int32_t> tok_ids, tok_count;   // [L, B, kt], [L, B]
  DeviceArray<bf16> gathered;                     // K [B, nkv, kt, hd], then V
  // Read-backs of the step (enqueue_readback): selections ([L, rows, k]) or
  // token ids ([L, B, kt]) when the trace keeps them, else null; the
  // counters ([L, 3]) or token counts ([L, B]).
  ReadbackPool readback_pool;
  ReadbackPool::Buffer readback_ids;
  HostArray<std::uint64_t> readback_counters;
  HostArray<std::int32_t> readback_counts;

  // Host state.
  std::vector<std::int64_t> ctx;
  std::vector<std::vector<std::int32_t>> prompts;
  bool prefill_interrupted = false;  // EngineOptions::stop was seen during prefill
  // Whether EngineOptions::stop asks to stop (a signal handler sets it).
  bool stop_requested() const { return o.stop && o.stop->load(std::memory_order_relaxed); }
  std::int64_t prefilled = 0, prompt_total = 0;  // prompt tokens through real prefill so far, of all sequences' (progress)
  std::vector<std::int32_t> last_tokens;
  std::int64_t step = 0, last_step_ns = 0, pin_ns = 0;
  CacheTotals totals;
  std::vector<RecallCounts> recall;  // per layer, measure_recall
  // Ops of the current step whose bytes are known after it ran.
  std::vector<int> gather_op, attention_op, ws_op;  // per layer, -1 none
  std::vector<int> index_op;                        // DSA: per layer, the index_score op
  std::vector<std::vector<config::LayerStep>> plan;  // per layer: config::decode_layer_plan
  config::PrefillOffload prefill_offload = config::PrefillOffload::none;  // config::prefill_offload
  std::unique_ptr<SparsePrefillBuffers> sparse_prefill;                  // sparse prefill attention only

  // Helpers.
  std::int32_t* sel(int l) const { return selected.get() + static_cast<std::size_t>(l) * rows * k; }
  std::size_t store_offset(int b, int g, std::int64_t token) const {
    return ((static_cast<std::size_t>(b) * nkv + g) * static_cast<std::size_t>(max_tokens) +
            static_cast<std::size_t>(token)) * hd;
  }
  std::size_t kc_seq_stride() const { return static_cast<std::size_t>(max_comp) * nkv * hd; }
  std::size_t slot_offset(int b, int g, int slot) const {
    return ((static_cast<std::size_t>(b) * nkv + g) * (n_slots + 1) + slot) * static_cast<std::size_t>(block) * hd;
  }
  std::int64_t comp_count(std::int64_t tokens) const { return kernels::compressed_key_count(tokens, ck, cs); }
  bool offloaded(int l) const { return kv[static_cast<std::size_t>(l)].on_host; }
  static int ready_event(int l) { return 2 * l; }
  static int done_event(int l) { return 2 * l + 1; }
  int prefill_event(int which) const { return 2 * L + which; }

  void allocate_kv();
  void setup_l2();  // the L2 reservation's set-aside and windows (after allocate_kv)
  void setup_l2_tokens();  // dsa: windows over the first layers' KV stores (engine_dsa.cpp)
  void layer_front(int l, int rows);  // rmsnorm, QKVF GEMM
  void o_proj(int l, int rows);       // O proj + residual
  void mlp(int l, int rows);          // RMSNorm, gate/up, SwiGLU, down + residual
  void rope_append(int l);            // decode: RoPE + the new token's K/V to store and tail slot
  void compress(int l);               // decode: the new key into the compressed keys
  void self_project();                // layer 0 of a Forecast mode: its selector's query
  void select(int l, int target);     // while layer l runs: select layer `target`, update its working set
  void wait_fetch(int l);             // main waits for layer l's side-stream gather (one stream: nothing)
  void select_blocks(int l, bool by_forecast, const bf16* sel, std::int64_t sel_stride,
                     const DeviceArray<std::int32_t>& ncomp);  // into sel(l) (+ external override)
  void select_into(int l, bool by_forecast, const bf16* sel, std::int64_t sel_stride,
                   const DeviceArray<std::int32_t>& ncomp, std::int32_t* out);  // score + pool/top-k
  int update_working_set(int l);      // ws_update op; returns its handle
  void fetch(int l, int ws_op, bool side);  // gather the misses: on the side stream or inline on main
  void count_recall(int l);           // query's own selection vs sel(l)
  void sparse_attention(int l);
  void dense_attention(int l);
  // DSA (engine_dsa.cpp).
  void allocate_dsa();               // indexer weights, keys and selection buffers (after allocate_kv)
  void project_indexer(int l, int rows);  // inside the qkvf_gemm op: idx_out = xn W_idx^T
  void append_indexer_key(int l, int rows, int first_seq, bool one_sequence);  // idx_out's keys into kv[l].ik
  void index_select(int l);          // index_score + token_topk ops
  void token_gather(int l);
  void token_attention(int l);
  void patch_dsa_ops();              // a replayed step's byte counts (they grow per step)
  void finish_dsa_step();            // records the read-back token selections and the gathers
  void synth_indexer_keys(int l, int b, std::int64_t tokens);  // synthetic prefill
  void decode_layer(int l);
  void step_body();                  // the device work of one decode step (embed .. argmax)
  void capture_graphs();             // both graph slots, after step 0
  void patch_dense_attention();      // a replayed step's attention bytes (they grow per step)
  void stage_external_selections();   // fills ext_all (before decode)
  void enqueue_readback();            // selections (or token ids) and counters into pinned memory
  void finish_step();                 // checks and records the read-back counters and selections
  void compress_prefill(int l, int b, std::int64_t tokens, const bf16* k_seq, std::int64_t k_token_stride,
                        std::int64_t k_head_stride);
  void init_tail_slots();
  std::int64_t run_prefill_real(int b, std::int32_t& chunk_index);
  void prefill_layer(int l, int b, std::int64_t s0, int c);  // layer l of tokens [s0, s0 + c) of sequence b
  void prefill_attention(int l, int b, std::int64_t s0, int c, const bf16* kd, const bf16* vd, int seq);
  // Dynamic sparse prefill of layer l over sequence b's whole prompt of c tokens.
  void prefill_attention_sparse(int l, int b, int c, const bf16* kd, const bf16* vd, int seq);
  kernels::PrefillAttentionParams prefill_head_params(int g, int c, const bf16* kd, const bf16* vd, int seq) const;
  kernels::SparsePrefillLayoutView upload_layout(const kernels::SparsePrefillLayout& layout);
  std::int64_t run_prefill_synthetic(std::int32_t& chunk_index);
};

}  // namespace foresight::runtime

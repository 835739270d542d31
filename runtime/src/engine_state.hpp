// DecodeEngine's device buffers and host mirrors (internal to runtime/src).
#pragma once

#include <vector>

#include "foresight/runtime/engine.hpp"
#include "foresight/trace/stages.hpp"

namespace foresight::runtime {

struct DeviceLayer {
  DeviceArray<bf16> attn_norm, wqkvf, wo, ffn_norm, w_gate_up, w_down;
};

struct DecodeEngine::State {
  State(const config::ModelConfig& model, const Weights& w, Backend& backend, Recorder& recorder,
        EngineOptions options);

  const config::ModelConfig& m;
  Backend& be;
  Recorder& rec;
  EngineOptions o;

  // Shapes.
  int B = 0, H = 0, nh = 0, nkv = 0, hd = 0, I = 0, V = 0, R = 0, L = 0, group = 0;
  int q_off = 0, k_off = 0, v_off = 0, f_off = 0;  // column offsets in a QKVF row
  int block = 64, ck = 32, cs = 16, k = 0, act_rows = 0;
  std::int64_t max_tokens = 0, max_blocks = 0, max_comp = 0;
  bool sparse = false;            // selects blocks (sparse, sparda-no-offload)
  bool forecast_selects = false;  // sparda-no-offload: layer l-1's Forecast selects layer l

  // Weights.
  std::vector<DeviceLayer> wl;
  DeviceArray<bf16> embed, final_norm, lm_head, selector;
  const bf16* lm_head_ptr = nullptr;
  DeviceArray<float> inv_freq;

  // Activations, act_rows = max(batch, prefill chunk) rows.
  DeviceArray<bf16> x, xn, qkvf, q, attn, tmp, gate_up, act, logits, sel_q, k_tmp;
  DeviceArray<std::int32_t> ids, pos, counts, n_comp, n_comp_prev, n_blocks, out_ids;

  // KV per layer.
  std::vector<DeviceArray<bf16>> k_store, v_store, kc, ring;

  // Sparse modes, per layer where noted.
  DeviceArray<float> scores;                          // [B, nkv, max_comp]
  std::vector<DeviceArray<std::int32_t>> selected;    // per layer [B, nkv, k]
  std::vector<DeviceArray<std::int32_t>> block_map;   // per layer [B*nkv, k]
  std::vector<DeviceArray<bf16>> slots_k, slots_v;    // per layer [B, nkv, k+1, block, hd]
  std::vector<std::vector<std::int32_t>> tail_block;  // per layer [B*nkv], block in the tail slot
  DeviceArray<std::int32_t> tail_block_dev, load_block, load_slot, load_count, slot_list, list_len, tail_tokens;

  // Host state.
  std::vector<std::int64_t> ctx;
  std::vector<std::vector<std::int32_t>> prompts;
  std::vector<std::int32_t> last_tokens;
  std::int64_t step = 0, last_step_ns = 0;
  CacheTotals totals;
  std::vector<RecallCounts> recall;                   // per layer, measure_recall
  DeviceArray<std::int32_t> query_selected;           // [B, nkv, k] scratch

  // Helpers.
  std::size_t store_offset(int b, int g, std::int64_t token) const {
    return ((static_cast<std::size_t>(b) * nkv + g) * static_cast<std::size_t>(max_tokens) +
            static_cast<std::size_t>(token)) * hd;
  }
  std::size_t kc_seq_stride() const { return static_cast<std::size_t>(max_comp) * nkv * hd; }
  std::size_t slot_offset(int b, int g, int slot) const {
    return ((static_cast<std::size_t>(b) * nkv + g) * (k + 1) + slot) * static_cast<std::size_t>(block) * hd;
  }
  std::int64_t comp_count(std::int64_t tokens) const {
    return kernels::compressed_key_count(tokens, ck, cs);
  }

  // One layer of the transformer over `rows` rows whose attention has been
  // computed into `attn` by `attend` (prefill and decode share the rest).
  void layer_front(int l, int rows);                // rmsnorm, QKVF GEMM
  void layer_back(int l, int rows);                 // O proj, residual, MLP, residual
  void write_kv_token(int l, int b, std::int64_t token, const bf16* k_row, const bf16* v_row);
  void compress_prefill(int l, int b, std::int64_t tokens);
  void select_blocks(int l, bool by_forecast, const bf16* sel, std::int64_t sel_stride,
                     const DeviceArray<std::int32_t>& ncomp);  // into selected[l]
  void select_into(int l, bool by_forecast, const bf16* sel, std::int64_t sel_stride,
                   const DeviceArray<std::int32_t>& ncomp, std::int32_t* out);  // score + pool/top-k
  void count_recall(int l);  // query's own selection vs selected[l]
  void sparse_attention(int l);
  void dense_attention(int l);
  void decode_layer(int l);
  void run_prefill_real(int b, std::int32_t& chunk_index);
  void run_prefill_synthetic(std::int32_t& chunk_index);
};

}  // namespace foresight::runtime

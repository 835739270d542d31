// Shared by the CPU references and the CUDA launchers of the dense ops:
// checks a params struct (throwing std::invalid_argument that names the op and
// the field) and returns a copy with the "0 means contiguous" strides resolved.
#pragma once

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "foresight/kernels/argmax.hpp"
#include "foresight/kernels/embedding.hpp"
#include "foresight/kernels/gemm.hpp"
#include "foresight/kernels/key_compress.hpp"
#include "foresight/kernels/prefill_attention.hpp"
#include "foresight/kernels/residual_add.hpp"
#include "foresight/kernels/rmsnorm.hpp"
#include "foresight/kernels/rope.hpp"
#include "foresight/kernels/swiglu.hpp"

namespace foresight::kernels::detail {

inline void require(bool ok, const char* op, const std::string& what) {
  if (!ok) throw std::invalid_argument(std::string(op) + ": " + what);
}
inline std::int64_t or_default(std::int64_t v, std::int64_t dflt) { return v == 0 ? dflt : v; }

inline RmsNormParams validated(RmsNormParams p) {
  require(p.rows >= 0 && p.hidden > 0, "rmsnorm", "rows must be >= 0 and hidden > 0");
  require(p.rows == 0 || (p.x && p.weight && p.y), "rmsnorm", "x, weight and y must be set");
  require(p.eps >= 0.f, "rmsnorm", "eps must be >= 0");
  p.x_row_stride = or_default(p.x_row_stride, p.hidden);
  p.y_row_stride = or_default(p.y_row_stride, p.hidden);
  require(p.x_row_stride >= p.hidden && p.y_row_stride >= p.hidden, "rmsnorm",
          "row strides must be >= hidden");
  return p;
}

inline ResidualAddParams validated(ResidualAddParams p) {
  require(p.n >= 0, "residual_add", "n must be >= 0");
  require(p.n == 0 || (p.a && p.b && p.out), "residual_add", "a, b and out must be set");
  return p;
}

inline EmbeddingParams validated(EmbeddingParams p) {
  require(p.batch >= 0 && p.vocab > 0 && p.hidden > 0, "embedding",
          "batch must be >= 0, vocab and hidden > 0");
  require(p.batch == 0 || (p.token_ids && p.table && p.out), "embedding",
          "token_ids, table and out must be set");
  return p;
}

inline SwigluParams validated(SwigluParams p) {
  require(p.rows >= 0 && p.inter > 0, "swiglu", "rows must be >= 0 and inter > 0");
  require(p.rows == 0 || (p.gate_up && p.out), "swiglu", "gate_up and out must be set");
  return p;
}

inline ArgmaxParams validated(ArgmaxParams p) {
  require(p.rows >= 0 && p.vocab > 0, "argmax", "rows must be >= 0 and vocab > 0");
  require(p.rows == 0 || (p.logits && p.out), "argmax", "logits and out must be set");
  p.row_stride = or_default(p.row_stride, p.vocab);
  require(p.row_stride >= p.vocab, "argmax", "row_stride must be >= vocab");
  return p;
}

inline RopeParams validated(RopeParams p) {
  require(p.batch >= 0 && p.n_heads >= 0 && p.n_kv_heads >= 0, "rope",
          "batch and head counts must be >= 0");
  require(p.head_dim > 0 && p.head_dim % 2 == 0, "rope", "head_dim must be even and > 0");
  require(p.batch == 0 || (p.positions && p.inv_freq), "rope", "positions and inv_freq must be set");
  require(p.batch == 0 || p.n_heads == 0 || p.q, "rope", "q must be set when n_heads > 0");
  require(p.batch == 0 || p.n_kv_heads == 0 || p.k, "rope", "k must be set when n_kv_heads > 0");
  p.q_batch_stride = or_default(p.q_batch_stride, std::int64_t{p.n_heads} * p.head_dim);
  p.k_batch_stride = or_default(p.k_batch_stride, std::int64_t{p.n_kv_heads} * p.head_dim);
  p.f_batch_stride = or_default(p.f_batch_stride, std::int64_t{p.n_kv_heads} * p.head_dim);
  return p;
}

inline GemmParams validated(GemmParams p) {
  require(p.rows >= 0 && p.in > 0 && p.out > 0, "gemm", "rows must be >= 0, in and out > 0");
  require(p.rows == 0 || (p.x && p.w && p.y), "gemm", "x, w and y must be set");
  p.ldx = or_default(p.ldx, p.in);
  p.ldw = or_default(p.ldw, p.in);
  p.ldy = or_default(p.ldy, p.out);
  require(p.ldx >= p.in && p.ldw >= p.in && p.ldy >= p.out, "gemm",
          "leading dimensions must be >= the row length");
  return p;
}

inline KeyCompressPrefillParams validated(KeyCompressPrefillParams p) {
  require(p.kernel > 0 && p.stride > 0, "key_compress_prefill", "kernel and stride must be > 0");
  require(p.tokens >= 0 && p.first_window >= 0 && p.kv_heads > 0 && p.head_dim > 0,
          "key_compress_prefill", "tokens/first_window >= 0, kv_heads and head_dim > 0");
  p.k_token_stride = or_default(p.k_token_stride, std::int64_t{p.kv_heads} * p.head_dim);
  require(compressed_key_count(p.tokens, p.kernel, p.stride) <= p.first_window || (p.k && p.kc),
          "key_compress_prefill", "k and kc must be set");
  require(!p.ring || p.tokens == 0 || p.k, "key_compress_prefill", "k must be set to fill the ring");
  return p;
}

inline KeyCompressDecodeParams validated(KeyCompressDecodeParams p) {
  require(p.kernel > 0 && p.stride > 0, "key_compress_decode", "kernel and stride must be > 0");
  require(p.batch >= 0 && p.kv_heads > 0 && p.head_dim > 0, "key_compress_decode",
          "batch >= 0, kv_heads and head_dim > 0");
  require(p.batch == 0 || (p.ring && p.kc && p.token_counts), "key_compress_decode",
          "ring, kc and token_counts must be set");
  p.k_new_batch_stride = or_default(p.k_new_batch_stride, std::int64_t{p.kv_heads} * p.head_dim);
  require(p.batch <= 1 || p.kc_batch_stride >= std::int64_t{p.kv_heads} * p.head_dim,
          "key_compress_decode", "kc_batch_stride must hold at least one window");
  return p;
}

inline PrefillAttentionParams validated(PrefillAttentionParams p) {
  const char* op = "prefill_attention";
  require(p.start >= 0 && p.chunk >= 0, op, "start and chunk must be >= 0");
  require(p.n_heads > 0 && p.n_kv_heads > 0 && p.head_dim > 0, op,
          "n_heads, n_kv_heads and head_dim must be > 0");
  require(p.n_heads % p.n_kv_heads == 0, op, "n_kv_heads must divide n_heads");
  require(p.chunk == 0 || (p.q && p.k && p.v && p.o), op, "q, k, v and o must be set");
  require(p.scale >= 0.f, op, "scale must be >= 0 (0 means 1/sqrt(head_dim))");
  if (p.scale == 0.f) p.scale = 1.f / std::sqrt(static_cast<float>(p.head_dim));
  p.q_token_stride = or_default(p.q_token_stride, std::int64_t{p.n_heads} * p.head_dim);
  p.o_token_stride = or_default(p.o_token_stride, std::int64_t{p.n_heads} * p.head_dim);
  p.kv_token_stride = or_default(p.kv_token_stride, std::int64_t{p.n_kv_heads} * p.head_dim);
  return p;
}

}  // namespace foresight::kernels::detail

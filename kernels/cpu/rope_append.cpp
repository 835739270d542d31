// CPU reference of the fused decode rope + q gather + K/V append (see
// foresight/kernels/rope_append.hpp): the three reference steps in order.
#include "foresight/kernels/rope_append.hpp"

#include <cstring>
#include <stdexcept>
#include <string>

#include "dense_validate.hpp"

namespace foresight::kernels {

void validate_rope_append(const RopeAppendParams& p) {
  const char* op = "rope_append";
  RopeParams r;
  try {  // each part on its own, its message prefixed with this op
    r = detail::validated(p.rope);
    validate_kv_append(p.append);
  } catch (const std::invalid_argument& e) {
    throw std::invalid_argument(std::string(op) + ": " + e.what());
  }
  const KvAppendParams& a = p.append;
  require_param(r.batch > 0, op, "rope.batch", "must be > 0");
  require_param(a.rows == r.batch, op, "append.rows", "must equal rope.batch (one row per sequence)");
  require_param(!a.one_sequence, op, "append.one_sequence", "must be false (decode: row i is sequence first_seq + i)");
  require_param(a.positions == r.positions, op, "append.positions", "must be the same array as rope.positions");
  require_param(a.kv_heads == r.n_kv_heads, op, "append.kv_heads", "must equal rope.n_kv_heads");
  require_param(a.head_dim == r.head_dim, op, "append.head_dim", "must equal rope.head_dim");
  require_param(a.src + a.k_offset == r.k, op, "append.src",
                "+ append.k_offset must be rope.k (the append copies the rotated K)");
  require_param(a.src_row_stride == r.k_batch_stride, op, "append.src_row_stride",
                "must equal rope.k_batch_stride (the same QKVF rows)");
}

void rope_append_cpu(const RopeAppendParams& p) {
  validate_rope_append(p);
  const RopeParams r = detail::validated(p.rope);
  const KvAppendParams& a = p.append;
  for (int b = 0; b < r.batch; ++b) {  // before anything is written
    require_param(r.positions[b] >= 0, "rope_append", "positions[b]", "must be >= 0");
    require_param(!a.store_k || r.positions[b] < a.max_tokens, "rope_append", "positions[b]",
                  "must be < append.max_tokens");
  }
  rope_cpu(r);
  if (p.q_out && r.n_heads > 0) {
    const std::int64_t q_elems = std::int64_t{r.n_heads} * r.head_dim;
    for (int b = 0; b < r.batch; ++b)
      std::memcpy(p.q_out + b * q_elems, r.q + b * r.q_batch_stride, static_cast<std::size_t>(q_elems) * sizeof(bf16));
  }
  kv_append_cpu(a);
}

}  // namespace foresight::kernels

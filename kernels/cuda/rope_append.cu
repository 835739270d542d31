// CUDA fused decode rope + q gather + K/V append (see rope_append.hpp).
//
// Fast path, one launch: grid (batch, slices); CTA (b, y) handles work items
// [y * kThreads, (y + 1) * kThreads) of row b, one item per thread. Items:
// first every (head, 8-pair chunk) of the row's q, k and f heads (the
// rotation, done exactly as rope_vec_kernel in rope.cu: same angle, accurate
// sincosf through shared memory, same expressions, two 16-byte loads and
// stores), then every 16-byte vector of the row's V heads. A rotated q chunk
// also goes to q_out, a rotated K chunk to the store and the tail slot, a V
// vector to the store and the tail slot, with kv_append_kernel's rules (store
// only for 0 <= pos < max_tokens, slot for pos >= 0, tail_block for pos >= 0).
// Fallback (rows not 16-byte vectors): rope_cuda, cudaMemcpy2DAsync of q and
// kv_append_cuda, which is what the fast path must equal bit for bit.
#include "foresight/kernels/rope_append.hpp"

#include "../cpu/dense_validate.hpp"
#include "dense_cuda_util.cuh"
#include "foresight/kernels/cuda_check.hpp"

namespace foresight::kernels {
namespace {
using namespace cuda_detail;

constexpr int kThreads = 128;

__device__ __forceinline__ void store_vec(bf16* dst, const Vec8& v) { *reinterpret_cast<Vec8*>(dst) = v; }

// Shared: half cosines, then half sines of row blockIdx.x's angles.
__global__ void __launch_bounds__(kThreads)
    rope_append_kernel(RopeParams r, KvAppendParams a, bf16* q_out, int n_f_heads) {
  extern __shared__ float cs[];
  const int half = r.head_dim / 2, chunks = half / 8;
  const int rot_items = (r.n_heads + r.n_kv_heads + n_f_heads) * chunks;
  const int v_items = a.kv_heads * (a.head_dim / 8);
  const std::int64_t b = blockIdx.x;
  const int first = static_cast<int>(blockIdx.y) * kThreads;
  const std::int32_t pos_i = r.positions[b];
  float* cos_t = cs;
  float* sin_t = cs + half;
  if (first < rot_items) {  // block-uniform
    for (int i = threadIdx.x; i < half; i += kThreads) {
      const float ang = __fmul_rn(static_cast<float>(pos_i), r.inv_freq[i]);  // as rope.cu and the CPU
      sincosf(ang, &sin_t[i], &cos_t[i]);  // accurate version: angles reach ~1e5 rad at 128K context
    }
  }
  __syncthreads();

  const std::int64_t pos = pos_i;
  const bool write_store = a.store_k != nullptr && pos >= 0 && pos < a.max_tokens;
  const bool write_slot = a.slots_k != nullptr && pos >= 0;
  const std::int64_t seq = std::int64_t{a.first_seq} + b;
  const std::int64_t slot_tok = pos % a.block_tokens;
  if (blockIdx.y == 0 && a.tail_block && pos >= 0)
    for (int g = threadIdx.x; g < a.kv_heads; g += kThreads)
      a.tail_block[seq * a.kv_heads + g] = static_cast<std::int32_t>(pos / a.block_tokens);

  const int item = first + static_cast<int>(threadIdx.x);
  if (item >= rot_items + v_items) return;
  if (item >= rot_items) {  // a V vector: copied as is
    const int vi = item - rot_items, per_head = a.head_dim / 8;
    const int g = vi / per_head, e = (vi % per_head) * 8;
    const Vec8 x = *reinterpret_cast<const Vec8*>(a.src + b * a.src_row_stride + a.v_offset +
                                                  std::int64_t{g} * a.head_dim + e);
    const std::int64_t head_row = seq * a.kv_heads + g;
    if (write_store) store_vec(a.store_v + (head_row * a.max_tokens + pos) * a.head_dim + e, x);
    if (write_slot)
      store_vec(a.slots_v + ((head_row * a.slots_per_row + a.tail_slot) * a.block_tokens + slot_tok) * a.head_dim + e,
                x);
    return;
  }

  const int head = item / chunks, c = item % chunks;
  bf16* x;
  if (head < r.n_heads) {
    x = r.q + b * r.q_batch_stride + std::int64_t{head} * r.head_dim;
  } else if (head < r.n_heads + r.n_kv_heads) {
    x = r.k + b * r.k_batch_stride + std::int64_t{head - r.n_heads} * r.head_dim;
  } else {
    x = r.f + b * r.f_batch_stride + std::int64_t{head - r.n_heads - r.n_kv_heads} * r.head_dim;
  }
  Vec8* lo_p = reinterpret_cast<Vec8*>(x + 8 * c);
  Vec8* hi_p = reinterpret_cast<Vec8*>(x + half + 8 * c);
  float x0[8], x1[8], y0[8], y1[8];
  unpack(*lo_p, x0);
  unpack(*hi_p, x1);
  const float* cr = cos_t + 8 * c;
  const float* sr = sin_t + 8 * c;
#pragma unroll
  for (int i = 0; i < 8; ++i) {  // the expressions of rope_vec_kernel (same contraction)
    y0[i] = x0[i] * cr[i] - x1[i] * sr[i];
    y1[i] = x1[i] * cr[i] + x0[i] * sr[i];
  }
  const Vec8 lo = pack(y0), hi = pack(y1);
  *lo_p = lo;
  *hi_p = hi;
  if (head < r.n_heads) {
    if (q_out) {
      bf16* dst = q_out + (b * r.n_heads + head) * std::int64_t{r.head_dim} + 8 * c;
      store_vec(dst, lo);
      store_vec(dst + half, hi);
    }
  } else if (head < r.n_heads + r.n_kv_heads) {
    const int g = head - r.n_heads;
    const std::int64_t head_row = seq * a.kv_heads + g;
    if (write_store) {
      bf16* dst = a.store_k + (head_row * a.max_tokens + pos) * a.head_dim + 8 * c;
      store_vec(dst, lo);
      store_vec(dst + half, hi);
    }
    if (write_slot) {
      bf16* dst =
          a.slots_k + ((head_row * a.slots_per_row + a.tail_slot) * a.block_tokens + slot_tok) * a.head_dim + 8 * c;
      store_vec(dst, lo);
      store_vec(dst + half, hi);
    }
  }
}

bool fast_path_ok(const RopeParams& r, const KvAppendParams& a, const bf16* q_out) {
  const int half = r.head_dim / 2;
  return half % 8 == 0 && aligned16(r.q) && aligned16(r.k) && (!r.f || aligned16(r.f)) && r.q_batch_stride % 8 == 0 &&
         r.k_batch_stride % 8 == 0 && (!r.f || r.f_batch_stride % 8 == 0) && aligned16(a.src) &&
         a.src_row_stride % 8 == 0 && a.k_offset % 8 == 0 && a.v_offset % 8 == 0 && aligned16(q_out) &&
         aligned16(a.store_k) && aligned16(a.store_v) && aligned16(a.slots_k) && aligned16(a.slots_v);
}

}  // namespace

void rope_append_cuda(const RopeAppendParams& p, cudaStream_t stream) {
  validate_rope_append(p);
  const RopeParams r = detail::validated(p.rope);
  detail::require(r.head_dim <= 2048, "rope_append", "CUDA launcher supports head_dim <= 2048");
  if (!fast_path_ok(r, p.append, p.q_out)) {
    rope_cuda(r, stream);
    if (p.q_out && r.n_heads > 0) {
      const std::size_t q_bytes = static_cast<std::size_t>(r.n_heads) * r.head_dim * sizeof(bf16);
      FORESIGHT_CUDA_CHECK(cudaMemcpy2DAsync(p.q_out, q_bytes, r.q, static_cast<std::size_t>(r.q_batch_stride) * sizeof(bf16),
                                             q_bytes, static_cast<std::size_t>(r.batch), cudaMemcpyDefault, stream));
    }
    kv_append_cuda(p.append, stream);
    return;
  }
  const int n_f_heads = r.f ? r.n_kv_heads : 0;
  const int chunks = r.head_dim / 16;
  const int items = (r.n_heads + r.n_kv_heads + n_f_heads) * chunks + p.append.kv_heads * (p.append.head_dim / 8);
  const dim3 grid(static_cast<unsigned>(r.batch), static_cast<unsigned>((items + kThreads - 1) / kThreads));
  const std::size_t smem = sizeof(float) * r.head_dim;  // half cosines + half sines
  rope_append_kernel<<<grid, kThreads, smem, stream>>>(r, p.append, p.q_out, n_f_heads);
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

}  // namespace foresight::kernels

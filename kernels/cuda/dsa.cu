// CUDA DSA indexer, token selection and token gather (see dsa.hpp).
//
// indexer_score: a stream over the keys. G = head_dim / 8 lanes score one
// token, each lane one 16-byte slice of the key against its slice of every
// head's query (held in registers), then the G lanes sum per head
// (shuffles), apply ReLU and the weights. kUnroll key loads are in flight
// per thread before any arithmetic.
//
// token_select: a radix select of the topk-th largest key over the whole
// sequence, spread over chunks of kTokenSelectChunk tokens (many CTAs per
// sequence, so batch 1 at 128K tokens fills the GPU). Three histogram passes
// (key bits 31..21, 20..10, 9..0): each CTA adds its chunk's histogram of the
// keys that still match the known prefix into a global histogram; the last
// CTA of the sequence to arrive finds the digit holding the k-th key and
// updates the prefix. Then per chunk counts of keys above / equal to the
// threshold, and a write pass that places every selected token at its rank
// in id order (ties at the threshold go to the lowest ids), so ids come out
// sorted with no sort.
//
// token_gather: one CTA per kGatherTokens selected tokens copies their K and
// V rows (kv_heads * head_dim each) with 16-byte loads, kUnroll in flight per
// thread, which also keeps PCIe busy when the store is mapped host memory.
#include "foresight/kernels/dsa.hpp"

#include <climits>

#include "foresight/kernels/cuda_check.hpp"
#include "sparse_util.cuh"

namespace foresight::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int kUnroll = 4;

// ---- indexer_score ----

constexpr int kScoreIterations = 2;  // CTA covers kScoreIterations * kUnroll * (kThreads / G) tokens

template <int G, int H>  // G lanes per token (head_dim = 8 G), up to H heads
__global__ void __launch_bounds__(kThreads) indexer_score_kernel(IndexerScoreParams p, std::int64_t k_stride) {
  constexpr int kSlots = kThreads / G;  // tokens per load round of the CTA
  const int b = blockIdx.y, sub = threadIdx.x % G, slot = threadIdx.x / G;
  float q[H][8], w[H];
#pragma unroll
  for (int h = 0; h < H; ++h) {
    if (h < p.heads) {
      detail::bf16x8_to_float(
          *reinterpret_cast<const uint4*>(p.q + b * indexer_q_stride(p) + h * (8 * G) + 8 * sub), q[h]);
      w[h] = bf16_to_float(p.w[b * indexer_w_stride(p) + h]);
    } else {
#pragma unroll
      for (int i = 0; i < 8; ++i) q[h][i] = 0.f;
      w[h] = 0.f;
    }
  }
  const int n = min(max(p.n_tokens[b], 0), p.max_tokens);
  const bf16* keys = p.k + b * k_stride + 8 * sub;
  float* out = p.scores + std::int64_t{b} * p.max_tokens;
  const int begin = blockIdx.x * (kScoreIterations * kUnroll * kSlots);
  // Uniform trip count over the CTA: every lane reaches the shuffles.
#pragma unroll 1
  for (int it = 0; it < kScoreIterations; ++it) {
    const int base = begin + it * kUnroll * kSlots + slot;
    uint4 kv[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int t = base + u * kSlots;
      kv[u] = t < n ? __ldg(reinterpret_cast<const uint4*>(keys + std::int64_t{t} * (8 * G))) : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int t = base + u * kSlots;
      float k[8];
      detail::bf16x8_to_float(kv[u], k);
      float s = 0.f;
#pragma unroll
      for (int h = 0; h < H; ++h) {
        float d = 0.f;
#pragma unroll
        for (int i = 0; i < 8; ++i) d += q[h][i] * k[i];
#pragma unroll
        for (int o = G / 2; o > 0; o >>= 1) d += __shfl_xor_sync(0xffffffffu, d, o, G);
        s += w[h] * fmaxf(d, 0.f);
      }
      if (sub == 0 && t < p.max_tokens) out[t] = t < n ? s : -INFINITY;
    }
  }
}

template <int G>
void launch_indexer_score(const IndexerScoreParams& p, std::int64_t k_stride, cudaStream_t stream) {
  constexpr int kTokensPerCta = kScoreIterations * kUnroll * (kThreads / G);
  const dim3 grid((p.max_tokens + kTokensPerCta - 1) / kTokensPerCta, p.batch);
  if (p.heads <= 4)
    indexer_score_kernel<G, 4><<<grid, kThreads, 0, stream>>>(p, k_stride);
  else
    indexer_score_kernel<G, 16><<<grid, kThreads, 0, stream>>>(p, k_stride);
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

// ---- token_select ----

constexpr int kBins = 2048;
constexpr int kCounter = kBins, kPrefix = kBins + 1, kAbove = kBins + 2;  // state words after the histogram
static_assert(kTokenSelectStateWords >= kBins + 3, "state words");
static_assert(kTokenSelectChunk % kThreads == 0, "chunk");
constexpr int kPerThread = kTokenSelectChunk / kThreads;  // contiguous tokens per thread in the write pass

struct SelectRow {
  const float* scores;
  int n, take;
  std::uint32_t* state;  // [kTokenSelectStateWords]
};

__device__ __forceinline__ SelectRow select_row(const TokenSelectParams& p, std::uint32_t* ws) {
  const int b = blockIdx.y;
  const int n = min(max(p.n_tokens[b], 0), p.max_tokens);
  return {p.scores + std::int64_t{b} * p.max_tokens, n, min(p.topk, n), ws + std::int64_t{b} * kTokenSelectStateWords};
}

__device__ __forceinline__ std::uint32_t key_at(const TokenSelectParams& p, const SelectRow& r, int t) {
  return token_select_key(r.scores[t], t < p.sink_tokens || t >= r.n - p.local_tokens);
}

// One radix pass over key bits [shift, shift + bits). grid (chunks, batch).
__global__ void __launch_bounds__(kThreads) select_hist_kernel(TokenSelectParams p, std::uint32_t* ws, int shift,
                                                               int bits) {
  __shared__ unsigned hist[kBins];
  __shared__ int scan_scratch[33];
  __shared__ bool s_last;
  const SelectRow r = select_row(p, ws);
  if (r.take == r.n) return;  // everything is selected: no threshold (uniform over the sequence's CTAs)
  const int nbins = 1 << bits;
  for (int i = threadIdx.x; i < nbins; i += kThreads) hist[i] = 0;
  __syncthreads();
  const std::uint32_t prefix = r.state[kPrefix];
  const std::uint32_t hi_mask = shift + bits >= 32 ? 0u : ~0u << (shift + bits);
  const int lo = blockIdx.x * kTokenSelectChunk, hi = min(lo + kTokenSelectChunk, r.n);
  for (int t = lo + threadIdx.x; t < hi; t += kThreads) {
    const std::uint32_t key = key_at(p, r, t);
    if ((key & hi_mask) == prefix) atomicAdd(&hist[(key >> shift) & (nbins - 1)], 1u);
  }
  __syncthreads();
  for (int i = threadIdx.x; i < nbins; i += kThreads)
    if (hist[i]) atomicAdd(&r.state[i], hist[i]);
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) s_last = atomicAdd(&r.state[kCounter], 1u) == gridDim.x - 1;
  __syncthreads();
  if (!s_last) return;
  __threadfence();
  // Last CTA: thread i owns digits nbins-1-per*i .. nbins-per*i (descending).
  const int per = nbins / kThreads;  // 8 or 4
  const unsigned need = static_cast<unsigned>(r.take) - r.state[kAbove];
  unsigned c[kBins / kThreads], sum = 0;
#pragma unroll
  for (int j = 0; j < kBins / kThreads; ++j) {
    c[j] = j < per ? __ldcg(&r.state[nbins - 1 - (per * threadIdx.x + j)]) : 0u;
    sum += c[j];
  }
  const std::uint32_t above = r.state[kAbove];
  int total = 0;
  const unsigned before =
      static_cast<unsigned>(detail::block_exclusive_scan(static_cast<int>(sum), scan_scratch, &total));
  if (before < need && need <= before + sum) {
    unsigned acc = before;
#pragma unroll
    for (int j = 0; j < kBins / kThreads; ++j) {
      if (acc < need && need <= acc + c[j]) {
        r.state[kPrefix] = prefix | (static_cast<std::uint32_t>(nbins - 1 - (per * threadIdx.x + j)) << shift);
        r.state[kAbove] = above + acc;
      }
      acc += c[j];
    }
  }
  for (int i = threadIdx.x; i < kBins; i += kThreads) r.state[i] = 0;  // ready for the next pass
  if (threadIdx.x == 0) r.state[kCounter] = 0;
}

// Per chunk: keys above and equal to the threshold. grid (chunks, batch).
__global__ void __launch_bounds__(kThreads) select_count_kernel(TokenSelectParams p, std::uint32_t* ws,
                                                                std::uint32_t* counts, int chunks) {
  __shared__ int scan_scratch[33];
  const SelectRow r = select_row(p, ws);
  if (r.take == r.n) return;
  const std::uint32_t kth = r.state[kPrefix];
  const int lo = blockIdx.x * kTokenSelectChunk, hi = min(lo + kTokenSelectChunk, r.n);
  int gt = 0, eq = 0;
  for (int t = lo + threadIdx.x; t < hi; t += kThreads) {
    const std::uint32_t key = key_at(p, r, t);
    gt += key > kth;
    eq += key == kth;
  }
  int gt_total = 0, eq_total = 0;
  detail::block_exclusive_scan(gt, scan_scratch, &gt_total);
  detail::block_exclusive_scan(eq, scan_scratch, &eq_total);
  if (threadIdx.x == 0) {
    std::uint32_t* dst = counts + (std::int64_t{blockIdx.y} * chunks + blockIdx.x) * 2;
    dst[0] = static_cast<std::uint32_t>(gt_total);
    dst[1] = static_cast<std::uint32_t>(eq_total);
  }
}

// Writes every selected token of the chunk at its rank in id order; CTA 0
// also writes the -1 tail and count. grid (chunks, batch).
__global__ void __launch_bounds__(kThreads) select_write_kernel(TokenSelectParams p, std::uint32_t* ws,
                                                                const std::uint32_t* counts, int chunks) {
  __shared__ int scan_scratch[33];
  const SelectRow r = select_row(p, ws);
  std::int32_t* ids = p.ids + std::int64_t{blockIdx.y} * p.topk;
  const int lo = blockIdx.x * kTokenSelectChunk + threadIdx.x * kPerThread;
  if (blockIdx.x == 0) {
    for (int i = r.take + threadIdx.x; i < p.topk; i += kThreads) ids[i] = -1;
    if (threadIdx.x == 0) p.count[blockIdx.y] = r.take;
  }
  if (r.take == r.n) {  // every valid token, at its own index
    for (int t = lo; t < min(lo + kPerThread, r.n); ++t) ids[t] = t;
    return;
  }
  const std::uint32_t kth = r.state[kPrefix];
  const int take_equal = r.take - static_cast<int>(r.state[kAbove]);
  int gt_mine = 0, eq_mine = 0, gt_before = 0, eq_before = 0;  // over the chunks before this one
  for (int c = threadIdx.x; c < static_cast<int>(blockIdx.x); c += kThreads) {
    gt_mine += static_cast<int>(counts[(std::int64_t{blockIdx.y} * chunks + c) * 2]);
    eq_mine += static_cast<int>(counts[(std::int64_t{blockIdx.y} * chunks + c) * 2 + 1]);
  }
  detail::block_exclusive_scan(gt_mine, scan_scratch, &gt_before);
  detail::block_exclusive_scan(eq_mine, scan_scratch, &eq_before);
  std::uint32_t key[kPerThread];
  int eq = 0;
#pragma unroll
  for (int j = 0; j < kPerThread; ++j) {
    key[j] = lo + j < r.n ? key_at(p, r, lo + j) : 0u;
    eq += lo + j < r.n && key[j] == kth;
  }
  int total = 0;
  int e = eq_before + detail::block_exclusive_scan(eq, scan_scratch, &total);
  int chosen = 0;
  bool pick[kPerThread];
#pragma unroll
  for (int j = 0; j < kPerThread; ++j) {
    pick[j] = lo + j < r.n && (key[j] > kth || (key[j] == kth && e++ < take_equal));
    chosen += pick[j];
  }
  int pos = gt_before + min(eq_before, take_equal) + detail::block_exclusive_scan(chosen, scan_scratch, &total);
#pragma unroll
  for (int j = 0; j < kPerThread; ++j)
    if (pick[j]) ids[pos++] = lo + j;
}

// ---- token_gather ----

constexpr int kGatherTokens = 16;  // selected tokens per CTA

__global__ void __launch_bounds__(kThreads) token_gather_kernel(TokenGatherParams p) {
  const int vpr = p.head_dim / 8;           // 16-byte vectors per head row
  const int per_kv = p.kv_heads * vpr;      // vectors of one token's K (or V)
  const int per_token = 2 * per_kv;
  const int items = kGatherTokens * per_token;
  const std::int64_t first = std::int64_t{blockIdx.x} * kGatherTokens;
  const std::int64_t tokens = std::int64_t{p.batch} * p.topk;
  for (int base = threadIdx.x; base < items; base += kThreads * kUnroll) {
    uint4 v[kUnroll];
    uint4* dst[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      dst[u] = nullptr;
      const int j = base + u * kThreads;
      const std::int64_t tok = first + j / per_token;
      if (j >= items || tok >= tokens) continue;
      const int b = static_cast<int>(tok / p.topk), i = static_cast<int>(tok % p.topk);
      if (i >= p.count[b]) continue;
      const std::int64_t t = p.ids[tok];
      if (t < 0 || t >= p.max_tokens) continue;
      const int rem = j % per_token, is_v = rem >= per_kv, hv = rem - is_v * per_kv;
      const int h = hv / vpr, c = hv % vpr;
      const bf16* src =
          (is_v ? p.store_v : p.store_k) + ((std::int64_t{b} * p.kv_heads + h) * p.max_tokens + t) * p.head_dim;
      v[u] = reinterpret_cast<const uint4*>(src)[c];
      dst[u] = reinterpret_cast<uint4*>(is_v ? p.out_v : p.out_k) + ((std::int64_t{b} * p.kv_heads + h) * p.topk + i) * vpr + c;
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
      if (dst[u]) *dst[u] = v[u];
  }
}

}  // namespace

void indexer_score_cuda(const IndexerScoreParams& p, cudaStream_t stream) {
  validate_indexer_score(p);
  const char* op = "indexer_score";
  require_param(p.heads <= 16, op, "heads", "must be <= 16 on the GPU");
  const int g = p.head_dim / 8;
  require_param(g <= 32 && (g & (g - 1)) == 0, op, "head_dim", "must be 8 * a power of two, <= 256, on the GPU");
  const std::int64_t k_stride = p.k_batch_stride ? p.k_batch_stride : std::int64_t{p.max_tokens} * p.head_dim;
  require_param(k_stride % 8 == 0, op, "k_batch_stride", "must be a multiple of 8 (16-byte rows)");
  if (p.max_tokens == 0) return;
  switch (g) {
    case 1: launch_indexer_score<1>(p, k_stride, stream); break;
    case 2: launch_indexer_score<2>(p, k_stride, stream); break;
    case 4: launch_indexer_score<4>(p, k_stride, stream); break;
    case 8: launch_indexer_score<8>(p, k_stride, stream); break;
    case 16: launch_indexer_score<16>(p, k_stride, stream); break;
    default: launch_indexer_score<32>(p, k_stride, stream); break;
  }
}

void token_select_cuda(const TokenSelectParams& p, cudaStream_t stream) {
  validate_token_select(p);
  require_param(p.workspace != nullptr, "token_select", "workspace", "must be set on the GPU");
  require_param(p.batch <= 65535, "token_select", "batch", "must be <= 65535 on the GPU");
  const int chunks = static_cast<int>(token_select_chunks(p));
  auto* ws = static_cast<std::uint32_t*>(p.workspace);
  std::uint32_t* counts = ws + std::int64_t{p.batch} * kTokenSelectStateWords;
  FORESIGHT_CUDA_CHECK(
      cudaMemsetAsync(ws, 0, sizeof(std::uint32_t) * std::size_t(p.batch) * kTokenSelectStateWords, stream));
  const dim3 grid(chunks > 0 ? chunks : 1, p.batch);
  select_hist_kernel<<<grid, kThreads, 0, stream>>>(p, ws, 21, 11);
  FORESIGHT_CUDA_CHECK_LAUNCH();
  select_hist_kernel<<<grid, kThreads, 0, stream>>>(p, ws, 10, 11);
  FORESIGHT_CUDA_CHECK_LAUNCH();
  select_hist_kernel<<<grid, kThreads, 0, stream>>>(p, ws, 0, 10);
  FORESIGHT_CUDA_CHECK_LAUNCH();
  select_count_kernel<<<grid, kThreads, 0, stream>>>(p, ws, counts, chunks);
  FORESIGHT_CUDA_CHECK_LAUNCH();
  select_write_kernel<<<grid, kThreads, 0, stream>>>(p, ws, counts, chunks);
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

void token_gather_cuda(const TokenGatherParams& p, cudaStream_t stream) {
  validate_token_gather(p);
  const std::int64_t tokens = std::int64_t{p.batch} * p.topk;
  require_param(tokens <= INT_MAX, "token_gather", "batch * topk", "must fit in 32 bits");
  require_param(std::int64_t{kGatherTokens} * 2 * p.kv_heads * (p.head_dim / 8) <= INT_MAX / 2, "token_gather",
                "kv_heads * head_dim", "too large");
  const std::int64_t ctas = (tokens + kGatherTokens - 1) / kGatherTokens;
  token_gather_kernel<<<static_cast<unsigned>(ctas), kThreads, 0, stream>>>(p);
  FORESIGHT_CUDA_CHECK_LAUNCH();
}

}  // namespace foresight::kernels

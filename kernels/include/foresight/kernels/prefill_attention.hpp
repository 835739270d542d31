// Causal prefill attention for one chunk of one sequence, with GQA:
// query i (position start + i) of head h attends keys [0, start + i] of KV
// head h / (n_heads / n_kv_heads):
//   o[i, h] = sum_j softmax_j(scale * q[i, h] . k[j, g]) v[j, g]
// bf16 in and out, fp32 scores, softmax and accumulation. Two CUDA
// implementations: our tiled flash-attention (online softmax, tensor cores via
// mma.sync; head_dim 64 or 128) and cuDNN's fused attention (cuDNN 9 backend
// graph, when the build found cuDNN and the runtime has an engine for the
// shape). prefill_attention_cuda picks between them.
#pragma once

#include <cstdint>
#include <string>

#include "foresight/kernels/bf16.hpp"

#include "foresight/kernels/cuda_stream.hpp"

namespace foresight::kernels {

struct PrefillAttentionParams {
  const bf16* q = nullptr;  // [chunk, n_heads, head_dim], tokens q_token_stride elements apart
  const bf16* k = nullptr;  // [start + chunk, n_kv_heads, head_dim], kv_token_stride apart
  const bf16* v = nullptr;  // [start + chunk, n_kv_heads, head_dim], kv_token_stride apart
  bf16* o = nullptr;        // [chunk, n_heads, head_dim], o_token_stride apart
  std::int64_t start = 0;   // position of q[0]; keys before it are the cached prefix
  std::int64_t chunk = 0;   // query tokens
  int n_heads = 0;
  int n_kv_heads = 0;  // divides n_heads
  int head_dim = 0;
  float scale = 0.f;  // softmax scale; 0 means 1 / sqrt(head_dim)
  std::int64_t q_token_stride = 0;   // elements; 0 means n_heads * head_dim
  std::int64_t kv_token_stride = 0;  // elements; 0 means n_kv_heads * head_dim
  std::int64_t o_token_stride = 0;   // elements; 0 means n_heads * head_dim
};

// FLOPs of the causal chunk (2 GEMMs, 2 FLOPs per MAC, masked half not counted).
double prefill_attention_flops(const PrefillAttentionParams& p);

void prefill_attention_cpu(const PrefillAttentionParams& p);
#ifdef FORESIGHT_HAVE_CUDA
// Dispatcher: cuDNN's fused attention where it is built in, loadable and has
// an engine for the shape, else the mma.sync kernel. The environment variable
// FORESIGHT_PREFILL_ATTENTION=mma|cudnn forces one (cudnn throws where cuDNN
// cannot run the shape; any other value throws). Returns "cudnn" or "mma",
// the implementation that was enqueued.
const char* prefill_attention_cuda(const PrefillAttentionParams& p, cudaStream_t stream);
// The mma.sync kernel with its default tile (variant 1).
void prefill_attention_mma(const PrefillAttentionParams& p, cudaStream_t stream);
// cuDNN fused attention. Returns false without enqueuing anything where cuDNN
// cannot run p (built without cuDNN, runtime older than 9.0, head_dim not a
// multiple of 8 or > 128, strides not multiples of 8 elements, pointers not
// 16-byte aligned, or no engine finalises a plan); *why_not then says why.
// Plans are built once per shape and device and cached (thread-safe). Throws
// where a supported plan fails to execute.
bool prefill_attention_cudnn(const PrefillAttentionParams& p, cudaStream_t stream, std::string* why_not = nullptr);
// Runtime cuDNN version as cudnnGetVersion() reports it (9.10.2 -> 91002),
// or 0 when built without cuDNN.
int prefill_attention_cudnn_version();
// Tuning entry point (GPU check and benchmark). CTA tile (query rows x keys
// per step, 4 warps): variant 0: 64 x 64 (Q fragments kept in registers),
// 1: 128 x 64 (the default), 2: 128 x 32.
inline constexpr int kPrefillAttentionVariants = 3;
void prefill_attention_cuda_variant(const PrefillAttentionParams& p, int variant, cudaStream_t stream);
#endif

}  // namespace foresight::kernels

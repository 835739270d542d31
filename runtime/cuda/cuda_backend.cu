// CUDA backend: device memory, one compute stream, the kernels' *_cuda
// launchers, CUDA-event marks. First version: correct, not yet fast (the
// decode loop still downloads selections and the block map each layer and
// copies K/V rows one by one; CUDA graphs come later).
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "foresight/kernels/cuda_check.hpp"
#include "foresight/runtime/backend.hpp"

namespace foresight::runtime {
namespace {

class CudaBackend final : public Backend {
 public:
  CudaBackend() {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
      throw std::runtime_error("backend 'cuda': no CUDA device is present");
    }
    FORESIGHT_CUDA_CHECK(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
    FORESIGHT_CUDA_CHECK(cudaDeviceGetAttribute(&sm_count_, cudaDevAttrMultiProcessorCount, 0));
    gemm_ = std::make_unique<kernels::GemmHandle>();
    base_ = new_event();
    FORESIGHT_CUDA_CHECK(cudaEventRecord(base_, stream_));
  }
  ~CudaBackend() override {
    cudaStreamSynchronize(stream_);
    for (auto e : events_) cudaEventDestroy(e);
    if (workspace_) cudaFree(workspace_);
    gemm_.reset();
    cudaStreamDestroy(stream_);
  }
  std::string name() const override { return "cuda"; }
  std::string clock_name() const override { return "cuda_events"; }

  void* alloc(std::size_t bytes) override {
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, bytes ? bytes : 1);
    if (e != cudaSuccess) {
      throw std::runtime_error("cudaMalloc of " + std::to_string(bytes) + " bytes failed: " + cudaGetErrorString(e));
    }
    FORESIGHT_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes ? bytes : 1, stream_));
    return p;
  }
  void release(void* p) override {
    cudaStreamSynchronize(stream_);
    cudaFree(p);
  }
  void to_device(void* dst, const void* src, std::size_t n) override {
    FORESIGHT_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, stream_));
    FORESIGHT_CUDA_CHECK(cudaStreamSynchronize(stream_));  // src is pageable and may be reused
  }
  void to_host(void* dst, const void* src, std::size_t n) override {
    FORESIGHT_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, stream_));
    FORESIGHT_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }
  void device_copy(void* dst, const void* src, std::size_t n) override {
    FORESIGHT_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToDevice, stream_));
  }

  void embedding(const kernels::EmbeddingParams& p) override { kernels::embedding_cuda(p, stream_); }
  void rmsnorm(const kernels::RmsNormParams& p) override { kernels::rmsnorm_cuda(p, stream_); }
  void gemm(const kernels::GemmParams& p) override { kernels::gemm_cuda(*gemm_, p, stream_); }
  void rope(const kernels::RopeParams& p) override { kernels::rope_cuda(p, stream_); }
  void residual_add(const kernels::ResidualAddParams& p) override { kernels::residual_add_cuda(p, stream_); }
  void swiglu(const kernels::SwigluParams& p) override { kernels::swiglu_cuda(p, stream_); }
  void argmax(const kernels::ArgmaxParams& p) override { kernels::argmax_cuda(p, stream_); }
  void key_compress_prefill(const kernels::KeyCompressPrefillParams& p) override {
    kernels::key_compress_prefill_cuda(p, stream_);
  }
  void key_compress_decode(const kernels::KeyCompressDecodeParams& p) override {
    kernels::key_compress_decode_cuda(p, stream_);
  }
  void prefill_attention(const kernels::PrefillAttentionParams& p) override {
    kernels::prefill_attention_cuda(p, stream_);
  }
  void block_score_forecast(const kernels::BlockScoreParams& p) override {
    kernels::block_score_forecast_cuda(p, stream_);
  }
  void block_score_query_group(const kernels::BlockScoreParams& p) override {
    kernels::BlockScoreParams q = p;
    if (!q.workspace) q.workspace = workspace(kernels::query_group_workspace_bytes(q));
    kernels::block_score_query_group_cuda(q, stream_);
  }
  void block_select(const kernels::BlockSelectParams& p) override { kernels::block_select_cuda(p, stream_); }
  void working_set_update(const kernels::WorkingSetParams& p) override {
    kernels::working_set_update_cuda(p, stream_);
  }
  void kv_gather(const kernels::KvGatherParams& p) override { kernels::kv_gather_cuda(p, stream_); }
  void dense_decode_attention(const kernels::DenseDecodeAttentionParams& p) override {
    kernels::DenseDecodeAttentionParams q = p;
    prepare(q.shape, static_cast<int>((p.max_tokens + 63) / 64));
    kernels::dense_decode_attention_cuda(q, stream_);
  }
  void sparse_decode_attention(const kernels::SparseDecodeAttentionParams& p) override {
    kernels::SparseDecodeAttentionParams q = p;
    prepare(q.shape, p.list_stride);
    kernels::sparse_decode_attention_cuda(q, stream_);
  }

  Mark mark() override {
    cudaEvent_t e = new_event();
    FORESIGHT_CUDA_CHECK(cudaEventRecord(e, stream_));
    return static_cast<Mark>(events_.size() - 1);
  }
  std::int64_t mark_ns(Mark m) override {
    float ms = 0;
    FORESIGHT_CUDA_CHECK(cudaEventElapsedTime(&ms, base_, events_.at(static_cast<std::size_t>(m))));
    return static_cast<std::int64_t>(static_cast<double>(ms) * 1e6);
  }
  void synchronize() override { FORESIGHT_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

 private:
  cudaEvent_t new_event() {
    cudaEvent_t e;
    FORESIGHT_CUDA_CHECK(cudaEventCreate(&e));
    events_.push_back(e);
    return e;
  }
  void* workspace(std::size_t bytes) {
    if (bytes > workspace_bytes_) {
      FORESIGHT_CUDA_CHECK(cudaStreamSynchronize(stream_));
      if (workspace_) FORESIGHT_CUDA_CHECK(cudaFree(workspace_));
      FORESIGHT_CUDA_CHECK(cudaMalloc(&workspace_, bytes));
      workspace_bytes_ = bytes;
    }
    return workspace_;
  }
  void prepare(kernels::DecodeAttentionShape& s, int max_tiles) {
    if (s.workspace) return;
    s.n_splits = kernels::default_decode_splits(s.batch, s.kv_heads, max_tiles > 0 ? max_tiles : 1, sm_count_);
    s.workspace = workspace(kernels::decode_attention_workspace_bytes(s));
  }

  cudaStream_t stream_ = nullptr;
  int sm_count_ = 0;
  std::unique_ptr<kernels::GemmHandle> gemm_;
  std::vector<cudaEvent_t> events_;  // every mark of the run (released at the end)
  cudaEvent_t base_ = nullptr;
  void* workspace_ = nullptr;
  std::size_t workspace_bytes_ = 0;
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend() { return std::make_unique<CudaBackend>(); }

}  // namespace foresight::runtime

// CPU backend: the kernels' CPU references, host memory, steady_clock marks.
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

#include "foresight/runtime/backend.hpp"

namespace foresight::runtime {
namespace {

class CpuBackend final : public Backend {
 public:
  CpuBackend() : t0_(std::chrono::steady_clock::now()) {}
  std::string name() const override { return "cpu"; }
  std::string clock_name() const override { return "steady_clock"; }

  void* alloc(std::size_t bytes) override {
    void* p = std::calloc(bytes ? bytes : 1, 1);
    if (!p) throw std::bad_alloc();
    return p;
  }
  void release(void* p) override { std::free(p); }
  void to_device(void* dst, const void* src, std::size_t n) override { std::memcpy(dst, src, n); }
  void to_host(void* dst, const void* src, std::size_t n) override { std::memcpy(dst, src, n); }
  void device_copy(void* dst, const void* src, std::size_t n) override { std::memmove(dst, src, n); }
  void copy_2d(void* dst, std::size_t dst_pitch, const void* src, std::size_t src_pitch, std::size_t row_bytes,
               std::size_t rows) override {
    for (std::size_t r = 0; r < rows; ++r) {
      std::memmove(static_cast<char*>(dst) + r * dst_pitch, static_cast<const char*>(src) + r * src_pitch, row_bytes);
    }
  }
  void zero(void* dst, std::size_t n) override { std::memset(dst, 0, n); }
  void* alloc_host(std::size_t bytes) override { return alloc(bytes); }
  void release_host(void* p) override { std::free(p); }
  int stream_count() const override { return 1; }
  void set_stream(int) override {}
  int current_stream() const override { return 0; }
  void record(int) override {}
  void wait(int) override {}

  void embedding(const kernels::EmbeddingParams& p) override { kernels::embedding_cpu(p); }
  void rmsnorm(const kernels::RmsNormParams& p) override { kernels::rmsnorm_cpu(p); }
  void gemm(const kernels::GemmParams& p) override { kernels::gemm_cpu(p); }
  void linear(const kernels::LinearParams& p) override { kernels::linear_cpu(p); }
  void rope(const kernels::RopeParams& p) override { kernels::rope_cpu(p); }
  void residual_add(const kernels::ResidualAddParams& p) override { kernels::residual_add_cpu(p); }
  void argmax(const kernels::ArgmaxParams& p) override { kernels::argmax_cpu(p); }
  void key_compress_prefill(const kernels::KeyCompressPrefillParams& p) override {
    kernels::key_compress_prefill_cpu(p);
  }
  void key_compress_decode(const kernels::KeyCompressDecodeParams& p) override {
    kernels::key_compress_decode_cpu(p);
  }
  void prefill_attention(const kernels::PrefillAttentionParams& p) override {
    kernels::prefill_attention_cpu(p);
  }
  void sparse_prefill_estimate(const kernels::PrefillAttentionParams& p, int n_last, float* key_mass,
                               float* offset_mass, float* block_offset_mass, float*) override {
    const kernels::SparsePrefillEstimate e = kernels::estimate_sparse_prefill_cpu(p, n_last);
    std::memcpy(key_mass, e.key_mass.data(), e.key_mass.size() * sizeof(float));
    std::memcpy(offset_mass, e.offset_mass.data(), e.offset_mass.size() * sizeof(float));
    std::memcpy(block_offset_mass, e.block_offset_mass.data(), e.block_offset_mass.size() * sizeof(float));
  }
  void sparse_prefill(const kernels::SparsePrefillParams& p) override { kernels::sparse_prefill_cpu(p); }
  void block_score_forecast(const kernels::BlockScoreParams& p) override {
    kernels::block_score_forecast_cpu(p);
  }
  void block_score_query_group(const kernels::BlockScoreParams& p) override {
    kernels::block_score_query_group_cpu(p);
  }
  void block_select(const kernels::BlockSelectParams& p) override { kernels::block_select_cpu(p); }
  void working_set_update(const kernels::WorkingSetParams& p) override {
    kernels::working_set_update_cpu(p);
  }
  void kv_gather(const kernels::KvGatherParams& p) override { kernels::kv_gather_cpu(p); }
  void kv_append(const kernels::KvAppendParams& p) override { kernels::kv_append_cpu(p); }
  void rope_append(const kernels::RopeAppendParams& p) override { kernels::rope_append_cpu(p); }
  void slot_list(const kernels::SlotListParams& p) override { kernels::slot_list_cpu(p); }
  void kv_synth(const kernels::KvSynthParams& p) override { kernels::kv_synth_cpu(p); }
  void dense_decode_attention(const kernels::DenseDecodeAttentionParams& p) override {
    kernels::dense_decode_attention_cpu(p);
  }
  void sparse_decode_attention(const kernels::SparseDecodeAttentionParams& p) override {
    kernels::sparse_decode_attention_cpu(p);
  }
  void indexer_score(const kernels::IndexerScoreParams& p) override { kernels::indexer_score_cpu(p); }
  void token_select(const kernels::TokenSelectParams& p) override { kernels::token_select_cpu(p); }
  void token_gather(const kernels::TokenGatherParams& p) override { kernels::token_gather_cpu(p); }

  Mark mark() override {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0_).count();
  }
  std::int64_t mark_ns(Mark m) override { return m; }
  bool mark_outlives_step(Mark) const override { return true; }
  void synchronize() override {}

 private:
  std::chrono::steady_clock::time_point t0_;
};

}  // namespace

#ifdef FORESIGHT_RUNTIME_HAVE_CUDA
std::unique_ptr<Backend> make_cuda_backend(const config::KernelOptions& kernels);  // runtime/cuda/cuda_backend.cu
#endif

std::unique_ptr<Backend> make_cpu_backend() { return std::make_unique<CpuBackend>(); }

std::unique_ptr<Backend> make_backend(const std::string& name, const config::KernelOptions& kernels) {
  if (name == "cpu") return make_cpu_backend();
  if (name == "cuda") {
#ifdef FORESIGHT_RUNTIME_HAVE_CUDA
    return make_cuda_backend(kernels);
#else
    (void)kernels;
    throw std::runtime_error("backend 'cuda': this build has no CUDA (configure with nvcc); use --backend cpu");
#endif
  }
  throw std::invalid_argument("unknown backend '" + name + "' (cpu or cuda)");
}

}  // namespace foresight::runtime

// CUDA backend: device memory and mapped pinned host memory, two streams
// (main; side = highest priority, for the prefetch gather), the kernels'
// *_cuda launchers, CUDA-event marks (recycled after each resolved step; marks
// taken while capturing a graph become event-record nodes of that graph, on
// events of their own that each replay re-records) and ordering events
// between the streams.
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <utility>
#include <string>
#include <vector>

#include "foresight/kernels/cuda_check.hpp"
#include "foresight/kernels/switches.hpp"
#include "foresight/runtime/backend.hpp"

namespace foresight::runtime {
namespace {

class CudaBackend final : public Backend {
 public:
  explicit CudaBackend(const config::KernelOptions& k) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
      throw std::runtime_error("backend 'cuda': no CUDA device is present");
    }
    // Every kernel switch of the process follows the run's options, so what
    // the trace records (run.kernels) is what ran.
    kernels::set_kernel_switches(config::kernel_option_env(k));
    FORESIGHT_CUDA_CHECK(cudaStreamCreateWithFlags(&streams_[0], cudaStreamNonBlocking));
    int least = 0, greatest = 0;
    FORESIGHT_CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
    // Experiments (bench/RESULTS-runtime.md): side_priority normal gives the
    // side stream the default priority; attn_sm_reserve N sizes decode
    // attention's split-KV grid for N fewer SMs (-1: reserve_sms decides,
    // which sparda calls with its gather CTAs).
    const bool normal = k.side_priority == "normal";
    FORESIGHT_CUDA_CHECK(cudaStreamCreateWithPriority(&streams_[1], cudaStreamNonBlocking, normal ? least : greatest));
    fixed_sm_reserve_ = k.attn_sm_reserve >= 0;
    if (fixed_sm_reserve_) sm_reserve_ = static_cast<int>(k.attn_sm_reserve);
    min_tiles_per_split_ = static_cast<int>(std::max<std::int64_t>(1, k.attn_min_tiles));
    // Graph marks (bench/RESULTS-runtime.md): by default (branch) each mark's
    // event node hangs off the op's stream on a capture stream of its own (one
    // per op stream, so its nodes form a chain in that stream's order and their
    // times stay ordered): no kernel waits for an event node. inline puts the
    // nodes between the kernels instead, which costs ~2.5 us of GPU time per mark.
    mark_branches_ = k.graph_marks == "branch";
    side_marks_branch_ = k.side_marks == "branch";
    for (int i = 0; mark_branches_ && i < 2; ++i) {
      cudaStream_t s;
      FORESIGHT_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
      mark_streams_.push_back(s);
    }
    if (mark_branches_) {
      FORESIGHT_CUDA_CHECK(cudaEventCreateWithFlags(&fork_event_, cudaEventDisableTiming));
    }
    stream_ = streams_[0];
    FORESIGHT_CUDA_CHECK(cudaDeviceGetAttribute(&sm_count_, cudaDevAttrMultiProcessorCount, 0));
    int max_window = 0;  // asked once: set_l2_window runs per layer and step without graphs
    FORESIGHT_CUDA_CHECK(cudaDeviceGetAttribute(&max_window, cudaDevAttrMaxAccessPolicyWindowSize, 0));
    max_l2_window_ = static_cast<std::size_t>(std::max(max_window, 0));
    gemm_ = std::make_unique<kernels::GemmHandle>();
    base_ = new_event();
    next_mark_ = 1;
    FORESIGHT_CUDA_CHECK(cudaEventRecord(base_, stream_));
  }
  ~CudaBackend() override {
    cudaDeviceSynchronize();
    kernels::set_kernel_switches({});  // the process's switches follow the environment again
    if (l2_set_aside_) {  // leave the device as found: no set-aside, no persisting lines
      cudaCtxResetPersistingL2Cache();
      cudaDeviceSetLimit(cudaLimitPersistingL2CacheSize, 0);
    }
    for (auto e : events_) cudaEventDestroy(e);
    for (auto& pool : graph_events_)
      for (auto e : pool) cudaEventDestroy(e);
    for (auto e : sync_events_) cudaEventDestroy(e);
    for (auto x : exec_)
      if (x) cudaGraphExecDestroy(x);
    for (auto& [p, n] : free_host_) cudaFreeHost(p);
    if (workspace_) cudaFree(workspace_);
    gemm_.reset();
    for (auto s : streams_) cudaStreamDestroy(s);
    for (auto s : mark_streams_) cudaStreamDestroy(s);
    if (fork_event_) cudaEventDestroy(fork_event_);
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
    cudaDeviceSynchronize();
    cudaFree(p);
  }
  // Pinned allocations are kept for reuse when released (pinning 100 GiB takes
  // seconds; a benchmark running many configurations pins once), and freed
  // with the backend. Contents are not zeroed.
  void* alloc_host(std::size_t bytes) override {
    auto best = free_host_.end();
    for (auto it = free_host_.begin(); it != free_host_.end(); ++it) {
      if (it->second >= bytes && (best == free_host_.end() || it->second < best->second)) best = it;
    }
    if (best != free_host_.end()) {
      void* p = best->first;
      live_host_.push_back(*best);
      free_host_.erase(best);
      return p;
    }
    void* p = nullptr;
    cudaError_t e = cudaHostAlloc(&p, bytes ? bytes : 1, cudaHostAllocMapped | cudaHostAllocPortable);
    if (e != cudaSuccess && !free_host_.empty()) {  // give back cached blocks and retry
      for (auto& [q, n] : free_host_) cudaFreeHost(q);
      free_host_.clear();
      cudaGetLastError();
      e = cudaHostAlloc(&p, bytes ? bytes : 1, cudaHostAllocMapped | cudaHostAllocPortable);
    }
    if (e != cudaSuccess) {
      cudaGetLastError();
      throw std::runtime_error("cudaHostAlloc (pinned, mapped) of " + std::to_string(bytes) +
                               " bytes failed: " + cudaGetErrorString(e));
    }
    live_host_.emplace_back(p, bytes ? bytes : 1);
    return p;
  }
  void trim_host_cache() override {
    cudaDeviceSynchronize();
    for (auto& [q, n] : free_host_) cudaFreeHost(q);
    free_host_.clear();
  }
  void release_host(void* p) override {
    cudaDeviceSynchronize();
    for (auto it = live_host_.begin(); it != live_host_.end(); ++it) {
      if (it->first == p) {
        free_host_.push_back(*it);
        live_host_.erase(it);
        return;
      }
    }
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
    if (n) FORESIGHT_CUDA_CHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDefault, stream_));
  }
  void copy_2d(void* dst, std::size_t dst_pitch, const void* src, std::size_t src_pitch, std::size_t row_bytes,
               std::size_t rows) override {
    if (rows && row_bytes) {
      FORESIGHT_CUDA_CHECK(
          cudaMemcpy2DAsync(dst, dst_pitch, src, src_pitch, row_bytes, rows, cudaMemcpyDefault, stream_));
    }
  }
  void zero(void* dst, std::size_t n) override {
    if (n) FORESIGHT_CUDA_CHECK(cudaMemsetAsync(dst, 0, n, stream_));
  }
  int stream_count() const override { return 2; }
  void set_stream(int s) override { stream_ = streams_.at(static_cast<std::size_t>(s)); }
  int current_stream() const override { return stream_ == streams_[0] ? 0 : 1; }
  void record(int e) override { FORESIGHT_CUDA_CHECK(cudaEventRecord(sync_event(e), stream_)); }
  void wait(int e) override { FORESIGHT_CUDA_CHECK(cudaStreamWaitEvent(stream_, sync_event(e), 0)); }

  void embedding(const kernels::EmbeddingParams& p) override { kernels::embedding_cuda(p, stream_); }
  void rmsnorm(const kernels::RmsNormParams& p) override { kernels::rmsnorm_cuda(p, stream_); }
  void gemm(const kernels::GemmParams& p) override { kernels::gemm_cuda(*gemm_, p, stream_); }
  void linear(const kernels::LinearParams& p) override { kernels::linear_cuda(*gemm_, p, stream_); }
  void rope(const kernels::RopeParams& p) override { kernels::rope_cuda(p, stream_); }
  void residual_add(const kernels::ResidualAddParams& p) override { kernels::residual_add_cuda(p, stream_); }
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
  void sparse_prefill_estimate(const kernels::PrefillAttentionParams& p, int n_last, float* key_mass,
                               float* offset_mass, float* block_offset_mass, float* row_stats) override {
    kernels::estimate_sparse_prefill_cuda(p, n_last, key_mass, offset_mass, block_offset_mass, row_stats, stream_);
  }
  void sparse_prefill(const kernels::SparsePrefillParams& p) override { kernels::sparse_prefill_cuda(p, stream_); }
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
  void kv_append(const kernels::KvAppendParams& p) override { kernels::kv_append_cuda(p, stream_); }
  void rope_append(const kernels::RopeAppendParams& p) override { kernels::rope_append_cuda(p, stream_); }
  void slot_list(const kernels::SlotListParams& p) override { kernels::slot_list_cuda(p, stream_); }
  void kv_synth(const kernels::KvSynthParams& p) override { kernels::kv_synth_cuda(p, stream_); }
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
  void indexer_score(const kernels::IndexerScoreParams& p) override { kernels::indexer_score_cuda(p, stream_); }
  void token_select(const kernels::TokenSelectParams& p) override {
    kernels::TokenSelectParams q = p;
    if (!q.workspace) q.workspace = workspace(kernels::token_select_workspace_bytes(q));
    kernels::token_select_cuda(q, stream_);
  }
  void token_gather(const kernels::TokenGatherParams& p) override { kernels::token_gather_cuda(p, stream_); }

  Mark mark() override {
    if (capturing_) {  // an event-record node of the graph: its event is re-recorded by every replay
      auto& pool = graph_events_[static_cast<std::size_t>(slot_)];
      std::size_t& next = graph_next_[static_cast<std::size_t>(slot_)];
      if (next == pool.size()) {
        cudaEvent_t e;
        FORESIGHT_CUDA_CHECK(cudaEventCreate(&e));
        pool.push_back(e);
      }
      cudaStream_t on = stream_;
      // Fork: the event node depends on the stream's work and the stream does
      // not wait for it. FORESIGHT_SIDE_MARKS=inline keeps side-stream marks
      // on the side stream (measured slower: bench/RESULTS-runtime.md).
      if (mark_branches_ && (current_stream() == 0 || side_marks_branch_)) {
        const int si = current_stream();
        on = mark_streams_[static_cast<std::size_t>(si)];
        mark_stream_used_[static_cast<std::size_t>(si)] = true;
        FORESIGHT_CUDA_CHECK(cudaEventRecord(fork_event_, stream_));
        FORESIGHT_CUDA_CHECK(cudaStreamWaitEvent(on, fork_event_, 0));
      }
      FORESIGHT_CUDA_CHECK(cudaEventRecordWithFlags(pool[next], on, cudaEventRecordExternal));
      return kGraphMark + kSlotMarks * slot_ + static_cast<Mark>(next++);
    }
    if (next_mark_ == events_.size()) new_event();
    FORESIGHT_CUDA_CHECK(cudaEventRecord(events_[next_mark_], stream_));
    return static_cast<Mark>(next_mark_++);
  }
  void recycle_marks() override { next_mark_ = 1; }  // event 0 is the base; graph marks live with their graph
  bool mark_outlives_step(Mark m) const override { return m >= kGraphMark; }
  std::int64_t mark_ns(Mark m) override {
    const cudaEvent_t e =
        m >= kGraphMark
            ? graph_events_.at(static_cast<std::size_t>((m - kGraphMark) / kSlotMarks))
                  .at(static_cast<std::size_t>((m - kGraphMark) % kSlotMarks))
            : events_.at(static_cast<std::size_t>(m));
    float ms = 0;
    FORESIGHT_CUDA_CHECK(cudaEventElapsedTime(&ms, base_, e));
    return static_cast<std::int64_t>(static_cast<double>(ms) * 1e6);
  }
  std::size_t l2_persisting_max() const override {
    int v = 0;
    FORESIGHT_CUDA_CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMaxPersistingL2CacheSize, 0));
    return static_cast<std::size_t>(std::max(v, 0));
  }
  void set_l2_persisting(std::size_t bytes) override {
    FORESIGHT_CUDA_CHECK(cudaDeviceSetLimit(cudaLimitPersistingL2CacheSize, bytes));
    if (bytes == 0) FORESIGHT_CUDA_CHECK(cudaCtxResetPersistingL2Cache());
    l2_set_aside_ = bytes;
  }
  void set_l2_window(const void* base, std::size_t bytes, float hit_ratio) override {
    cudaStreamAttrValue v{};
    v.accessPolicyWindow.base_ptr = const_cast<void*>(base);
    v.accessPolicyWindow.num_bytes = std::min(bytes, max_l2_window_);
    v.accessPolicyWindow.hitRatio = std::clamp(hit_ratio, 0.0f, 1.0f);
    v.accessPolicyWindow.hitProp = cudaAccessPropertyPersisting;
    v.accessPolicyWindow.missProp = cudaAccessPropertyStreaming;
    FORESIGHT_CUDA_CHECK(cudaStreamSetAttribute(stream_, cudaStreamAttributeAccessPolicyWindow, &v));
  }
  void reserve_sms(int n) override {
    if (!fixed_sm_reserve_) sm_reserve_ = std::clamp(n, 0, sm_count_ - 1);
  }
  bool supports_graphs() const override { return true; }
  void capture_begin(int slot) override {
    slot_ = check_slot(slot);
    stream_ = streams_[0];
    FORESIGHT_CUDA_CHECK(cudaStreamBeginCapture(streams_[0], cudaStreamCaptureModeThreadLocal));
    capturing_ = true;
    graph_next_[static_cast<std::size_t>(slot_)] = 0;  // the slot's previous graph is replaced at capture_end
  }
  void capture_end(int slot) override {
    if (check_slot(slot) != slot_) throw std::logic_error("backend 'cuda': capture_end of another slot");
    cudaGraph_t g = nullptr;
    capturing_ = false;
    // Join the mark branches used by this capture back before it ends.
    for (std::size_t i = 0; i < mark_streams_.size(); ++i) {
      if (!mark_stream_used_[i]) continue;
      mark_stream_used_[i] = false;
      FORESIGHT_CUDA_CHECK(cudaEventRecord(fork_event_, mark_streams_[i]));
      FORESIGHT_CUDA_CHECK(cudaStreamWaitEvent(streams_[0], fork_event_, 0));
    }
    FORESIGHT_CUDA_CHECK(cudaStreamEndCapture(streams_[0], &g));
    if (l2_set_aside_) report_l2_windows(g);
    cudaGraphExec_t& exec = exec_[static_cast<std::size_t>(slot)];
    if (exec) FORESIGHT_CUDA_CHECK(cudaGraphExecDestroy(exec));
    exec = nullptr;
    const cudaError_t e = cudaGraphInstantiate(&exec, g, 0);
    cudaGraphDestroy(g);
    FORESIGHT_CUDA_CHECK(e);
  }
  void graph_launch(int slot) override {
    const cudaGraphExec_t exec = exec_[static_cast<std::size_t>(check_slot(slot))];
    if (!exec) throw std::logic_error("backend 'cuda': graph_launch without a captured graph");
    FORESIGHT_CUDA_CHECK(cudaGraphLaunch(exec, streams_[0]));
  }
  void synchronize() override {
    for (auto st : streams_) FORESIGHT_CUDA_CHECK(cudaStreamSynchronize(st));
  }

 private:
  // With an L2 set-aside: how many kernel nodes of the captured graph carry
  // an access-policy window (the check that capture kept the stream's window).
  static void report_l2_windows(cudaGraph_t g) {
    std::size_t n = 0;
    FORESIGHT_CUDA_CHECK(cudaGraphGetNodes(g, nullptr, &n));
    std::vector<cudaGraphNode_t> nodes(n);
    FORESIGHT_CUDA_CHECK(cudaGraphGetNodes(g, nodes.data(), &n));
    std::size_t kernels = 0, windows = 0;
    for (auto node : nodes) {
      cudaGraphNodeType type;
      FORESIGHT_CUDA_CHECK(cudaGraphNodeGetType(node, &type));
      if (type != cudaGraphNodeTypeKernel) continue;
      ++kernels;
      cudaKernelNodeAttrValue v{};
      FORESIGHT_CUDA_CHECK(cudaGraphKernelNodeGetAttribute(node, cudaKernelNodeAttributeAccessPolicyWindow, &v));
      windows += v.accessPolicyWindow.num_bytes > 0;
    }
    std::fprintf(stderr, "l2: %zu of the captured graph's %zu kernel nodes carry an access-policy window\n",
                 windows, kernels);
  }
  static int check_slot(int slot) {
    if (slot < 0 || slot >= kGraphSlots) throw std::invalid_argument("backend 'cuda': graph slot must be 0 or 1");
    return slot;
  }
  cudaEvent_t new_event() {
    cudaEvent_t e;
    FORESIGHT_CUDA_CHECK(cudaEventCreate(&e));
    events_.push_back(e);
    return e;
  }
  cudaEvent_t sync_event(int e) {
    if (e < 0) throw std::invalid_argument("backend 'cuda': negative event id");
    while (sync_events_.size() <= static_cast<std::size_t>(e)) {
      cudaEvent_t ev;
      FORESIGHT_CUDA_CHECK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
      sync_events_.push_back(ev);
    }
    return sync_events_[static_cast<std::size_t>(e)];
  }
  void* workspace(std::size_t bytes) {
    if (bytes > workspace_bytes_) {
      FORESIGHT_CUDA_CHECK(cudaDeviceSynchronize());
      if (workspace_) FORESIGHT_CUDA_CHECK(cudaFree(workspace_));
      FORESIGHT_CUDA_CHECK(cudaMalloc(&workspace_, bytes));
      workspace_bytes_ = bytes;
    }
    return workspace_;
  }
  void prepare(kernels::DecodeAttentionShape& s, int max_tiles) {
    if (s.workspace) return;
    s.n_splits = kernels::default_decode_splits(s.batch, s.kv_heads, max_tiles > 0 ? max_tiles : 1,
                                                std::max(1, sm_count_ - sm_reserve_));
    // Experiment (bench/RESULTS-runtime.md): at least N tiles per split.
    if (min_tiles_per_split_ > 1 && max_tiles > 0)
      s.n_splits = std::max(1, std::min(s.n_splits, (max_tiles + min_tiles_per_split_ - 1) / min_tiles_per_split_));
    s.workspace = workspace(kernels::decode_attention_workspace_bytes(s));
  }

  std::array<cudaStream_t, 2> streams_{};
  cudaStream_t stream_ = nullptr;  // current
  std::size_t l2_set_aside_ = 0;  // bytes set aside by set_l2_persisting
  std::size_t max_l2_window_ = 0;  // cudaDevAttrMaxAccessPolicyWindowSize
  int sm_count_ = 0, sm_reserve_ = 0, min_tiles_per_split_ = 1;
  std::size_t next_mark_ = 0;
  std::vector<cudaEvent_t> sync_events_;
  std::array<cudaGraphExec_t, kGraphSlots> exec_{};
  std::vector<std::pair<void*, std::size_t>> live_host_, free_host_;
  std::unique_ptr<kernels::GemmHandle> gemm_;
  std::vector<cudaEvent_t> events_;  // [0] base, then the marks of the current step
  // Marks >= kGraphMark: graph_events_[slot][index], m = kGraphMark + kSlotMarks * slot + index.
  static constexpr Mark kGraphMark = Mark{1} << 40, kSlotMarks = Mark{1} << 30;
  std::array<std::vector<cudaEvent_t>, kGraphSlots> graph_events_;  // the marks of each slot's graph
  std::array<std::size_t, kGraphSlots> graph_next_{};
  int slot_ = 0;  // being captured
  bool capturing_ = false;
  bool mark_branches_ = true, side_marks_branch_ = true;
  bool fixed_sm_reserve_ = false;  // attn_sm_reserve >= 0: reserve_sms does not change it
  std::array<bool, 2> mark_stream_used_{};
  std::vector<cudaStream_t> mark_streams_;
  cudaEvent_t fork_event_ = nullptr;
  cudaEvent_t base_ = nullptr;
  void* workspace_ = nullptr;
  std::size_t workspace_bytes_ = 0;
};

}  // namespace

std::unique_ptr<Backend> make_cuda_backend(const config::KernelOptions& kernels) {
  return std::make_unique<CudaBackend>(kernels);
}

}  // namespace foresight::runtime

// The device a decode loop runs on. The loop (engine.hpp) is written once
// against this interface; CpuBackend runs the CPU reference kernels, a CUDA
// backend calls the *_cuda launchers on its streams. Ops take the kernels'
// params structs (kernels/include/foresight/kernels/<op>.hpp), whose pointers
// are device pointers (host pointers on the CPU backend).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "foresight/config/hardware.hpp"
#include "foresight/config/kernel_options.hpp"
#include "foresight/kernels/argmax.hpp"
#include "foresight/kernels/block_score.hpp"
#include "foresight/kernels/block_select.hpp"
#include "foresight/kernels/decode_attention.hpp"
#include "foresight/kernels/dsa.hpp"
#include "foresight/kernels/embedding.hpp"
#include "foresight/kernels/gemm.hpp"
#include "foresight/kernels/key_compress.hpp"
#include "foresight/kernels/kv_append.hpp"
#include "foresight/kernels/linear.hpp"
#include "foresight/kernels/kv_gather.hpp"
#include "foresight/kernels/kv_synth.hpp"
#include "foresight/kernels/prefill_attention.hpp"
#include "foresight/kernels/residual_add.hpp"
#include "foresight/kernels/rmsnorm.hpp"
#include "foresight/kernels/rope.hpp"
#include "foresight/kernels/rope_append.hpp"
#include "foresight/kernels/slot_list.hpp"
#include "foresight/kernels/sparse_prefill.hpp"
#include "foresight/kernels/working_set.hpp"

namespace foresight::runtime {

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;           // "cpu", "cuda"
  virtual std::string clock_name() const = 0;     // trace Header::clock

  // Device memory, zero-filled. Throws on failure (never crashes).
  virtual void* alloc(std::size_t bytes) = 0;
  virtual void release(void* p) = 0;
  virtual void to_device(void* dst, const void* src, std::size_t bytes) = 0;
  virtual void to_host(void* dst, const void* src, std::size_t bytes) = 0;
  // Stream-ordered copy between any two device-accessible pointers (device
  // memory or mapped pinned host memory).
  virtual void device_copy(void* dst, const void* src, std::size_t bytes) = 0;
  // Stream-ordered 2-D copy: `rows` rows of `row_bytes`, pitches in bytes.
  virtual void copy_2d(void* dst, std::size_t dst_pitch, const void* src, std::size_t src_pitch,
                       std::size_t row_bytes, std::size_t rows) = 0;
  virtual void zero(void* dst, std::size_t bytes) = 0;  // stream-ordered memset 0

  // Pinned host memory mapped into the device address space (kv_gather's
  // zero-copy source); the pointer is valid on host and device. Contents are
  // undefined (CUDA) or zero (CPU). Throws on failure.
  virtual void* alloc_host(std::size_t bytes) = 0;
  virtual void release_host(void* p) = 0;
  // Frees pinned blocks kept for reuse after release_host (CUDA keeps them).
  virtual void trim_host_cache() {}

  // Streams: 0 = main (compute), 1 = side (prefetch). Ops and marks go to the
  // current stream. Events order streams: record(e) on the current stream,
  // wait(e) makes the current stream wait for the last record(e). A backend
  // with one stream (CPU) runs everything in program order and ignores both.
  virtual int stream_count() const = 0;
  virtual void set_stream(int stream) = 0;
  virtual int current_stream() const = 0;
  virtual void record(int event) = 0;
  virtual void wait(int event) = 0;

  // Ops (semantics in the kernels' headers).
  virtual void embedding(const kernels::EmbeddingParams& p) = 0;
  virtual void rmsnorm(const kernels::RmsNormParams& p) = 0;
  virtual void gemm(const kernels::GemmParams& p) = 0;
  virtual void linear(const kernels::LinearParams& p) = 0;  // norm/SwiGLU/residual-fused projection
  virtual void rope(const kernels::RopeParams& p) = 0;
  virtual void residual_add(const kernels::ResidualAddParams& p) = 0;
  virtual void argmax(const kernels::ArgmaxParams& p) = 0;
  virtual void key_compress_prefill(const kernels::KeyCompressPrefillParams& p) = 0;
  virtual void key_compress_decode(const kernels::KeyCompressDecodeParams& p) = 0;
  virtual void prefill_attention(const kernels::PrefillAttentionParams& p) = 0;
  // Dynamic sparse prefill (kernels/sparse_prefill.hpp): the last n_last
  // queries' attention masses (key_mass, offset_mass [p.n_heads, p.chunk],
  // block_offset_mass [p.n_heads, ceil(p.chunk / 64)], fp32, overwritten;
  // row_stats scratch of kernels::sparse_prefill_estimate_scratch_floats(
  // p.n_heads, p.chunk, n_last) floats), and block-sparse
  // attention over a layout in device memory.
  virtual void sparse_prefill_estimate(const kernels::PrefillAttentionParams& p, int n_last, float* key_mass,
                                       float* offset_mass, float* block_offset_mass, float* row_stats) = 0;
  virtual void sparse_prefill(const kernels::SparsePrefillParams& p) = 0;
  virtual void block_score_forecast(const kernels::BlockScoreParams& p) = 0;
  virtual void block_score_query_group(const kernels::BlockScoreParams& p) = 0;
  virtual void block_select(const kernels::BlockSelectParams& p) = 0;
  virtual void working_set_update(const kernels::WorkingSetParams& p) = 0;
  virtual void kv_gather(const kernels::KvGatherParams& p) = 0;
  virtual void kv_append(const kernels::KvAppendParams& p) = 0;
  virtual void rope_append(const kernels::RopeAppendParams& p) = 0;  // decode: rope + q copy + K/V append
  virtual void slot_list(const kernels::SlotListParams& p) = 0;
  virtual void kv_synth(const kernels::KvSynthParams& p) = 0;
  virtual void dense_decode_attention(const kernels::DenseDecodeAttentionParams& p) = 0;
  virtual void sparse_decode_attention(const kernels::SparseDecodeAttentionParams& p) = 0;
  // DSA (DeepSeek-V3.2 lightning indexer) decode path; not called by the engine yet.
  // token_select: a null p.workspace gets the backend's own scratch (CUDA).
  virtual void indexer_score(const kernels::IndexerScoreParams& p) = 0;
  virtual void token_select(const kernels::TokenSelectParams& p) = 0;
  virtual void token_gather(const kernels::TokenGatherParams& p) = 0;

  // SMs that a concurrent side-stream kernel keeps busy (sparda's prefetch):
  // decode attention sizes its split-KV grid for the rest (CUDA; 0 = all).
  virtual void reserve_sms(int n) { (void)n; }
  // GPU L2 persistence (config/l2_windows.hpp). The largest persisting
  // set-aside the device grants (bytes; 0: no such control, e.g. the CPU).
  virtual std::size_t l2_persisting_max() const { return 0; }
  // Sets aside `bytes` (<= l2_persisting_max()) of L2 for persisting
  // accesses; 0 releases it and resets persisting lines to normal.
  virtual void set_l2_persisting(std::size_t bytes) { (void)bytes; }
  // Kernels launched on the current stream from now on (also when captured
  // into a graph) access [base, base + bytes) as persisting with probability
  // `hit_ratio`, the rest streaming; bytes 0 removes the window.
  virtual void set_l2_window(const void* base, std::size_t bytes, float hit_ratio) {
    (void)base; (void)bytes; (void)hit_ratio;
  }

  // Graphs: the work enqueued between capture_begin(slot) and
  // capture_end(slot) (on the main stream, and on the side stream joined
  // through events) is recorded, not run; graph_launch(slot) replays that
  // slot's capture. Two slots (0, 1), so that one graph can run while the
  // other's marks are read. Unsupported: no-ops.
  // A mark taken while capturing belongs to the slot's graph: every replay
  // takes it again, and mark_ns gives the time of the latest replay's.
  static constexpr int kGraphSlots = 2;
  virtual bool supports_graphs() const { return false; }
  virtual void capture_begin(int slot) { (void)slot; }
  virtual void capture_end(int slot) { (void)slot; }
  virtual void graph_launch(int slot) { (void)slot; }

  // Timing: a mark is taken in stream order (CPU: steady_clock now; CUDA: an
  // event). mark_ns is valid after synchronize() and is relative to the
  // backend's creation, in nanoseconds.
  using Mark = std::int64_t;
  virtual Mark mark() = 0;
  virtual std::int64_t mark_ns(Mark m) = 0;
  // Every mark taken so far becomes invalid and its resources are reused
  // (the recorder calls this after resolving a step), except marks that
  // outlive the step: those stay readable until re-taken (CPU: every mark, a
  // plain time; CUDA: marks of a graph, until that graph's next replay).
  virtual void recycle_marks() {}
  virtual bool mark_outlives_step(Mark m) const { (void)m; return false; }
  virtual void synchronize() = 0;  // waits for every stream
};

std::unique_ptr<Backend> make_cpu_backend();

// The hardware a CPU-backend run records (trace header, config.json): this
// host as the device. name "cpu"; gpu_name says there is no GPU and the run
// used one stream; sm_count = the cores the kernels use
// (kernels::cpu_threads()); gpu_mem_bytes = host_mem_bytes = physical RAM;
// cpu_name = /proc/cpuinfo's model name. Rates the contract requires but a
// CPU run does not measure (HBM, tensor FLOP/s, PCIe) are marked "estimate"
// in provenance; host_reserve_bytes = min(12 GiB, RAM / 4).
config::HardwareConfig host_cpu_hardware();
// "cpu" or "cuda"; "cuda" throws std::runtime_error when built without CUDA
// or when no device is present. A cuda backend runs with `kernels` (its
// stream priority, trace marks and attention grid; every kernel switch of the
// process, kernels/switches.hpp); the cpu backend has none of them.
std::unique_ptr<Backend> make_backend(const std::string& name, const config::KernelOptions& kernels);

// An owned device allocation of `count` elements of T.
template <class T>
class DeviceArray {
 public:
  DeviceArray() = default;
  DeviceArray(Backend& b, std::size_t count)
      : b_(&b), n_(count), p_(static_cast<T*>(count ? b.alloc(count * sizeof(T)) : nullptr)) {}
  ~DeviceArray() { reset(); }
  DeviceArray(DeviceArray&& o) noexcept : b_(o.b_), n_(o.n_), p_(o.p_) { o.p_ = nullptr; o.n_ = 0; }
  DeviceArray& operator=(DeviceArray&& o) noexcept {
    if (this != &o) { reset(); b_ = o.b_; n_ = o.n_; p_ = o.p_; o.p_ = nullptr; o.n_ = 0; }
    return *this;
  }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  T* get() const { return p_; }
  std::size_t size() const { return n_; }
  std::size_t bytes() const { return n_ * sizeof(T); }
  void upload(const T* src, std::size_t count) { b_->to_device(p_, src, count * sizeof(T)); }
  void download(T* dst, std::size_t count) const { b_->to_host(dst, p_, count * sizeof(T)); }

 private:
  void reset() { if (p_) b_->release(p_); p_ = nullptr; }
  Backend* b_ = nullptr;
  std::size_t n_ = 0;
  T* p_ = nullptr;
};

// A view of part of a DeviceArray (not owned).
template <class T>
struct DeviceSpan {
  T* p = nullptr;
  T* get() const { return p; }
};

// An owned pinned host allocation (Backend::alloc_host) of `count` T.
template <class T>
class HostArray {
 public:
  HostArray() = default;
  HostArray(Backend& b, std::size_t count)
      : b_(&b), n_(count), p_(static_cast<T*>(count ? b.alloc_host(count * sizeof(T)) : nullptr)) {}
  ~HostArray() { reset(); }
  HostArray(HostArray&& o) noexcept : b_(o.b_), n_(o.n_), p_(o.p_) { o.p_ = nullptr; o.n_ = 0; }
  HostArray& operator=(HostArray&& o) noexcept {
    if (this != &o) { reset(); b_ = o.b_; n_ = o.n_; p_ = o.p_; o.p_ = nullptr; o.n_ = 0; }
    return *this;
  }
  HostArray(const HostArray&) = delete;
  HostArray& operator=(const HostArray&) = delete;
  T* get() const { return p_; }
  std::size_t size() const { return n_; }

 private:
  void reset() { if (p_) b_->release_host(p_); p_ = nullptr; }
  Backend* b_ = nullptr;
  std::size_t n_ = 0;
  T* p_ = nullptr;
};

}  // namespace foresight::runtime

// Small RAII helpers for the sparse-kernel GPU check and benchmark.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include <cuda_runtime.h>

#include "foresight/kernels/cuda_check.hpp"

namespace foresight::testing {

// Device array of T; poison() fills every byte with `byte` so unwritten
// outputs are caught (0xff: NaN for float and bf16; 0xa5: an invalid index).
template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t n) : n_(n) {
    if (n) FORESIGHT_CUDA_CHECK(cudaMalloc(&p_, n * sizeof(T)));
  }
  explicit DeviceBuffer(const std::vector<T>& v) : DeviceBuffer(v.size()) { upload(v); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr, o.n_ = 0; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    std::swap(p_, o.p_), std::swap(n_, o.n_);
    return *this;
  }
  ~DeviceBuffer() { if (p_) cudaFree(p_); }
  void upload(const std::vector<T>& v) {
    if (n_) FORESIGHT_CUDA_CHECK(cudaMemcpy(p_, v.data(), n_ * sizeof(T), cudaMemcpyHostToDevice));
  }
  std::vector<T> download() const {
    std::vector<T> v(n_);
    if (n_) FORESIGHT_CUDA_CHECK(cudaMemcpy(v.data(), p_, n_ * sizeof(T), cudaMemcpyDeviceToHost));
    return v;
  }
  void poison(int byte) { if (n_) FORESIGHT_CUDA_CHECK(cudaMemset(p_, byte, n_ * sizeof(T))); }
  T* get() const { return p_; }
  std::size_t size() const { return n_; }

 private:
  T* p_ = nullptr;
  std::size_t n_ = 0;
};

// Mapped pinned host array (zero-copy source); device() is the GPU's pointer.
template <class T>
class MappedHostBuffer {
 public:
  explicit MappedHostBuffer(std::size_t n) : n_(n) {
    FORESIGHT_CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&h_), n * sizeof(T), cudaHostAllocMapped));
    FORESIGHT_CUDA_CHECK(cudaHostGetDevicePointer(reinterpret_cast<void**>(&d_), h_, 0));
  }
  MappedHostBuffer(const MappedHostBuffer&) = delete;
  MappedHostBuffer& operator=(const MappedHostBuffer&) = delete;
  ~MappedHostBuffer() { cudaFreeHost(h_); }
  T* host() const { return h_; }
  T* device() const { return d_; }
  std::size_t size() const { return n_; }

 private:
  T* h_ = nullptr;
  T* d_ = nullptr;
  std::size_t n_ = 0;
};

}  // namespace foresight::testing

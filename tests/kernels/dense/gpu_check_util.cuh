// Helpers for the dense GPU check: device buffers with NaN poisoning, and a
// tally of cases that prints one line per case.
#pragma once

#include <cuda_runtime.h>

#include <cstdio>
#include <string>
#include <vector>

#include "foresight/kernels/cuda_check.hpp"

namespace foresight::testing {

// Device copy of a host vector; poison() fills it with 0xFF bytes (bf16 NaN,
// int32 -1) so elements a kernel fails to write are caught.
template <class T>
class DeviceBuffer {
 public:
  explicit DeviceBuffer(std::size_t n) : n_(n) { FORESIGHT_CUDA_CHECK(cudaMalloc(&ptr_, bytes())); }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) { upload(host); }
  ~DeviceBuffer() { cudaFree(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  T* get() const { return static_cast<T*>(ptr_); }
  std::size_t bytes() const { return n_ * sizeof(T) + (n_ == 0 ? 1 : 0); }
  void upload(const std::vector<T>& host) {
    FORESIGHT_CUDA_CHECK(cudaMemcpy(ptr_, host.data(), n_ * sizeof(T), cudaMemcpyHostToDevice));
  }
  void poison() { FORESIGHT_CUDA_CHECK(cudaMemset(ptr_, 0xFF, n_ * sizeof(T))); }
  std::vector<T> download() const {
    FORESIGHT_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<T> host(n_);
    FORESIGHT_CUDA_CHECK(cudaMemcpy(host.data(), ptr_, n_ * sizeof(T), cudaMemcpyDeviceToHost));
    return host;
  }

 private:
  void* ptr_ = nullptr;
  std::size_t n_;
};

class Tally {
 public:
  // err: rel L2 error (or mismatch count for exact outputs); passes when err <= tol.
  void report(const std::string& op, const std::string& shape, double err, double tol) {
    const bool ok = err <= tol;
    (ok ? passed_ : failed_)++;
    std::printf("%-4s %-22s %-48s err %.3e  tol %.1e\n", ok ? "ok" : "FAIL", op.c_str(), shape.c_str(),
                err, tol);
    std::fflush(stdout);
  }
  // A case that threw (a CUDA error, a rejected shape) counts as failed.
  void error(const std::string& op, const std::string& shape, const std::string& what) {
    ++failed_;
    std::printf("FAIL %-22s %-48s error: %s\n", op.c_str(), shape.c_str(), what.c_str());
    std::fflush(stdout);
  }
  int finish() const {
    std::printf("%d passed, %d failed\n", passed_, failed_);
    return failed_ == 0 ? 0 : 1;
  }

 private:
  int passed_ = 0, failed_ = 0;
};

template <class T>
double mismatches(const std::vector<T>& a, const std::vector<T>& b) {
  double n = 0;
  for (std::size_t i = 0; i < a.size(); ++i) n += (a[i] == b[i]) ? 0 : 1;
  return n;
}
inline double bit_mismatches(const std::vector<bf16>& a, const std::vector<bf16>& b) {
  double n = 0;
  for (std::size_t i = 0; i < a.size(); ++i) n += a[i].bits == b[i].bits ? 0 : 1;
  return n;
}

}  // namespace foresight::testing

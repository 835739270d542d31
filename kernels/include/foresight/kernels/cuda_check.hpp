// Error checking for CUDA and cuBLAS calls (include only from .cu / CUDA-aware
// sources). Failures throw std::runtime_error naming the call, file and line,
// so callers can report them instead of crashing.
#pragma once

#include <stdexcept>
#include <string>

#include <cuda_runtime.h>

#define FORESIGHT_CUDA_CHECK(expr)                                                   \
  do {                                                                               \
    cudaError_t foresight_err_ = (expr);                                             \
    if (foresight_err_ != cudaSuccess) {                                             \
      throw std::runtime_error(std::string("CUDA error: ") + #expr + ": " +          \
                               cudaGetErrorString(foresight_err_) + " at " +         \
                               __FILE__ + ":" + std::to_string(__LINE__));           \
    }                                                                                \
  } while (0)

// After a kernel launch: catches launch-configuration errors immediately.
#define FORESIGHT_CUDA_CHECK_LAUNCH() FORESIGHT_CUDA_CHECK(cudaGetLastError())

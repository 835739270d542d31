// For GPU test programs: exit 77 (ctest shows "skipped") with a visible
// message when no CUDA device is present.
#pragma once

#include <cstdio>
#include <cstdlib>

#include <cuda_runtime.h>

namespace foresight::testing {
inline void require_gpu_or_skip(const char* what) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0) {
    std::printf("SKIPPED: %s needs a CUDA device and none is present\n", what);
    std::fflush(stdout);
    std::exit(77);
  }
}
}  // namespace foresight::testing

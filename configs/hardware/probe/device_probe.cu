// Device probe behind the "measured" numbers of configs/hardware/h200.toml:
// device properties, pinned H2D/D2H cudaMemcpyAsync GB/s by size, D2D GB/s.
// Build and run: nvcc -arch=sm_90 -o probe device_probe.cu && ./probe
#include <cuda_runtime.h>

#include <cstdio>
int main() {
  cudaDeviceProp p;
  cudaGetDeviceProperties(&p, 0);
  printf("%s sms=%d l2=%d pers=%d mem=%zu\n", p.name, p.multiProcessorCount, p.l2CacheSize,
         p.persistingL2CacheMaxSize, p.totalGlobalMem);
  size_t f, t;
  cudaMemGetInfo(&f, &t);
  printf("free=%zu\n", f);
  size_t M = 256u << 20;
  void *h, *d, *e;
  cudaMallocHost(&h, M);
  cudaMalloc(&d, M);
  cudaMalloc(&e, M);
  cudaStream_t s;
  cudaStreamCreate(&s);
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  float ms;
  for (size_t z : {4096ul, 65536ul, 1ul << 20, 16ul << 20, 256ul << 20})
    for (int r = 0; r < 2; r++) {
      int n = z <= (1u << 20) ? 200 : 20;
      auto k = r ? cudaMemcpyDeviceToHost : cudaMemcpyHostToDevice;
      for (int i = 0; i < 5; i++) cudaMemcpyAsync(r ? h : d, r ? d : h, z, k, s);
      cudaEventRecord(a, s);
      for (int i = 0; i < n; i++) cudaMemcpyAsync(r ? h : d, r ? d : h, z, k, s);
      cudaEventRecord(b, s);
      cudaEventSynchronize(b);
      cudaEventElapsedTime(&ms, a, b);
      printf("%s %zu %.2f GB/s %.2f us\n", r ? "d2h" : "h2d", z, z * n / (ms * 1e6), ms * 1e3 / n);
    }
  for (int i = 0; i < 3; i++) cudaMemcpyAsync(e, d, M, cudaMemcpyDeviceToDevice, s);
  cudaEventRecord(a, s);
  for (int i = 0; i < 20; i++) cudaMemcpyAsync(e, d, M, cudaMemcpyDeviceToDevice, s);
  cudaEventRecord(b, s);
  cudaEventSynchronize(b);
  cudaEventElapsedTime(&ms, a, b);
  printf("d2d rw %.1f GB/s\n", 2.0 * M * 20 / (ms * 1e6));
}

// parallel_for for the CPU references, on the pool of kernels/cpu/thread_pool.cpp.
// Determinism is the caller's part: each index must write its own outputs and
// read nothing another index writes, so any thread count and any assignment
// of indices to threads give the same bits.
#pragma once

#include <cstdint>
#include <type_traits>

namespace foresight::kernels::detail {

using IndexFn = void (*)(void* ctx, std::int64_t i);

// Runs fn(ctx, i) for i in [0, n) on up to `threads` threads (the caller is
// one of them), in runs of `grain` indices taken in turn from a shared
// counter; returns when every index is done. The first exception (by time) is
// rethrown on the caller once all threads stopped.
void run_on_pool(std::int64_t n, std::int64_t grain, int threads, IndexFn fn, void* ctx);

int pool_threads();  // kernels::cpu_threads()

// Calls body(i) for i in [0, n) on the cpu_threads() pool. Runs inline when
// n <= grain or on one thread. Validate inputs before calling, so an error
// does not depend on timing.
template <class Body>
void parallel_for(std::int64_t n, std::int64_t grain, Body&& body) {
  if (grain < 1) grain = 1;
  const int threads = pool_threads();
  if (n <= grain || threads <= 1) {
    for (std::int64_t i = 0; i < n; ++i) body(i);
    return;
  }
  using B = std::remove_reference_t<Body>;
  run_on_pool(n, grain, threads, [](void* ctx, std::int64_t i) { (*static_cast<B*>(ctx))(i); },
              const_cast<void*>(static_cast<const void*>(&body)));
}

}  // namespace foresight::kernels::detail

// How many threads the CPU references use (a std::thread pool,
// kernels/cpu/thread_pool.cpp). Results never depend on it: the parallel
// references (gemm/linear, prefill and decode attention) split their work
// into items fixed by the shapes alone (output
// column chunks, (query, head) pairs, (sequence, KV head) rows), each item is
// computed by one thread in the single-threaded order, and no sum crosses
// items. tests/kernels_* compare 1 thread against several bit for bit.
#pragma once

namespace foresight::kernels {

// Threads a parallel CPU reference uses, the caller included (>= 1).
// Default: FORESIGHT_CPU_THREADS if set to a positive integer, else every core.
int cpu_threads();

// Sets the count for every later call (process-wide); n <= 0: every core.
void set_cpu_threads(int n);

}  // namespace foresight::kernels

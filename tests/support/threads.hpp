// The CPU references must give the same bits on any thread count
// (foresight/kernels/cpu_threads.hpp). same_bits_on_threads runs a kernel
// call once on 1 thread and again on each of `counts` threads (more than the
// machine's cores is fine: OpenMP oversubscribes) and says whether every
// output bit agreed. The caller's thread count is restored.
#pragma once

#include <algorithm>
#include <initializer_list>
#include <vector>

#include "foresight/kernels/bf16.hpp"
#include "foresight/kernels/cpu_threads.hpp"

namespace foresight::testing {

// run() computes the kernel and returns its output (fresh each call).
template <class Run>
bool same_bits_on_threads(Run run, std::initializer_list<int> counts = {2, 3, 7}) {
  const int saved = kernels::cpu_threads();
  kernels::set_cpu_threads(1);
  const std::vector<bf16> one = run();
  bool same = true;
  for (int n : counts) {
    kernels::set_cpu_threads(n);
    const std::vector<bf16> many = run();
    same = same && many.size() == one.size() &&
           std::equal(one.begin(), one.end(), many.begin(), [](bf16 a, bf16 b) { return a.bits == b.bits; });
  }
  kernels::set_cpu_threads(saved);
  return same;
}

}  // namespace foresight::testing

// Statistics shared by the trace summary, the simulator's metrics and the
// runtime's run folder.
#pragma once

#include <cstddef>
#include <vector>

namespace foresight::common {

// 1-based nearest rank of the p-th percentile among n sorted values
// (p in (0, 100]), clamped to [1, n]; n must be > 0.
std::size_t nearest_rank(std::size_t n, double p);

// Nearest-rank percentile of `v` (a sorted copy is taken); NaN when empty.
double percentile(std::vector<double> v, double p);

}  // namespace foresight::common

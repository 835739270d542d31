// Percentiles (see common/stats.hpp).
#include "foresight/common/stats.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace foresight::common {

std::size_t nearest_rank(std::size_t n, double p) {
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(n)));
  return std::clamp<std::size_t>(rank, 1, n);
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(v.begin(), v.end());
  return v[nearest_rank(v.size(), p) - 1];
}

}  // namespace foresight::common

// Rounding to the nearest integer, halves away from zero, without a libm call
// in hot loops.
#pragma once

#include <cstdint>

namespace foresight::sim {

// std::llround(x) for |x| < 2^63 (the same result, bit for bit): the
// truncation t of x is exact, and so is x - t (Sterbenz), so comparing that
// fraction with 0.5 decides the rounding exactly. NaN and values out of range
// give INT64_MIN, as llround does on x86-64.
inline std::int64_t round_half_away(double x) {
  if (!(x > -9.2233720368547758e18 && x < 9.2233720368547758e18)) return INT64_MIN;  // +-2^63
  std::int64_t t = static_cast<std::int64_t>(x);
  const double frac = x - static_cast<double>(t);
  if (frac >= 0.5) ++t;
  else if (frac <= -0.5) --t;
  return t;
}

}  // namespace foresight::sim

// Human-readable numbers (see format.hpp).
#include "format.hpp"

#include <cmath>

#include <fmt/core.h>

namespace foresight::cli {

namespace {
bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}
bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

bool is_fraction(const std::string& name) {
  return ends_with(name, "rate") || ends_with(name, "_error") || ends_with(name, "_share") ||
         name == "bound.compute" || name == "bound.pcie" || name == "bound.host";
}
}  // namespace

std::string format_ms(double ms) {
  if (std::isnan(ms)) return "-";
  const double a = std::fabs(ms);
  if (a >= 100) return fmt::format("{:.1f} ms", ms);
  if (a >= 1) return fmt::format("{:.3f} ms", ms);
  return fmt::format("{:.4f} ms", ms);
}

std::string format_bytes(double bytes) {
  if (std::isnan(bytes)) return "-";
  const double a = std::fabs(bytes);
  constexpr double kKi = 1024.0, kMi = kKi * 1024, kGi = kMi * 1024;
  if (a >= kGi) return fmt::format("{:.2f} GiB", bytes / kGi);
  if (a >= kMi) return fmt::format("{:.1f} MiB", bytes / kMi);
  if (a >= kKi) return fmt::format("{:.1f} KiB", bytes / kKi);
  return fmt::format("{:.0f} B", bytes);
}

std::string format_metric(const std::string& name, double value) {
  if (std::isnan(value)) return "-";
  if (has(name, "bytes")) return format_bytes(value);
  if (ends_with(name, "_ms") || ends_with(name, ".ms") || has(name, "_ms.")) return format_ms(value);
  if (is_fraction(name)) return fmt::format("{:.2f}%", 100 * value);
  if (ends_with(name, "gbps")) return fmt::format("{:.2f} GB/s", value);
  if (ends_with(name, "tokens_per_s")) return fmt::format("{:.1f} tokens/s", value);
  if (value == std::floor(value) && std::fabs(value) < 1e15) return fmt::format("{:.0f}", value);
  return fmt::format("{:.4g}", value);
}

}  // namespace foresight::cli

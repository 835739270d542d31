// Process-wide kernel switches (see switches.hpp).
#include "foresight/kernels/switches.hpp"

#include <cstdlib>
#include <mutex>

namespace foresight::kernels {

namespace {
std::mutex& switches_mutex() {
  static std::mutex mu;
  return mu;
}
std::map<std::string, std::string>& switches() {
  static std::map<std::string, std::string> values;
  return values;
}
}  // namespace

std::optional<std::string> kernel_switch(const char* name) {
  {
    const std::lock_guard<std::mutex> lock(switches_mutex());
    const auto& s = switches();
    if (!s.empty()) {
      const auto it = s.find(name);
      return it == s.end() ? std::nullopt : std::optional<std::string>(it->second);
    }
  }
  const char* env = std::getenv(name);
  return env ? std::optional<std::string>(env) : std::nullopt;
}

void set_kernel_switches(std::map<std::string, std::string> values) {
  const std::lock_guard<std::mutex> lock(switches_mutex());
  switches() = std::move(values);
}

}  // namespace foresight::kernels

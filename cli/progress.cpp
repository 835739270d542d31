// The shared progress bar (see progress.hpp).
#include "progress.hpp"

#include <algorithm>
#include <memory>
#include <mutex>

#include <fmt/core.h>
#include <unistd.h>

namespace foresight::cli {

namespace {
bool g_quiet = false;

struct BarState {
  std::mutex mu;
  int drawn = -1;      // filled cells last drawn
  std::string what;
  bool closed = false;  // the final line was drawn
};
}  // namespace

bool quiet() { return g_quiet; }
void set_quiet(bool q) { g_quiet = q; }

common::Progress progress_bar_to(std::FILE* out, const std::string& label) {
  auto state = std::make_shared<BarState>();
  return [out, label, state](std::size_t done, std::size_t total, const std::string& what) {
    constexpr int kWidth = 30;
    const int filled = total ? static_cast<int>(kWidth * std::min(done, total) / total) : kWidth;
    std::lock_guard<std::mutex> lock(state->mu);
    if (state->closed) return;
    const bool ended = done >= total;
    const bool news = total <= 100 && what != state->what;
    if (filled == state->drawn && !ended && !news) return;
    state->drawn = filled;
    state->what = what;
    const std::string shown = what.size() > 40 ? what.substr(0, 37) + "..." : what;
    fmt::print(out, "\r{} [{}{}] {}/{} {:<40}", label, std::string(static_cast<std::size_t>(filled), '#'),
               std::string(static_cast<std::size_t>(kWidth - filled), '.'), done, total, shown);
    if (ended) fmt::print(out, "\n");
    state->closed = ended;
    std::fflush(out);
  };
}

common::Progress progress_bar(const std::string& label) {
  if (g_quiet || !isatty(fileno(stderr))) return {};
  return progress_bar_to(stderr, label);
}

}  // namespace foresight::cli

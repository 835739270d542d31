// Edit distance and "did you mean" (see common/text.hpp).
#include "foresight/common/text.hpp"

#include <algorithm>
#include <cctype>
#include <utility>

namespace foresight::common {

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

namespace {
// Lower case without '_' and '-'.
std::string normalized(const std::string& s) {
  std::string out;
  for (char c : s)
    if (c != '_' && c != '-') out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}
}  // namespace

std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates) {
  const std::string nw = normalized(word);
  std::string best;
  std::pair<int, std::size_t> best_rank{2, 0};
  for (const auto& c : candidates) {
    const std::string nc = normalized(c);
    const bool contains = !nw.empty() && !nc.empty() &&
                          (nc.find(nw) != std::string::npos || nw.find(nc) != std::string::npos);
    const std::size_t d = edit_distance(nw, nc);
    if (!contains && d > std::max<std::size_t>(2, std::max(nw.size(), nc.size()) / 3)) continue;
    const std::pair<int, std::size_t> rank{contains ? 0 : 1, d};
    if (best.empty() || rank < best_rank) {
      best = c;
      best_rank = rank;
    }
  }
  return best;
}

}  // namespace foresight::common

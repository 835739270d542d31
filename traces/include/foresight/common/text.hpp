// Text helpers for error messages.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace foresight::common {

// Levenshtein distance between a and b (insertions, deletions, substitutions).
std::size_t edit_distance(const std::string& a, const std::string& b);

// The candidate closest to `word` for a "did you mean" hint, or "" when none
// is close. Case, '_' and '-' are ignored (so "pcie-gbps" suggests
// "pcie_gbps"); a candidate containing the word (or contained in it) ranks
// first, then edit distance, which must be at most max(2, length / 3).
std::string did_you_mean(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace foresight::common

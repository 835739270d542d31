// Helpers for tests that write files: a fresh folder per test and process,
// a file's text, the number of entries in a folder.
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <unistd.h>

namespace foresight::testing {

// <tmp>/foresight-<name>-<pid>, removed if it exists (not created).
inline std::filesystem::path fresh_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("foresight-" + name + "-" + std::to_string(::getpid()));
  std::filesystem::remove_all(d);
  return d;
}

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::size_t entries(const std::filesystem::path& d) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(d)) ++n;
  return n;
}

}  // namespace foresight::testing

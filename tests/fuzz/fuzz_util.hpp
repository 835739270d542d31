// Shared by the libFuzzer harnesses (tests/fuzz/README.md): the input as a
// temporary file for parsers that take a path, and the contract every parser
// keeps on bad input: it throws an input error (common::InputError or
// std::invalid_argument, which the CLI maps to exit 2, naming the file and
// field). Anything else (another exception type, a crash, a sanitizer
// report, a hang) is a finding.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include <unistd.h>

#include "foresight/common/errors.hpp"

namespace foresight::fuzz {

// `data` written to a per-process file named with `suffix` (".h5", ".toml",
// ...), replaced on each call; the same path every time.
inline std::filesystem::path as_file(const std::uint8_t* data, std::size_t size, const std::string& suffix) {
  const std::filesystem::path p = std::filesystem::temp_directory_path() /
                                  ("foresight-fuzz-" + std::to_string(::getpid()) + suffix);
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  f.close();
  if (!f) std::abort();
  return p;
}

// Runs `parse`; an input error is the expected outcome of bad bytes, any
// other exception aborts (libFuzzer saves the input as a crash).
template <class F>
void expect_input_errors_only(F&& parse) {
  try {
    parse();
  } catch (const common::InputError&) {
  } catch (const std::invalid_argument&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "not an input error: %s\n", e.what());
    std::abort();
  }
}

}  // namespace foresight::fuzz

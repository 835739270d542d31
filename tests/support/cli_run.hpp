// Runs the foresight executable from a test, output to a log file.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

#include <sys/wait.h>

namespace foresight::testing {

// `bin args > log 2>&1` through the shell; the exit code, -1 if it did not exit.
inline int run_cli(const std::string& bin, const std::string& args, const std::filesystem::path& log) {
  const std::string cmd = bin + " " + args + " > " + log.string() + " 2>&1";
  const int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

}  // namespace foresight::testing

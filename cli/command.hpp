// Subcommand registry. Each cli/cmd_*.cpp registers itself with a static
// CommandRegistrar; main() builds the CLI11 app from the registry, so adding a
// subcommand never edits a shared file.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "errors.hpp"  // exit codes

namespace foresight::cli {

struct Command {
  std::string name;
  int order;  // position in --help
  // Adds the subcommand to `app` and returns the function to run when it is
  // selected (returns the process exit code).
  std::function<std::function<int()>(CLI::App& app)> attach;
};

std::vector<Command>& registry();

struct CommandRegistrar {
  explicit CommandRegistrar(Command c) { registry().push_back(std::move(c)); }
};

}  // namespace foresight::cli

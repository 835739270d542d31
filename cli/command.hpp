// Subcommand registry. Each cli/cmd_*.cpp registers itself with a static
// CommandRegistrar; main() builds the CLI11 app from the registry, so adding a
// subcommand never edits a shared file.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

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

// Exit codes shared by all subcommands; a command returns kExitOk or throws,
// and cli/errors.hpp maps the error's type to a code.
inline constexpr int kExitOk = 0;
inline constexpr int kExitBadInput = 2;   // malformed file, config or option value
inline constexpr int kExitFailed = 1;     // the work itself failed

}  // namespace foresight::cli

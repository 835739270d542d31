// The single `foresight` executable: builds one CLI11 app from the subcommand
// registry (cli/command.hpp) and runs the selected subcommand.
#include <algorithm>
#include <exception>
#include <iostream>

#include <fmt/core.h>

#include "command.hpp"

namespace foresight::cli {
std::vector<Command>& registry() {
  static std::vector<Command> commands;
  return commands;
}
}  // namespace foresight::cli

int main(int argc, char** argv) {
  using namespace foresight::cli;
  CLI::App app{
      "foresight: sparse-attention KV-offload decoding, traced on a GPU and replayed\n"
      "in a simulator for what-if studies and capacity plans.\n"
      "Run `foresight <command> --help` for each command's options."};
  app.set_version_flag("--version", std::string("foresight ") + FORESIGHT_VERSION);
  app.require_subcommand(1);

  auto& commands = registry();
  std::sort(commands.begin(), commands.end(),
            [](const Command& a, const Command& b) { return a.order < b.order; });
  std::vector<std::pair<CLI::App*, std::function<int()>>> runners;
  for (auto& c : commands) {
    auto run = c.attach(app);
    runners.emplace_back(app.get_subcommand(c.name), std::move(run));
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every command-line error exits 2 (bad input).
    return app.exit(e) == 0 ? kExitOk : kExitBadInput;
  }
  for (auto& [sub, run] : runners) {
    if (sub->parsed()) {
      try {
        return run();
      } catch (const std::exception& e) {
        fmt::print(stderr, "foresight {}: error: {}\n", sub->get_name(), e.what());
        return kExitFailed;
      }
    }
  }
  return kExitFailed;
}

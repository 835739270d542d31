// The single `foresight` executable: builds one CLI11 app from the subcommand
// registry (cli/command.hpp), gives every command --quiet, and runs the
// selected one through the shared error handler (cli/errors.hpp).
#include <algorithm>
#include <string>

#include <fmt/core.h>

#include "command.hpp"
#include "errors.hpp"
#include "progress.hpp"

namespace foresight::cli {
std::vector<Command>& registry() {
  static std::vector<Command> commands;
  return commands;
}
}  // namespace foresight::cli

namespace {
// " <command>" of the subcommand on the command line so far, "" if none.
std::string selected_name(const CLI::App& app) {
  for (const CLI::App* sub : app.get_subcommands()) return " " + sub->get_name();
  return "";
}
}  // namespace

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
  static bool quiet_flag = false;
  for (auto& c : commands) {
    auto run = c.attach(app);
    CLI::App* sub = app.get_subcommand(c.name);
    sub->add_flag("--quiet", quiet_flag,
                  "No progress on stderr (there is none either when stderr is not a terminal)");
    runners.emplace_back(sub, std::move(run));
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0 (CLI11 prints them); every command-line
    // error (unknown option, bad value, missing argument) exits 2 (bad input)
    // with the one error format, never CLI11's own codes (104, 106, 109).
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e) == 0 ? kExitOk : kExitBadInput;
    fmt::print(stderr, "foresight{}: error: {}\nRun `foresight{} --help` for the options.\n", selected_name(app),
               e.what(), selected_name(app));
    return kExitBadInput;
  } catch (const std::exception& e) {
    // An option's callback threw (a value it refused): the same handler as a
    // command's body, given a body that rethrows the exception being handled.
    return run_guarded(selected_name(app).empty() ? "" : selected_name(app).substr(1), [&]() -> int { throw; });
  }
  set_quiet(quiet_flag);
  for (auto& [sub, run] : runners)
    if (sub->parsed()) return run_guarded(sub->get_name(), run);
  return kExitFailed;
}

// The one error handler of every command: a command's body throws, and this
// maps the error's type to an exit code and prints one message,
// "foresight <command>: error: <message>", on stderr. Messages come from the
// libraries and name the file (or option) and the field.
#pragma once

#include <exception>
#include <functional>
#include <string>

namespace foresight::cli {

// Exit codes shared by all commands; a command returns kExitOk or throws.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;    // the work itself failed, or an output could not be written
inline constexpr int kExitBadInput = 2;  // malformed file, config, trace, study or option value

// Exit code of an error:
//   kExitBadInput (2): common::InputError (config::ConfigError,
//     trace::TraceError, runtime::WeightsError, runtime::MemoryError,
//     common::OutputPathError: an output path that cannot be used),
//     std::invalid_argument (option values, study files, scenarios) and
//     std::filesystem::filesystem_error (a folder that cannot be created
//     where an option names it: --out under a file, without permission);
//   kExitFailed (1): common::WriteError (an output could not be written: a
//     full disk) and any other exception (the work itself failed).
int exit_code_of(const std::exception& e);

// The message printed for `e`: what() but, for a filesystem_error, "PATH:
// operation: reason" instead of libstdc++'s "filesystem error: ...".
std::string message_of(const std::exception& e);

// Runs `body` (a command) and returns its exit code, or the code of what it
// threw after printing the message.
int run_guarded(const std::string& command, const std::function<int()>& body);

}  // namespace foresight::cli

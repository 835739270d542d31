// The one error handler of every command: a command's body throws, and this
// maps the error's type to an exit code and prints one message,
// "foresight <command>: error: <message>", on stderr. Messages come from the
// libraries and name the file (or option) and the field.
#pragma once

#include <exception>
#include <functional>
#include <string>

namespace foresight::cli {

// Exit code of an error:
//   kExitBadInput (2): common::InputError (config::ConfigError,
//     trace::TraceError, runtime::WeightsError, runtime::MemoryError) and
//     std::invalid_argument (option values, study files, scenarios);
//   kExitFailed (1): common::WriteError (an output could not be written) and
//     any other exception (the work itself failed).
int exit_code_of(const std::exception& e);

// Runs `body` (a command) and returns its exit code, or the code of what it
// threw after printing the message.
int run_guarded(const std::string& command, const std::function<int()>& body);

}  // namespace foresight::cli

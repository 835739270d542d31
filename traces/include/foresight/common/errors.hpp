// Error types every module shares, so one handler (cli/errors.hpp) can map a
// failure to an exit code whatever library threw it.
#pragma once

#include <stdexcept>

namespace foresight::common {

// Bad input: a malformed or inconsistent file, config, trace, checkpoint,
// study or option value. The message names the file (or option) and the
// field. config::ConfigError, trace::TraceError, runtime::WeightsError and
// runtime::MemoryError derive from it. The CLI exits 2.
struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// An output could not be written (a full disk, an I/O error). The message
// names the file. The CLI exits 1.
struct WriteError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// An output path the user gave cannot be used: a file in the way of its
// folder, no such folder, no permission, a read-only file system. Bad input:
// the CLI exits 2 (as for a folder that cannot be created,
// std::filesystem::filesystem_error). The message names the path.
struct OutputPathError : InputError {
  using InputError::InputError;
};

}  // namespace foresight::common

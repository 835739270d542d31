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

// An output could not be written (disk full, permissions, a folder in the
// way). The message names the file. The CLI exits 1.
struct WriteError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace foresight::common

// The message of the ConfigError `f` throws, or "(no error)": for tests that
// check an error names the file, key and value.
#pragma once

#include <string>

#include "foresight/config/load.hpp"

namespace foresight::testing {

std::string config_error_of(auto&& f) {
  try {
    f();
  } catch (const config::ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace foresight::testing

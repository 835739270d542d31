// The shared error handler (see errors.hpp).
#include "errors.hpp"

#include <stdexcept>

#include <fmt/core.h>

#include "foresight/common/errors.hpp"

namespace foresight::cli {

int exit_code_of(const std::exception& e) {
  if (dynamic_cast<const common::InputError*>(&e)) return kExitBadInput;
  if (dynamic_cast<const std::invalid_argument*>(&e)) return kExitBadInput;
  return kExitFailed;
}

int run_guarded(const std::string& command, const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    fmt::print(stderr, "foresight {}: error: {}\n", command, e.what());
    return exit_code_of(e);
  }
}

}  // namespace foresight::cli

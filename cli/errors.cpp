// The shared error handler (see errors.hpp).
#include "errors.hpp"

#include <filesystem>
#include <stdexcept>
#include <string>

#include <fmt/core.h>

#include "foresight/common/errors.hpp"

namespace foresight::cli {

int exit_code_of(const std::exception& e) {
  if (dynamic_cast<const common::InputError*>(&e)) return kExitBadInput;
  if (dynamic_cast<const std::invalid_argument*>(&e)) return kExitBadInput;
  if (dynamic_cast<const std::filesystem::filesystem_error*>(&e)) return kExitBadInput;
  return kExitFailed;
}

std::string message_of(const std::exception& e) {
  const auto* fe = dynamic_cast<const std::filesystem::filesystem_error*>(&e);
  if (!fe) return e.what();
  // libstdc++ says "filesystem error: <operation>: <reason> [path1] [path2]";
  // put the path first, as every other message does.
  std::string op = fe->what();
  const std::string prefix = "filesystem error: ", reason = fe->code().message();
  if (op.rfind(prefix, 0) == 0) op.erase(0, prefix.size());
  if (const auto at = op.find(": " + reason); at != std::string::npos) op.erase(at);
  std::string where = fe->path1().empty() ? std::string("(no path)") : fe->path1().string();
  if (!fe->path2().empty()) where += " -> " + fe->path2().string();
  return fmt::format("{}: {}: {}", where, op, reason);
}

int run_guarded(const std::string& command, const std::function<int()>& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    fmt::print(stderr, "foresight {}: error: {}\n", command, message_of(e));
    return exit_code_of(e);
  }
}

}  // namespace foresight::cli

// Parameter checks shared by CPU references and CUDA launchers: a bad size or
// a missing pointer throws std::invalid_argument naming the op and the field.
#pragma once

#include <stdexcept>
#include <string>

namespace foresight::kernels {

inline void require_param(bool ok, const char* op, const char* field, const char* why) {
  if (!ok) throw std::invalid_argument(std::string(op) + ": " + field + " " + why);
}

}  // namespace foresight::kernels

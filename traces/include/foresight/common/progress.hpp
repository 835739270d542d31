// Progress of a long job. Libraries never print progress; they call a
// Progress the caller passes (the CLI draws one bar: cli/progress.hpp).
#pragma once

#include <cstddef>
#include <functional>
#include <string>

namespace foresight::common {

// `done` of `total` units finished; `what` names the unit in progress ("" when
// none). May be called from several threads at once; empty = no reporting.
using Progress = std::function<void(std::size_t done, std::size_t total, const std::string& what)>;

}  // namespace foresight::common

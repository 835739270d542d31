// The one progress reporter of every command: a bar on stderr,
// "<label> [#####.....] done/total <what>", redrawn in place, and nothing at
// all when stderr is not a terminal or the command was given --quiet.
// Libraries report through common::Progress and never print.
#pragma once

#include <cstdio>
#include <string>

#include "foresight/common/progress.hpp"

namespace foresight::cli {

// --quiet of the running command (every command has it; main.cpp adds it).
bool quiet();
void set_quiet(bool q);

// A progress callback drawing the shared bar under `label`, or an empty one
// (no reporting) when quiet() or stderr is not a terminal.
common::Progress progress_bar(const std::string& label);

// The bar writing to `out` unconditionally (for tests and progress_bar).
// Thread-safe; redraws only when the bar grows, `what` changes on a short
// job (<= 100 units), or the job ends (then a newline).
common::Progress progress_bar_to(std::FILE* out, const std::string& label);

}  // namespace foresight::cli

// The kernel options (config::KernelOptions), the same on every command that
// makes a run: `run` executes with them, `synth` models a run made with them.
// The FORESIGHT_* variables set the defaults; --kernel KEY=VALUE wins.
#pragma once

#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "foresight/config/kernel_options.hpp"

namespace foresight::cli {

struct KernelArgs {
  std::vector<std::string> kernel;  // --kernel KEY=VALUE, in order

  // The environment's options with every --kernel applied in order; throws
  // config::ConfigError naming the option or variable and the key.
  config::KernelOptions resolve() const;
  // Adds --kernel to `sub`; `what` says what the options do on that command.
  void add_to(CLI::App* sub, const std::string& what);
};

}  // namespace foresight::cli

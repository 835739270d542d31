#include "kernel_args.hpp"

#include <fmt/format.h>

namespace foresight::cli {

config::KernelOptions KernelArgs::resolve() const {
  config::KernelOptions k = config::kernel_options_from_env();
  for (const auto& kv : kernel) config::set_kernel_option(k, kv, "--kernel");
  return k;
}

void KernelArgs::add_to(CLI::App* sub, const std::string& what) {
  std::string h = what + " KEY=VALUE, repeatable; recorded in the trace (run.kernels) and config.json. The "
                         "FORESIGHT_* variable named sets the same (this option wins).";
  const auto defaults = config::kernel_option_env(config::KernelOptions{});
  for (const auto& i : config::kernel_option_infos())
    h += fmt::format("\n  {}={} (default {}; {}): {}", i.key, i.values, defaults.at(i.env), i.env, i.help);
  sub->add_option("--kernel", kernel, h)->type_name("KEY=VALUE");
}

}  // namespace foresight::cli

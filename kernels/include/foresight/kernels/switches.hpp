// The switches that pick a CUDA kernel variant (FORESIGHT_DECODE_KERNEL,
// FORESIGHT_PREFILL_ATTENTION, FORESIGHT_GEMM_TUNE, FORESIGHT_LINEAR_FUSED,
// FORESIGHT_LINEAR_PDL; what each does: config/kernel_options.hpp). A kernel
// reads its switch with kernel_switch(): the value set for the whole process
// by set_kernel_switches (the runtime sets every switch from the run's
// config::KernelOptions, so the trace records what ran), else the environment
// variable of that name (benchmarks and GPU checks compare variants so).
#pragma once

#include <map>
#include <optional>
#include <string>

namespace foresight::kernels {

// The switch's value; nullopt when neither set nor in the environment.
std::optional<std::string> kernel_switch(const char* name);
// Replaces the process-wide switches (name -> value); an empty map returns
// every switch to the environment. Thread-safe.
void set_kernel_switches(std::map<std::string, std::string> values);

}  // namespace foresight::kernels

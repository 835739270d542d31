// Model and hardware configs the plan needs. Until the config loaders
// (config/load.hpp, branch `configs`) are linked in, the plan resolves names
// from this small built-in table; every number states its source.
#pragma once

#include <string>
#include <vector>

#include "foresight/config/hardware.hpp"
#include "foresight/config/model.hpp"

namespace foresight::report {

// "minicpm4.1-8b" (case-insensitive; "MiniCPM4.1-8B" works). Throws
// std::invalid_argument naming the known models.
config::ModelConfig builtin_model(const std::string& name);
// "h100-sxm" (measured, /work/shared/reference/measured-h100.md), "h200-sxm",
// "a100-sxm-80g", "h100-pcie-gen4" (datasheet scaled). Throws
// std::invalid_argument naming the known configs.
config::HardwareConfig builtin_hardware(const std::string& name);
std::vector<std::string> builtin_hardware_names();

}  // namespace foresight::report

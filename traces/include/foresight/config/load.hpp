// Loading and saving configs. Every loader validates types, ranges and unknown
// keys; errors are ConfigError with a message naming the file and the key
// (and a did-you-mean for unknown keys).
#pragma once

#include <filesystem>
#include <stdexcept>
#include <string>

#include "foresight/common/errors.hpp"

#include <nlohmann/json_fwd.hpp>

#include "foresight/config/hardware.hpp"
#include "foresight/config/model.hpp"
#include "foresight/config/run.hpp"

namespace foresight::config {

struct ConfigError : common::InputError {
  using common::InputError::InputError;
};

// `spec` is a path to a .toml or a Hugging Face config.json, or a bare name
// ("minicpm4.1-8b") looked up in the configs/ directory (configs_dir()).
ModelConfig load_model(const std::string& spec);
HardwareConfig load_hardware(const std::string& spec);

// The shipped configs/ directory: $FORESIGHT_CONFIGS, else the source tree's
// configs/ compiled in, else configs/ next to the executable's parent.
std::filesystem::path configs_dir();

// Canonical JSON forms (what traces and run folders store). from_json
// validates like the TOML loaders; `where` names the source in errors.
nlohmann::json to_json(const ModelConfig& m);
nlohmann::json to_json(const HardwareConfig& h);
nlohmann::json to_json(const RunConfig& r);
ModelConfig model_from_json(const nlohmann::json& j, const std::string& where);
HardwareConfig hardware_from_json(const nlohmann::json& j, const std::string& where);
RunConfig run_from_json(const nlohmann::json& j, const std::string& where);

// Checks a run config against its model (context lengths == batch, top-k
// within the block count, cache_blocks >= topk + 1 or 0, ...).
void validate_run(const RunConfig& r, const ModelConfig& m, const std::string& where);

}  // namespace foresight::config

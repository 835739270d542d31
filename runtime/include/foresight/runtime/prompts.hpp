// Real prompts for `run` and `calibrate`: text through the checkpoint's own
// tokenizer, or token ids from a JSON file; and the model a checkpoint
// describes. Every error is a config::ConfigError naming the file (exit 2).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "foresight/config/model.hpp"
#include "foresight/runtime/tokenizer.hpp"

namespace foresight::runtime {

// The model config a checkpoint carries: a GGUF file's metadata, or a
// checkpoint folder's config.json.
config::ModelConfig checkpoint_model(const std::filesystem::path& checkpoint);

// The tokenizer a checkpoint carries (GGUF files); null for a folder of
// safetensors (no tokenizer is read from them).
std::shared_ptr<const Tokenizer> checkpoint_tokenizer(const std::filesystem::path& checkpoint);

// Token ids of a UTF-8 text file.
std::vector<std::int32_t> read_prompt_text(const std::filesystem::path& file, const Tokenizer& tokenizer);

// Token ids from a JSON file: one list of ids (one prompt), or a list of
// lists (one prompt per sequence). Ids are checked against `vocab`.
std::vector<std::vector<std::int32_t>> read_prompt_ids(const std::filesystem::path& file, std::int64_t vocab);

}  // namespace foresight::runtime

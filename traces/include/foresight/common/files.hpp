// Writing output files so that nothing half-written ever carries a final
// name: each file is written to "<path>.partial" and renamed when complete.
// Every failure throws common::WriteError naming the file and removes the
// temporary.
#pragma once

#include <filesystem>
#include <functional>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace foresight::common {

// Writes `text` to `path` (binary, replaced if it exists).
void write_file_atomic(const std::filesystem::path& path, const std::string& text);

// Streams the file through `write` (for outputs too large to hold in memory).
// An exception thrown by `write` propagates after the temporary is removed.
void write_file_atomic(const std::filesystem::path& path,
                       const std::function<void(std::ostream&)>& write);

// `j` as indented JSON with a final newline.
void write_json_atomic(const std::filesystem::path& path, const nlohmann::json& j);

// Several files of one folder (created if missing), all or none: every file is
// written to a temporary first, and none is renamed unless all were written
// and every target can be replaced.
void write_files_atomic(const std::filesystem::path& dir,
                        const std::vector<std::pair<std::string, std::string>>& files);

}  // namespace foresight::common

// Atomic output files (see common/files.hpp).
#include "foresight/common/files.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <system_error>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "foresight/common/errors.hpp"

namespace foresight::common {

namespace fs = std::filesystem;

namespace {

// Whether `err` (from creating an output) means the path itself is unusable
// (a file in the way of a folder, no such folder, no permission, read-only):
// the user's input, exit 2; anything else (a full disk) is a failed write.
bool path_unusable(int err) {
  return err == ENOTDIR || err == ENOENT || err == EACCES || err == EPERM || err == EISDIR || err == EROFS ||
         err == ENAMETOOLONG || err == ELOOP;
}

fs::path partial_of(const fs::path& path) {
  fs::path tmp = path;
  tmp += ".partial";
  return tmp;
}

// Writes the temporary of `path`; removes it and throws WriteError on failure.
void write_partial(const fs::path& path, const std::function<void(std::ostream&)>& write) {
  const fs::path tmp = partial_of(path);
  std::error_code ec;
  errno = 0;
  std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
  if (!f) {
    const int err = errno;
    if (path_unusable(err))
      throw OutputPathError(fmt::format("{}: cannot create: {}", tmp.string(), std::strerror(err)));
    throw WriteError(fmt::format("{}: cannot create{}", tmp.string(), err ? std::string(": ") + std::strerror(err) : ""));
  }
  try {
    write(f);
  } catch (...) {
    f.close();
    fs::remove(tmp, ec);
    throw;
  }
  f.close();
  if (!f) {
    fs::remove(tmp, ec);
    throw WriteError(fmt::format("{}: write failed", tmp.string()));
  }
}

void rename_partial(const fs::path& path) {
  std::error_code ec;
  fs::rename(partial_of(path), path, ec);
  if (ec) {
    std::error_code ignored;
    fs::remove(partial_of(path), ignored);
    throw WriteError(fmt::format("{}: cannot replace it: {}", path.string(), ec.message()));
  }
}

}  // namespace

void write_file_atomic(const fs::path& path, const std::function<void(std::ostream&)>& write) {
  write_partial(path, write);
  rename_partial(path);
}

void write_file_atomic(const fs::path& path, const std::string& text) {
  write_file_atomic(path, [&](std::ostream& out) { out.write(text.data(), static_cast<std::streamsize>(text.size())); });
}

void write_json_atomic(const fs::path& path, const nlohmann::json& j) {
  write_file_atomic(path, j.dump(2) + "\n");
}

void write_files_atomic(const fs::path& dir, const std::vector<std::pair<std::string, std::string>>& files) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    const std::string what = fmt::format("{}: cannot create the output folder: {}", dir.string(), ec.message());
    if (path_unusable(ec.value())) throw OutputPathError(what);
    throw WriteError(what);
  }
  std::size_t written = 0;
  const auto cleanup = [&] {
    std::error_code ignored;
    for (std::size_t i = 0; i < written; ++i) fs::remove(partial_of(dir / files[i].first), ignored);
  };
  try {
    for (const auto& file : files) {
      // (not a structured binding: clang before 16 cannot capture one in a lambda)
      const std::string& text = file.second;
      write_partial(dir / file.first, [&](std::ostream& out) {
        out.write(text.data(), static_cast<std::streamsize>(text.size()));
      });
      ++written;
    }
    // Refuse before renaming any, so the folder never mixes old and new files.
    for (const auto& [name, text] : files)
      if (fs::is_directory(dir / name))
        throw WriteError(fmt::format("{}: cannot replace it: it is a folder", (dir / name).string()));
    for (const auto& [name, text] : files) rename_partial(dir / name);
  } catch (...) {
    cleanup();
    throw;
  }
}

}  // namespace foresight::common

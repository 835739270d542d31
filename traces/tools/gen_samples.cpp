// gen_samples OUT_DIR: writes the synthetic sample traces (sample_traces.hpp)
// that are committed under traces/samples/. Deterministic: the same build
// writes the same traces.
#include <fmt/core.h>

#include <exception>
#include <filesystem>

#include "foresight/trace/writer.hpp"
#include "sample_traces.hpp"

int main(int argc, char** argv) {
  if (argc != 2) {
    fmt::print(stderr, "usage: gen_samples OUT_DIR   (e.g. traces/samples)\n");
    return 2;
  }
  try {
    const std::filesystem::path dir = argv[1];
    std::filesystem::create_directories(dir);
    for (const auto& spec : foresight::samples::default_samples()) {
      const auto t = foresight::samples::build_sample(spec);
      foresight::trace::write_trace(dir / spec.file, t);
      fmt::print("wrote {} ({} ops, {} selections, {} bytes)\n", (dir / spec.file).string(),
                 t.ops.size(), t.selection_keys.size(),
                 std::filesystem::file_size(dir / spec.file));
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "gen_samples: error: {}\n", e.what());
    return 1;
  }
  return 0;
}

// trace_selection_bytes [STEPS] [OUT.h5]: measures the stored size of block
// selections. Writes a realistic stream through TraceWriter: MiniCPM4.1-8B
// shape (32 layers x 2 KV heads, batch 1), 131072-token context = 2048 blocks
// of 64 tokens, top-96 sorted ids per row, 33 forced (sink + window), each
// other id kept from the previous step with probability 0.85. Prints bytes
// per selection entry of /selections/blocks and /selections/keys.
#include <fmt/core.h>
#include <hdf5.h>

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <vector>

#include "foresight/trace/writer.hpp"
#include "foresight/workload/splitmix64.hpp"
#include "sample_traces.hpp"

namespace {
foresight::workload::SplitMix64 rng{12345};
std::uint64_t next() { return rng.next(); }

std::uint64_t storage(hid_t file, const char* name) {
  hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
  const std::uint64_t n = d < 0 ? 0 : H5Dget_storage_size(d);
  if (d >= 0) H5Dclose(d);
  return n;
}
}  // namespace

int main(int argc, char** argv) {
  const long steps = argc > 1 ? std::atol(argv[1]) : 2000;
  const std::filesystem::path out = argc > 2 ? argv[2] : "selection_bytes.h5";
  const int layers = 32, heads = 2, topk = 96, n_blocks = 2048, sink = 1, window = 32;
  try {
    foresight::trace::Header h;
    h.clock = "synthetic";
    // MiniCPM4.1-8B shape so the file is a valid trace (foresight inspect reads it).
    h.model = foresight::samples::tiny_model();
    h.model.name = "minicpm4.1-8b-shape";
    h.model.n_layers = layers;
    h.model.n_kv_heads = heads;
    h.model.max_context = 131072;
    h.model.sparse = {64, 32, 16, topk, sink, window, 5, 4, 1};
    h.hardware = foresight::samples::h100_hardware();
    h.run.mode = foresight::config::Mode::sparda;
    h.run.context_tokens = {131008};  // 2047 blocks + the decoded token: ids < 2048 stay valid
    h.run.topk_blocks = topk;
    h.run.decode_steps = steps;
    foresight::trace::TraceWriter w(out, h, topk);
    std::vector<std::vector<std::uint32_t>> prev(layers * heads);
    std::vector<char> taken(n_blocks);
    for (long step = 0; step < steps; ++step) {
      for (int l = 0; l < layers; ++l) {
        for (int hd = 0; hd < heads; ++hd) {
          auto& p = prev[static_cast<std::size_t>(l * heads + hd)];
          std::fill(taken.begin(), taken.end(), 0);
          std::vector<std::uint32_t> sel;
          auto take = [&](std::uint32_t b) {
            if (!taken[b] && sel.size() < topk) taken[b] = 1, sel.push_back(b);
          };
          for (int b = 0; b < sink; ++b) take(static_cast<std::uint32_t>(b));
          for (int b = n_blocks - window; b < n_blocks; ++b) take(static_cast<std::uint32_t>(b));
          for (auto b : p)
            if (next() % 100 < 85) take(b);
          while (sel.size() < topk) take(static_cast<std::uint32_t>(next() % n_blocks));
          std::sort(sel.begin(), sel.end());
          w.add_selection({static_cast<std::int32_t>(step), static_cast<std::int16_t>(l), 0,
                           static_cast<std::uint16_t>(hd), 0},
                          sel);
          p = std::move(sel);
        }
      }
    }
    w.close();
  } catch (const std::exception& e) {
    fmt::print(stderr, "trace_selection_bytes: error: {}\n", e.what());
    return 1;
  }
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  hid_t f = H5Fopen(out.string().c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return 1;
  const double entries = static_cast<double>(steps) * layers * heads * topk;
  const std::uint64_t blocks = storage(f, "/selections/blocks"),
                      keys = storage(f, "/selections/keys");
  H5Fclose(f);
  fmt::print("{} rows x {} ids = {:.0f} entries\n", steps * layers * heads, topk, entries);
  fmt::print("/selections/blocks: {} bytes = {:.3f} bytes/entry\n", blocks, blocks / entries);
  fmt::print("/selections/keys:   {} bytes = {:.3f} bytes/entry\n", keys, keys / entries);
  fmt::print("both:               {:.3f} bytes/entry; file {} bytes\n", (blocks + keys) / entries,
             std::filesystem::file_size(out));
  return 0;
}

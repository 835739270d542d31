// Time to make synthetic weights on the host (make_synthetic_weights), for a
// model config, with all hardware threads or a given count.
// Usage: bench_weights [--model NAME] [--threads N] [--layers N] [--quick] [--csv]
//   --model NAME   model config name in configs/models or a .toml (default minicpm4.1-8b)
//   --threads N    fill threads; 0 = std::thread::hardware_concurrency() (default 0)
//   --layers N     override the model's layer count, e.g. to fit a small host (default: the model's)
//   --quick        2 layers (same as --layers 2)
//   --csv          one CSV line: model,layers,threads,bytes,seconds,gb_per_s
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include <fmt/core.h>

#include "foresight/config/load.hpp"
#include "foresight/runtime/weights.hpp"

using namespace foresight;

int main(int argc, char** argv) {
  std::string model = "minicpm4.1-8b";
  unsigned threads = 0;
  long layers = -1;
  bool csv = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) {
        fmt::print(stderr, "bench_weights: {} needs a value\n", a);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--model") model = value();
    else if (a == "--threads") threads = static_cast<unsigned>(std::strtoul(value(), nullptr, 10));
    else if (a == "--layers") layers = std::strtol(value(), nullptr, 10);
    else if (a == "--quick") layers = 2;
    else if (a == "--csv") csv = true;
    else {
      fmt::print(stderr, "bench_weights: unknown option '{}' (see the comment at the top of bench_weights.cpp)\n", a);
      return 2;
    }
  }
  config::ModelConfig m = config::load_model(model);
  if (layers > 0) m.n_layers = layers;
  const unsigned used = threads ? threads : std::max(1u, std::thread::hardware_concurrency());
  const auto t0 = std::chrono::steady_clock::now();
  runtime::Weights w = runtime::make_synthetic_weights(m, /*seed=*/1, threads);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double gb = static_cast<double>(w.bytes()) / 1e9;
  if (csv) {
    fmt::print("{},{},{},{},{:.3f},{:.3f}\n", m.name, m.n_layers, used, w.bytes(), s, gb / s);
  } else {
    fmt::print("{} ({} layers): {:.2f} GB of bf16 weights in {:.2f} s with {} threads ({:.2f} GB/s)\n",
               m.name, m.n_layers, gb, s, used, gb / s);
  }
  return 0;
}

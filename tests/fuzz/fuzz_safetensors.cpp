// libFuzzer: the safetensors header parser (runtime::SafetensorsFile: the
// 8-byte length, the JSON header, dtypes, shapes, offsets inside the file).
// Seeds: the test checkpoints' model.safetensors (first 64 KiB).
#include "foresight/runtime/safetensors.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = foresight::fuzz::as_file(data, size, ".safetensors");
  foresight::fuzz::expect_input_errors_only([&] { foresight::runtime::SafetensorsFile f(path); });
  return 0;
}

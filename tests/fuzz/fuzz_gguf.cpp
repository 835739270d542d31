// libFuzzer: the GGUF parser (runtime::GgufFile: header, metadata key/values,
// tensor infos) and the model config read from its metadata. Seeds:
// tests/runtime/gguf/*.gguf.
#include "foresight/runtime/gguf.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = foresight::fuzz::as_file(data, size, ".gguf");
  foresight::fuzz::expect_input_errors_only([&] {
    foresight::runtime::GgufFile f(path);
    (void)foresight::runtime::model_from_gguf(f);
  });
  return 0;
}

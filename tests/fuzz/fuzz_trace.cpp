// libFuzzer: trace::read_trace on a file of the input bytes (HDF5, schema
// v1/v2 checks, token-selection decoding). Seeds: traces/samples/*-tiny.h5.
#include "foresight/trace/reader.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = foresight::fuzz::as_file(data, size, ".h5");
  foresight::fuzz::expect_input_errors_only([&] { (void)foresight::trace::read_trace(path); });
  return 0;
}

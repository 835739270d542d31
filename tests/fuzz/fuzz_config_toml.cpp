// libFuzzer: the TOML config loaders: a model and a hardware config read from
// a .toml file of the input bytes (toml++ then the checks of each field).
// Seeds: configs/models/*.toml, configs/hardware/*.toml.
#include "foresight/config/load.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = foresight::fuzz::as_file(data, size, ".toml");
  foresight::fuzz::expect_input_errors_only([&] { (void)foresight::config::load_model(path.string()); });
  foresight::fuzz::expect_input_errors_only([&] { (void)foresight::config::load_hardware(path.string()); });
  return 0;
}

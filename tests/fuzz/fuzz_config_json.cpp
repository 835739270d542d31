// libFuzzer: the JSON config loaders: a model (foresight's JSON or a HF
// config.json), a hardware config and a GPU calibration read from a .json
// file of the input bytes. Seeds: configs/calibration/*.json, the test
// checkpoints' config.json.
#include "foresight/config/calibration.hpp"
#include "foresight/config/load.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto path = foresight::fuzz::as_file(data, size, ".json");
  foresight::fuzz::expect_input_errors_only([&] { (void)foresight::config::load_model(path.string()); });
  foresight::fuzz::expect_input_errors_only([&] { (void)foresight::config::load_hardware(path.string()); });
  foresight::fuzz::expect_input_errors_only([&] { (void)foresight::config::load_calibration(path); });
  return 0;
}

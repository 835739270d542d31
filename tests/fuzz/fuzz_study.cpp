// libFuzzer: the sweep study parser (TOML, [base], [grid] expansion with its
// limit, [[scenarios]], every knob's value checks). The limit is lowered so
// that a valid large grid is a quick refusal, not minutes of expansion.
// Seeds: configs/studies/*.toml.
#include <string>

#include "foresight/sim/sweep.hpp"
#include "fuzz_util.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  foresight::fuzz::expect_input_errors_only([&] { (void)foresight::sim::parse_study(text, "fuzz.toml", 10000); });
  return 0;
}

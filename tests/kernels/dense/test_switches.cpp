// Kernel switches (kernels/switches.hpp): the process-wide values win over
// the environment while set; an empty set returns every switch to it.
#include <cstdlib>

#include "catch.hpp"
#include "foresight/kernels/switches.hpp"

using foresight::kernels::kernel_switch;
using foresight::kernels::set_kernel_switches;

TEST_CASE("kernel switches: set values win over the environment, an empty set restores it") {
  setenv("FORESIGHT_TEST_SWITCH", "env", 1);
  unsetenv("FORESIGHT_TEST_ABSENT");
  CHECK(kernel_switch("FORESIGHT_TEST_SWITCH") == "env");
  CHECK(!kernel_switch("FORESIGHT_TEST_ABSENT"));
  set_kernel_switches({{"FORESIGHT_TEST_SWITCH", "set"}});
  CHECK(kernel_switch("FORESIGHT_TEST_SWITCH") == "set");
  // While set, a switch left out of the set is unset, whatever the environment says.
  setenv("FORESIGHT_TEST_ABSENT", "env", 1);
  CHECK(!kernel_switch("FORESIGHT_TEST_ABSENT"));
  set_kernel_switches({});
  CHECK(kernel_switch("FORESIGHT_TEST_SWITCH") == "env");
  CHECK(kernel_switch("FORESIGHT_TEST_ABSENT") == "env");
  unsetenv("FORESIGHT_TEST_SWITCH");
  unsetenv("FORESIGHT_TEST_ABSENT");
}

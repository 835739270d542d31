// The runtime's L2 reservation policy (config/l2_windows.hpp), by hand.
#include "catch.hpp"
#include "foresight/config/l2_windows.hpp"

using foresight::config::l2_token_windows;
using foresight::config::l2_windows;

TEST_CASE("l2_windows: whole layers first, else one partial window") {
  CHECK(l2_windows(0, 100, 4).empty());
  // 250 bytes over 100-byte slot buffers: layers 0 and 1, hit ratio 1.
  const auto two = l2_windows(250, 100, 4);
  REQUIRE(two.size() == 2);
  CHECK(two[1].layer == 1);
  CHECK(two[1].bytes == 100);
  CHECK(two[1].hit_ratio == 1.0);
  // More than every layer: every layer, no more.
  CHECK(l2_windows(1000, 100, 4).size() == 4);
  // Less than one layer: layer 0 with set-aside / window.
  const auto part = l2_windows(25, 100, 4);
  REQUIRE(part.size() == 1);
  CHECK(part[0].layer == 0);
  CHECK(part[0].hit_ratio == Approx(0.25));
}

TEST_CASE("l2_token_windows: as many layers as their reads fit, each over its whole store") {
  // 2 MiB read per layer from a 32 MiB store; 5 MiB reserved: layers 0 and 1.
  const auto two = l2_token_windows(5 << 20, 2 << 20, 32 << 20, 32);
  REQUIRE(two.size() == 2);
  CHECK(two[1].layer == 1);
  CHECK(two[1].bytes == 32 << 20);
  CHECK(two[1].hit_ratio == 1.0);
  const auto part = l2_token_windows(1 << 20, 4 << 20, 64 << 20, 32);
  REQUIRE(part.size() == 1);
  CHECK(part[0].hit_ratio == Approx(0.25));
  CHECK(part[0].bytes == 64 << 20);
  CHECK(l2_token_windows(0, 1, 1, 4).empty());
}

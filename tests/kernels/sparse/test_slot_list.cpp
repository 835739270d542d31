// Slot list reference: selection order kept, tail block -> tail slot, blocks
// without a slot skipped and counted, -1 padding, counters accumulated.
#include <string>
#include <vector>

#include "catch.hpp"
#include "foresight/kernels/slot_list.hpp"

using namespace foresight::kernels;

namespace {

struct Case {
  int rows = 2, k = 5, n_slots = 6, tail_slot = 5, list_stride = 7;
  // Row 0: map holds 40, 10, 30, 20 in slots 0..3; tail block 50.
  // Row 1: map holds 7 (slot 4) and 9 (slot 1); tail block 8.
  std::vector<std::int32_t> block_map = {40, 10, 30, 20, -1, -1, /**/ -1, 9, -1, -1, 7, -1};
  std::vector<std::int32_t> selected = {50, 20, 40, 10, -1, /**/ 9, 8, 3, 7, -1};
  std::vector<std::int32_t> tail_block = {50, 8};
  std::vector<std::int32_t> load_count = {2, 1};
  std::vector<std::int32_t> slot_list = std::vector<std::int32_t>(14, 99);
  std::vector<std::int32_t> list_len = {-5, -5};
  std::vector<std::uint64_t> counters = {0, 0, 0};
  SlotListParams params() {
    SlotListParams p;
    p.selected = selected.data(), p.block_map = block_map.data(), p.tail_block = tail_block.data();
    p.load_count = load_count.data(), p.slot_list = slot_list.data(), p.list_len = list_len.data();
    p.counters = counters.data(), p.rows = rows, p.k = k, p.n_slots = n_slots, p.tail_slot = tail_slot;
    p.list_stride = list_stride;
    return p;
  }
};

std::string error_of(const SlotListParams& p) {
  try {
    slot_list_cpu(p);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no error";
}

}  // namespace

TEST_CASE("slot_list keeps selection order, maps the tail block to the tail slot, pads with -1") {
  Case c;
  slot_list_cpu(c.params());
  // Row 0: 50 is the tail -> 5; 20 -> 3; 40 -> 0; 10 -> 1.
  // Row 1: 9 -> 1; 8 is the tail -> 5; 3 has no slot (skipped); 7 -> 4.
  CHECK(c.slot_list == std::vector<std::int32_t>{5, 3, 0, 1, -1, -1, -1, /**/ 1, 5, 4, -1, -1, -1, -1});
  CHECK(c.list_len == std::vector<std::int32_t>{4, 3});
  CHECK(c.counters == std::vector<std::uint64_t>{8, 3, 1});  // 8 selected ids, 2+1 loads, 1 missing
}

TEST_CASE("slot_list counters accumulate across calls and are optional") {
  Case c;
  c.counters = {100, 200, 300};
  slot_list_cpu(c.params());
  CHECK(c.counters == std::vector<std::uint64_t>{108, 203, 301});
  slot_list_cpu(c.params());
  CHECK(c.counters == std::vector<std::uint64_t>{116, 206, 302});
  c.load_count[1] = -1;  // working_set's "too many blocks" mark adds nothing
  slot_list_cpu(c.params());
  CHECK(c.counters == std::vector<std::uint64_t>{124, 208, 303});
  auto p = c.params();
  p.load_count = nullptr;
  slot_list_cpu(p);
  CHECK(c.counters == std::vector<std::uint64_t>{132, 208, 304});
  p.counters = nullptr;
  c.list_len = {0, 0};
  slot_list_cpu(p);
  CHECK(c.counters == std::vector<std::uint64_t>{132, 208, 304});
  CHECK(c.list_len == std::vector<std::int32_t>{4, 3});
}

TEST_CASE("slot_list: no tail, duplicate map entries, an all-padding row") {
  Case c;
  c.tail_block = {-1, 8};
  c.block_map[4] = 20;  // 20 in slots 3 and 4: the lowest slot wins
  c.selected[0] = -1;   // row 0: -1, 20, 40, 10, -1
  for (int j = 5; j < 10; ++j) c.selected[j] = -1;
  c.load_count = {0, 0};
  slot_list_cpu(c.params());
  CHECK(c.slot_list == std::vector<std::int32_t>{3, 0, 1, -1, -1, -1, -1, /**/ -1, -1, -1, -1, -1, -1, -1});
  CHECK(c.list_len == std::vector<std::int32_t>{3, 0});
  CHECK(c.counters == std::vector<std::uint64_t>{3, 0, 0});
}

TEST_CASE("slot_list: a block selected that is neither resident nor the tail is counted missing") {
  Case c;
  c.tail_block = {-1, -1};
  slot_list_cpu(c.params());
  // Row 0: 50 missing; row 1: 8 and 3 missing.
  CHECK(c.list_len == std::vector<std::int32_t>{3, 2});
  CHECK(c.slot_list[0] == 3);
  CHECK(c.slot_list[7] == 1);
  CHECK(c.slot_list[8] == 4);
  CHECK(c.counters[2] == 3);
}

TEST_CASE("slot_list rejects bad params, naming the field") {
  Case c;
  auto p = c.params();
  CHECK(error_of(p) == "no error");
  auto q = p;
  q.list_stride = p.k - 1;
  CHECK(error_of(q).find("list_stride") != std::string::npos);
  q = p, q.n_slots = 4097;
  CHECK(error_of(q).find("n_slots") != std::string::npos);
  q = p, q.tail_block = nullptr;
  CHECK(error_of(q).find("tail_block") != std::string::npos);
  q = p, q.rows = 0;
  CHECK(error_of(q).find("rows") != std::string::npos);
}

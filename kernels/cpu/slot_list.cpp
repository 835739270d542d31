// CPU reference for the slot list and cache counters (see slot_list.hpp).
// A block id present in several slots of a row maps to the lowest slot.
// A negative load_count (working_set_update_cuda's "too many blocks" mark)
// adds nothing to counters[1].
#include "foresight/kernels/slot_list.hpp"

namespace foresight::kernels {

void slot_list_cpu(const SlotListParams& p) {
  validate_slot_list(p);
  std::uint64_t selected = 0, loaded = 0, missing = 0;
  for (int r = 0; r < p.rows; ++r) {
    const std::int32_t* sel = p.selected + std::int64_t{r} * p.k;
    const std::int32_t* map = p.block_map + std::int64_t{r} * p.n_slots;
    std::int32_t* list = p.slot_list + std::int64_t{r} * p.list_stride;
    int len = 0;
    for (int j = 0; j < p.k; ++j) {
      const std::int32_t id = sel[j];
      if (id < 0) continue;
      ++selected;
      int slot = id == p.tail_block[r] ? p.tail_slot : -1;
      for (int s = 0; slot < 0 && s < p.n_slots; ++s)
        if (map[s] == id) slot = s;
      if (slot < 0) {
        ++missing;
        continue;
      }
      list[len++] = slot;
    }
    for (int j = len; j < p.list_stride; ++j) list[j] = -1;
    p.list_len[r] = len;
    if (p.load_count && p.load_count[r] > 0) loaded += static_cast<std::uint64_t>(p.load_count[r]);
  }
  if (p.counters) {
    p.counters[0] += selected;
    p.counters[1] += loaded;
    p.counters[2] += missing;
  }
}

}  // namespace foresight::kernels

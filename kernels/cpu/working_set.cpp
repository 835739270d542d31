// CPU reference for the working-set update (see working_set.hpp).
#include "foresight/kernels/working_set.hpp"

#include <algorithm>
#include <unordered_map>
#include <vector>

namespace foresight::kernels {

void working_set_update_cpu(const WorkingSetParams& p) {
  validate_working_set(p);
  std::unordered_map<int, int> slot_of;  // resident block -> slot
  std::vector<char> keep;
  std::vector<int> fresh, victims;
  for (int r = 0; r < p.rows; ++r) {
    std::int32_t* map = p.block_map + std::int64_t{r} * p.n_slots;
    std::int64_t* used = p.last_used ? p.last_used + std::int64_t{r} * p.n_slots : nullptr;
    const std::int32_t* sel = p.selected + std::int64_t{r} * p.k;
    const int tail = p.tail_block ? p.tail_block[r] : -1;
    slot_of.clear();
    for (int s = 0; s < p.n_slots; ++s)
      if (map[s] >= 0) slot_of[map[s]] = s;
    keep.assign(static_cast<std::size_t>(p.n_slots), 0);
    fresh.clear();
    for (int i = 0; i < p.k; ++i) {
      const int blk = sel[i];
      if (blk < 0 || blk == tail) continue;
      auto it = slot_of.find(blk);
      if (it != slot_of.end()) {
        keep[it->second] = 1;
        if (used) used[it->second] = p.step;
      } else {
        fresh.push_back(blk);
      }
    }
    std::sort(fresh.begin(), fresh.end());
    victims.clear();
    for (int s = 0; s < p.n_slots; ++s)
      if (!keep[s]) victims.push_back(s);
    require_param(fresh.size() <= victims.size(), "working_set_update", "selected",
                  "has more blocks than n_slots");
    auto key = [&](int s) { return map[s] < 0 ? INT64_MIN : (used ? used[s] : 0); };
    std::stable_sort(victims.begin(), victims.end(), [&](int a, int b) { return key(a) < key(b); });
    std::int32_t* lb = p.load_block + std::int64_t{r} * p.n_slots;
    std::int32_t* ls = p.load_slot + std::int64_t{r} * p.n_slots;
    for (std::size_t i = 0; i < fresh.size(); ++i) {
      const int s = victims[i];
      map[s] = fresh[i];
      if (used) used[s] = p.step;
      lb[i] = fresh[i];
      ls[i] = s;
    }
    p.load_count[r] = static_cast<std::int32_t>(fresh.size());
  }
}

}  // namespace foresight::kernels

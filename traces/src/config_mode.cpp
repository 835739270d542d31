// The mode table: every mode's traits and name (see config/mode.hpp).
#include "foresight/config/mode.hpp"

#include <utility>

#include "config_internal.hpp"

namespace foresight::config {

namespace {
using S = SelectionSource;
using K = KvLocation;
using T = TransferPath;

// One row per mode, in Mode order.
constexpr std::array<ModeTraits, 8> kTraits{{
    {Mode::dense, "dense", S::none, K::gpu, T::none, Prefetch::none},
    {Mode::sparse, "sparse", S::query, K::gpu, T::device_gather, Prefetch::none},
    {Mode::sparse_offload, "sparse-offload", S::query, K::host_pinned, T::inline_gather, Prefetch::none},
    {Mode::sparda_no_prefetch, "sparda-no-prefetch", S::forecast, K::host_pinned, T::inline_gather,
     Prefetch::none},
    {Mode::sparda, "sparda", S::forecast, K::host_pinned, T::side_prefetch, Prefetch::lookahead},
    {Mode::sparda_no_offload, "sparda-no-offload", S::forecast, K::gpu, T::device_gather, Prefetch::none},
    {Mode::dsa, "dsa", S::indexer, K::gpu, T::device_gather, Prefetch::none},
    {Mode::dsa_offload, "dsa-offload", S::indexer, K::host_pinned, T::inline_gather, Prefetch::none},
}};

constexpr std::array<std::pair<Mode, const char*>, kTraits.size()> mode_names() {
  std::array<std::pair<Mode, const char*>, kTraits.size()> n{};
  for (std::size_t i = 0; i < kTraits.size(); ++i) n[i] = {kTraits[i].mode, kTraits[i].name};
  return n;
}
constexpr auto kModeNames = mode_names();

constexpr std::array<std::pair<Prefetch, const char*>, 3> kPrefetches{{
    {Prefetch::none, "none"},
    {Prefetch::lookahead, "lookahead"},
    {Prefetch::lookahead2, "lookahead-2"},
}};
}  // namespace

const ModeTraits& mode_traits(Mode m) {
  for (const auto& t : kTraits)
    if (t.mode == m) return t;
  throw ConfigError("mode_traits: unknown mode value " + std::to_string(static_cast<int>(m)));
}

const char* to_string(Mode m) { return detail::name_of(kModeNames, m); }
const char* to_string(Prefetch p) { return detail::name_of(kPrefetches, p); }
Mode parse_mode(const std::string& s, const std::string& field) {
  return detail::parse_name(kModeNames, s, field);
}
Prefetch parse_prefetch(const std::string& s, const std::string& field) {
  return detail::parse_name(kPrefetches, s, field);
}

}  // namespace foresight::config

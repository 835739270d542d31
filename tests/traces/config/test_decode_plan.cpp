// The per-mode decode layer plan (config/decode_plan.hpp): hand-written lists
// for the SparDA layers and the baselines, and properties every mode keeps.
#include <string>
#include <vector>

#include "catch.hpp"
#include "foresight/config/decode_plan.hpp"

using namespace foresight::config;
using W = LayerWork;

namespace {

std::vector<LayerStep> plan(Mode m, std::int32_t l, std::int32_t n = 4) {
  return decode_layer_plan(mode_traits(m), mode_traits(m).prefetch, l, n);
}

// Every layer's plan of one step, concatenated in issue order.
std::vector<LayerStep> step_plan(Mode m, Prefetch p, std::int32_t n) {
  std::vector<LayerStep> all;
  for (std::int32_t l = 0; l < n; ++l)
    for (const auto& s : decode_layer_plan(mode_traits(m), p, l, n)) all.push_back(s);
  return all;
}

std::ptrdiff_t position(const std::vector<LayerStep>& v, LayerStep s) {
  for (std::size_t i = 0; i < v.size(); ++i)
    if (v[i] == s) return static_cast<std::ptrdiff_t>(i);
  return -1;
}

std::size_t count(const std::vector<LayerStep>& v, LayerStep s) {
  std::size_t c = 0;
  for (const auto& x : v) c += x == s ? 1 : 0;
  return c;
}

}  // namespace

TEST_CASE("sparda: layer 0 selects itself, every layer selects and prefetches the next") {
  CHECK(plan(Mode::sparda, 0) == std::vector<LayerStep>{
            {W::project, 0}, {W::rope_append, 0}, {W::compress, 0}, {W::self_project, 0}, {W::select, 0},
            {W::fetch, 0}, {W::select, 1}, {W::prefetch, 1}, {W::sparse_attention, 0}, {W::o_proj, 0},
            {W::mlp, 0}});
  CHECK(plan(Mode::sparda, 2) == std::vector<LayerStep>{
            {W::project, 2}, {W::rope_append, 2}, {W::compress, 2}, {W::select, 3}, {W::prefetch, 3},
            {W::wait_fetch, 2}, {W::sparse_attention, 2}, {W::o_proj, 2}, {W::mlp, 2}});
  CHECK(plan(Mode::sparda, 3) == std::vector<LayerStep>{
            {W::project, 3}, {W::rope_append, 3}, {W::compress, 3}, {W::wait_fetch, 3},
            {W::sparse_attention, 3}, {W::o_proj, 3}, {W::mlp, 3}});
}

TEST_CASE("baselines: inline fetches after the selection they follow") {
  CHECK(plan(Mode::sparda_no_prefetch, 2) == std::vector<LayerStep>{
            {W::project, 2}, {W::rope_append, 2}, {W::compress, 2}, {W::select, 3}, {W::fetch, 2},
            {W::sparse_attention, 2}, {W::o_proj, 2}, {W::mlp, 2}});
  CHECK(plan(Mode::sparse_offload, 0) == std::vector<LayerStep>{
            {W::project, 0}, {W::rope_append, 0}, {W::compress, 0}, {W::select, 0}, {W::fetch, 0},
            {W::sparse_attention, 0}, {W::o_proj, 0}, {W::mlp, 0}});
  CHECK(plan(Mode::dense, 1) == std::vector<LayerStep>{
            {W::project, 1}, {W::rope_append, 1}, {W::dense_attention, 1}, {W::o_proj, 1}, {W::mlp, 1}});
}

TEST_CASE("a query mode with lookahead (what-if) prefetches layer 0 at the start and l + 1 after l") {
  const auto p0 = decode_layer_plan(mode_traits(Mode::sparse_offload), Prefetch::lookahead, 0, 3);
  REQUIRE(!p0.empty());
  CHECK(p0.front() == LayerStep{W::prefetch, 0});
  CHECK(position(p0, {W::prefetch, 1}) > position(p0, {W::select, 0}));
  CHECK(position(p0, {W::wait_fetch, 0}) < position(p0, {W::sparse_attention, 0}));
}

TEST_CASE("lookahead-2: sparda selects and prefetches two layers ahead") {
  const auto& t = mode_traits(Mode::sparda);
  CHECK(decode_layer_plan(t, Prefetch::lookahead2, 0, 5) == std::vector<LayerStep>{
            {W::project, 0}, {W::rope_append, 0}, {W::compress, 0}, {W::self_project, 0}, {W::select, 0},
            {W::fetch, 0}, {W::select, 1}, {W::prefetch, 1}, {W::select, 2}, {W::prefetch, 2},
            {W::sparse_attention, 0}, {W::o_proj, 0}, {W::mlp, 0}});
  CHECK(decode_layer_plan(t, Prefetch::lookahead2, 2, 5) == std::vector<LayerStep>{
            {W::project, 2}, {W::rope_append, 2}, {W::compress, 2}, {W::select, 4}, {W::prefetch, 4},
            {W::wait_fetch, 2}, {W::sparse_attention, 2}, {W::o_proj, 2}, {W::mlp, 2}});
  CHECK(decode_layer_plan(t, Prefetch::lookahead2, 3, 5) == std::vector<LayerStep>{
            {W::project, 3}, {W::rope_append, 3}, {W::compress, 3}, {W::wait_fetch, 3},
            {W::sparse_attention, 3}, {W::o_proj, 3}, {W::mlp, 3}});
  // A query mode prefetches its first two layers at the start, then l + 2 after l's selection.
  const auto q0 = decode_layer_plan(mode_traits(Mode::sparse_offload), Prefetch::lookahead2, 0, 5);
  CHECK(q0[0] == LayerStep{W::prefetch, 0});
  CHECK(q0[1] == LayerStep{W::prefetch, 1});
  CHECK(position(q0, {W::prefetch, 2}) > position(q0, {W::select, 0}));
  CHECK(prefetch_distance(Prefetch::lookahead2) == 2);
  CHECK(parse_prefetch("lookahead-2", "prefetch") == Prefetch::lookahead2);
}

TEST_CASE("every selecting mode selects and moves each layer's blocks once, before its attention") {
  const std::int32_t n = 5;
  for (const Mode m : kAllModes) {
    for (const Prefetch p : {Prefetch::none, Prefetch::lookahead, Prefetch::lookahead2}) {
      CAPTURE(to_string(m), to_string(p));
      const auto all = step_plan(m, p, n);
      for (std::int32_t l = 0; l < n; ++l) {
        CAPTURE(l);
        const auto& t = mode_traits(m);
        const W attends = t.selects_blocks()   ? W::sparse_attention
                          : t.selects_tokens() ? W::token_attention
                                               : W::dense_attention;
        const auto attention = position(all, {attends, l});
        REQUIRE(attention >= 0);
        if (t.selects_tokens()) {  // DSA: this layer's indexer, then its gather, no prefetch
          CHECK(count(all, {W::select, l}) == 0);
          CHECK(count(all, {W::prefetch, l}) == 0);
          CHECK(position(all, {W::index_select, l}) < position(all, {W::token_gather, l}));
          CHECK(position(all, {W::token_gather, l}) < attention);
          CHECK(position(all, {W::project, l}) < position(all, {W::index_select, l}));
          continue;
        }
        if (!t.selects_blocks()) {
          CHECK(count(all, {W::select, l}) == 0);
          continue;
        }
        CHECK(count(all, {W::select, l}) == 1);
        const auto fetch = position(all, {W::fetch, l}), pre = position(all, {W::prefetch, l});
        CHECK((fetch >= 0) != (pre >= 0));
        CHECK(std::max(fetch, pre) < attention);
        // A prefetch never precedes its selection, except a query mode's
        // lookahead what-if, which stands layer l - d's selection in for l's.
        if (fetch >= 0 || mode_traits(m).forecast()) CHECK(position(all, {W::select, l}) < std::max(fetch, pre));
        // Only an offloaded layer is prefetched, and the main stream waits for it.
        if (pre >= 0) {
          CHECK(layer_kv_on_host(mode_traits(m), l));
          const auto wait = position(all, {W::wait_fetch, l});
          CHECK((wait > pre && wait < attention));
        }
      }
    }
  }
}

TEST_CASE("Forecast modes keep layer 0's KV on the GPU; query offload modes do not") {
  CHECK_FALSE(layer_kv_on_host(mode_traits(Mode::sparda), 0));
  CHECK(layer_kv_on_host(mode_traits(Mode::sparda), 1));
  CHECK(layer_kv_on_host(mode_traits(Mode::sparse_offload), 0));
  CHECK_FALSE(layer_kv_on_host(mode_traits(Mode::sparda_no_offload), 3));
}

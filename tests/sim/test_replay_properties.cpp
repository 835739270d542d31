// Properties of replay on synthesized traces (the synthesizer knows the answer).
#include "catch.hpp"
#include "foresight/sim/replay.hpp"
#include "foresight/sim/schedule.hpp"
#include "foresight/trace/reader.hpp"
#include "sim_fixtures.hpp"

using namespace foresight;
using testing::metric;
using testing::tiny_synth;

TEST_CASE("--validate on synthesized traces is exact in every mode", "[sim][replay]") {
  for (auto mode : {config::Mode::dense, config::Mode::sparse, config::Mode::sparse_offload,
                    config::Mode::sparda_no_prefetch, config::Mode::sparda,
                    config::Mode::sparda_no_offload}) {
    for (bool prefill : {false, true}) {
      auto o = tiny_synth(mode);
      o.run.prefill = prefill ? "synthetic" : "none";
      const trace::Trace t = sim::synthesize(o);
      REQUIRE_NOTHROW(trace::validate(t, "synth"));
      sim::Replayer rp(t);
      const auto v = rp.validate();
      INFO(config::to_string(mode) << " prefill " << prefill);
      CHECK(v.exact);
      CHECK(v.max_abs_error_ns == 0);
      CHECK(v.steps.size() == 5u + (prefill ? 1u : 0u));
    }
  }
}

TEST_CASE("validate reports the error of a perturbed trace", "[sim][replay]") {
  trace::Trace t = sim::synthesize(tiny_synth(config::Mode::sparda));
  // Stretch one recorded step span: the replay cannot reproduce it.
  t.steps.back().end_ns += 1000;
  const auto v = sim::Replayer(t).validate();
  CHECK_FALSE(v.exact);
  CHECK(v.max_abs_error_ns == 1000);
  CHECK(v.total_rel_error > 0);
}

TEST_CASE("lower PCIe bandwidth never makes a step faster", "[sim][replay]") {
  for (auto mode : {config::Mode::sparse_offload, config::Mode::sparda, config::Mode::sparda_no_prefetch}) {
    sim::Replayer rp(sim::synthesize(tiny_synth(mode, 4, 2048)));
    double prev = 0;
    for (double gbps : {200.0, 64.0, 32.0, 16.0, 8.0, 4.0, 1.0}) {
      config::Scenario s;
      s.pcie_gbps = gbps;
      const auto r = rp.run(s);
      const double ms = metric(r.metrics, "decode.step_ms.mean");
      INFO(config::to_string(mode) << " at " << gbps << " GB/s");
      CHECK(ms >= prev);
      prev = ms;
    }
    config::Scenario slow;
    slow.pcie_gbps = 1.0;
    CHECK(metric(rp.run(slow).metrics, "decode.step_ms.mean") > metric(rp.run({}).metrics, "decode.step_ms.mean"));
  }
}

TEST_CASE("lookahead prefetch is never slower than fetching inline", "[sim][replay]") {
  for (auto mode : {config::Mode::sparse_offload, config::Mode::sparda_no_prefetch, config::Mode::sparda}) {
    sim::Replayer rp(sim::synthesize(tiny_synth(mode, 4, 2048)));
    for (double gbps : {64.0, 16.0, 4.0}) {
      for (auto ctas : {4, 16, 64}) {
        config::Scenario none, ahead;
        none.pcie_gbps = ahead.pcie_gbps = gbps;
        none.gather_ctas = ahead.gather_ctas = ctas;
        none.prefetch = config::Prefetch::none;
        ahead.prefetch = config::Prefetch::lookahead;
        const auto rn = rp.run(none), ra = rp.run(ahead);
        INFO(config::to_string(mode) << " " << gbps << " GB/s, " << ctas << " CTAs");
        CHECK(metric(ra.metrics, "decode.step_ms.mean") <= metric(rn.metrics, "decode.step_ms.mean"));
        CHECK(metric(ra.metrics, "h2d.exposed_ms") <= metric(rn.metrics, "h2d.exposed_ms"));
        CHECK(metric(rn.metrics, "h2d.hidden_ms") == 0.0);  // inline: nothing hidden
        CHECK(metric(ra.metrics, "h2d.bytes") == metric(rn.metrics, "h2d.bytes"));
      }
    }
  }
}

TEST_CASE("lookahead-2 starts every prefetch earlier: no more exposed H2D than lookahead, same bytes", "[sim][replay]") {
  for (auto mode : {config::Mode::sparse_offload, config::Mode::sparda}) {
    sim::Replayer rp(sim::synthesize(tiny_synth(mode, 4, 2048)));
    bool helped = false;
    for (double gbps : {64.0, 8.0, 2.0}) {
      config::Scenario one, two;
      one.pcie_gbps = two.pcie_gbps = gbps;
      one.prefetch = config::Prefetch::lookahead;
      two.prefetch = config::Prefetch::lookahead2;
      const auto r1 = rp.run(one), r2 = rp.run(two);
      INFO(config::to_string(mode) << " " << gbps << " GB/s");
      const double s1 = metric(r1.metrics, "decode.step_ms.mean"), s2 = metric(r2.metrics, "decode.step_ms.mean");
      // The gathers then overlap other compute, which they slow (gather_compute_slowdown):
      // a step may lose a sliver of that, never more than 1%; the exposed H2D never grows.
      CHECK(s2 <= s1 * 1.01);
      CHECK(metric(r2.metrics, "h2d.exposed_ms") <= metric(r1.metrics, "h2d.exposed_ms") * (1 + 1e-9));
      CHECK(metric(r2.metrics, "h2d.bytes") == metric(r1.metrics, "h2d.bytes"));
      helped = helped || s2 < s1;
    }
    CHECK(helped);  // where the link is slow, the extra layer of lead time shows
  }
}

TEST_CASE("opt is never beaten and LRU never loses hits with more capacity", "[sim][replay]") {
  auto o = tiny_synth(config::Mode::sparda, 3, 2048, 12);
  o.run.workload = {0.5, 0.3, 0.8};
  sim::Replayer rp(sim::synthesize(o));
  const std::int64_t topk = o.run.topk_blocks;
  double prev_lru = -1;
  for (std::int64_t extra : {1, 2, 4, 8, 16}) {
    double best_other = 0, opt = 0;
    for (auto pol : {config::Eviction::sparda, config::Eviction::lru, config::Eviction::lfu,
                     config::Eviction::fifo, config::Eviction::arc, config::Eviction::opt}) {
      config::Scenario s;
      s.cache_blocks = topk + extra;
      s.policy = pol;
      const double hr = metric(rp.run(s).metrics, "cache.hit_rate");
      if (pol == config::Eviction::opt) opt = hr;
      else best_other = std::max(best_other, hr);
      if (pol == config::Eviction::lru) {
        CHECK(hr >= prev_lru);
        prev_lru = hr;
      }
    }
    INFO("capacity " << topk + extra);
    CHECK(opt >= best_other);
  }
}

TEST_CASE("bad what-ifs are clear errors", "[sim][replay]") {
  sim::Replayer dense(sim::synthesize(tiny_synth(config::Mode::dense)), "dense.h5");
  config::Scenario pf;
  pf.prefetch = config::Prefetch::lookahead;
  CHECK_THROWS_WITH(dense.run(pf), Catch::Contains("dense.h5") && Catch::Contains("--prefetch needs"));
  config::Scenario dpol;
  dpol.policy = config::Eviction::opt;
  CHECK_THROWS_WITH(dense.run(dpol), Catch::Contains("need a block-sparse trace"));

  trace::Trace t = sim::synthesize(tiny_synth(config::Mode::sparda));
  sim::Replayer rp(t, "sparda.h5");
  config::Scenario small;
  small.cache_blocks = t.header.run.topk_blocks;  // no tail slot
  CHECK_THROWS_WITH(rp.run(small), Catch::Contains("--cache-blocks must be >="));
  config::Scenario huge_ctx;
  huge_ctx.context = 1 << 30;
  CHECK_THROWS_WITH(rp.run(huge_ctx), Catch::Contains("max_context"));

  t.selection_keys.clear();
  t.selection_blocks.clear();
  sim::Replayer nosel(t, "nosel.h5");
  config::Scenario pol;
  pol.policy = config::Eviction::lru;
  CHECK_THROWS_WITH(nosel.run(pol), Catch::Contains("nosel.h5") && Catch::Contains("no recorded selections"));
  CHECK_NOTHROW(nosel.run({}));  // recorded cache outcomes suffice

  config::Scenario plan_only;
  plan_only.reuse = 0.5;  // a plan knob: the trace's selections are recorded
  CHECK_THROWS_WITH(rp.run(plan_only), Catch::Contains("sparda.h5") && Catch::Contains("reuse is a plan knob"));
}

TEST_CASE("batch and context what-ifs re-predict compute and check memory", "[sim][replay]") {
  sim::Replayer rp(sim::synthesize(tiny_synth(config::Mode::sparda, 2, 2048)));
  const auto base = rp.run({});
  config::Scenario b8;
  b8.batch = 8;
  const auto r8 = rp.run(b8);
  CHECK(r8.status == "ok");
  CHECK(metric(r8.metrics, "decode.tokens_per_s") > metric(base.metrics, "decode.tokens_per_s"));
  CHECK(metric(r8.metrics, "h2d.bytes") > metric(base.metrics, "h2d.bytes"));
  CHECK(metric(r8.metrics, "cost_fit.mean_rel_error") < 0.05);  // roofline trace: near-exact fit
  CHECK(r8.scenario.contains("cost_fit"));
  config::Scenario longer;
  longer.context = 4096;
  CHECK(metric(rp.run(longer).metrics, "memory.host_bytes") > metric(base.metrics, "memory.host_bytes"));
  config::Scenario oom;
  oom.batch = 60000;
  oom.hardware = "a5000-pcie4";
  sim::Replayer big(sim::synthesize(tiny_synth(config::Mode::dense, 2, 4000)));
  const auto r = big.run(oom);
  CHECK(r.status == "out_of_memory");
  CHECK(metric(r.metrics, "memory.fits") == 0.0);
  CHECK(r.scenario["status_reason"].get<std::string>().find("GPU memory") != std::string::npos);
}

TEST_CASE("stages a recorded runtime fused have no ops of their own in the replay", "[sim][replay]") {
  // A trace whose decode steps have no per-layer rmsnorm and no kv_write (the
  // runtime ran them inside qkvf_gemm/mlp and rope): here the synthesized
  // ops of those stages are renamed, as if they were part of another op.
  trace::Trace t = sim::synthesize(tiny_synth(config::Mode::sparda));
  const auto count = [](const trace::Trace& tr, std::string_view stage, bool layers_only) {
    std::size_t n = 0;
    for (const auto& op : tr.ops)
      n += op.phase == trace::Phase::decode && tr.stages.at(op.stage) == stage && (!layers_only || op.layer >= 0);
    return n;
  };
  const auto plain = sim::Replayer(t).run({}, true);
  REQUIRE(plain.timeline);
  CHECK(count(*plain.timeline, "rmsnorm", true) > 0);
  CHECK(count(*plain.timeline, "kv_write", false) > 0);

  t.stages.push_back("fused_into_neighbour");
  const auto renamed = static_cast<std::uint16_t>(t.stages.size() - 1);
  for (auto& op : t.ops) {
    const auto& name = t.stages.at(op.stage);
    if (op.phase == trace::Phase::decode && ((name == "rmsnorm" && op.layer >= 0) || name == "kv_write"))
      op.stage = renamed;
  }
  const auto fused = sim::Replayer(t).run({}, true);
  REQUIRE(fused.timeline);
  CHECK(count(*fused.timeline, "rmsnorm", true) == 0);
  CHECK(count(*fused.timeline, "kv_write", false) == 0);
  CHECK(count(*fused.timeline, "rmsnorm", false) > 0);  // the final norm stays
  CHECK(count(*fused.timeline, "qkvf_gemm", true) == count(*plain.timeline, "qkvf_gemm", true));
}

TEST_CASE("a bulk-copy gather trace replays as one: its engine, curve and default CTAs", "[sim][replay]") {
  auto o = tiny_synth(config::Mode::sparda, 2, 2048);
  o.run.kernels.kv_gather = "bulk";
  o.run.gather_ctas = config::default_gather_ctas(2, o.run.kernels);
  const trace::Trace t = sim::synthesize(o);
  int gathers = 0;
  for (const auto& op : t.ops)
    if (op.kind == trace::OpKind::h2d) {
      CHECK(op.engine == trace::Engine::bulk_copy_gather);
      CHECK(op.ctas == 12);
      ++gathers;
    }
  CHECK(gathers > 0);
  sim::Replayer rp(t);
  CHECK(rp.validate().exact);
  // A batch what-if keeps the bulk path's default, not the SM-load rule's 32.
  config::Scenario b32;
  b32.batch = 32;
  CHECK(rp.run(b32).scenario["gather_ctas"] == 12);
  o.run.kernels.kv_gather = "sm_loads";
  o.run.gather_ctas = config::default_gather_ctas(2, o.run.kernels);
  CHECK(sim::Replayer(sim::synthesize(o)).run(b32).scenario["gather_ctas"] == 32);
  // One bulk CTA moves 17.7 GB/s on the H100's measured curve, the default
  // CTAs 50.7: the same bytes take that much longer (latency is per transfer).
  config::Scenario one;
  one.gather_ctas = 1;
  const auto slow = rp.run(one).metrics, fast = rp.run({}).metrics;
  const double bytes = metric(fast, "h2d.bytes");
  CHECK(metric(slow, "h2d.bytes") == bytes);
  CHECK(metric(slow, "h2d.total_ms") - metric(fast, "h2d.total_ms") ==
        Approx(bytes / 1e6 * (1 / 17.7 - 1 / 50.7)).epsilon(0.05));
}

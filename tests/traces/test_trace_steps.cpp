// Warm-up vs steady decode steps (trace/steps.hpp) and how `inspect`'s
// summary reports them.
#include <sstream>

#include <nlohmann/json.hpp>

#include "catch.hpp"
#include "foresight/trace/export.hpp"
#include "foresight/trace/reader.hpp"
#include "foresight/trace/steps.hpp"
#include "trace_test_util.hpp"

using namespace foresight;

namespace {
// A trace of one prefill chunk and 5 decode steps of 10 ms each, the first
// `warmup` of them warm-up; decode step 0 takes `step0_ms`.
trace::Trace stepped_trace(std::int64_t warmup, std::int64_t step0_ms) {
  trace::Trace t;
  t.header.run.warmup_steps = warmup;
  t.steps.push_back({trace::Phase::prefill, 0, 0, 50'000'000});
  std::int64_t at = 50'000'000;
  for (std::int32_t s = 0; s < 5; ++s) {
    const std::int64_t ns = (s == 0 ? step0_ms : 10) * 1'000'000;
    t.steps.push_back({trace::Phase::decode, s, at, at + ns});
    at += ns;
  }
  return t;
}
}  // namespace

TEST_CASE("the first run.warmup_steps decode steps are warm-up, prefill is neither", "[trace][steps]") {
  trace::Header h;
  h.run.warmup_steps = 2;
  CHECK(trace::step_group(h, trace::Phase::prefill, 0) == trace::StepGroup::prefill);
  CHECK(trace::is_warmup_step(h, trace::Phase::decode, 0));
  CHECK(trace::is_warmup_step(h, trace::Phase::decode, 1));
  CHECK(trace::is_steady_step(h, trace::Phase::decode, 2));
  CHECK_FALSE(trace::is_warmup_step(h, trace::Phase::prefill, 0));
  CHECK_FALSE(trace::is_steady_step(h, trace::Phase::prefill, 5));
  h.run.warmup_steps = 0;
  CHECK(trace::is_steady_step(h, trace::Phase::decode, 0));
  CHECK(std::string(trace::to_string(trace::StepGroup::warmup)) == "warmup");

  const auto t = stepped_trace(1, 300);
  const auto steady = trace::steady_decode_steps(t);
  REQUIRE(steady.size() == 4u);
  CHECK(steady.front().step == 1);
  CHECK(trace::steps_in_group(t, trace::StepGroup::warmup).size() == 1u);
  CHECK(trace::steps_in_group(t, trace::StepGroup::prefill).size() == 1u);
}

TEST_CASE("inspect's decode step times leave a slow warm-up step out", "[trace][summary][steps]") {
  const auto s = trace::summarize(stepped_trace(1, 300));
  const auto& st = s.at("steps");
  CHECK(st.at("decode") == 5);
  CHECK(st.at("warmup") == 1);
  CHECK(st.at("steady") == 4);
  CHECK(st.at("decode_step_ns").at("mean").get<double>() == 10e6);
  CHECK(st.at("decode_step_ns").at("p99") == 10'000'000);
  CHECK(st.at("warmup_step_ns").at("max") == 300'000'000);
  // Without warm-up steps the slow step is a steady step like any other.
  const auto all = trace::summarize(stepped_trace(0, 300)).at("steps");
  CHECK(all.at("steady") == 5);
  CHECK(all.at("decode_step_ns").at("p99") == 300'000'000);
}

TEST_CASE("inspect of a real H100 trace reports ~16 ms steady steps, the warm-up apart", "[trace][summary][steps]") {
  const auto t = trace::read_trace(testing::samples_dir() / "h100-sparda-b16-32k.h5");
  REQUIRE(t.header.run.warmup_steps == 1);
  const auto st = trace::summarize(t).at("steps");
  CHECK(st.at("steady") == 4);
  CHECK(st.at("decode_step_ns").at("mean").get<double>() < 20e6);   // was 68.8 ms with step 0
  CHECK(st.at("decode_step_ns").at("p99").get<std::int64_t>() < 20'000'000);  // was 279 ms
  CHECK(st.at("warmup_step_ns").at("max").get<std::int64_t>() > 200'000'000);
  std::ostringstream os;
  trace::print_summary(t, os);
  const std::string text = os.str();
  CHECK(text.find("1 warm-up, 4 steady") != std::string::npos);
  CHECK(text.find("decode     steady step mean 16.") != std::string::npos);
  CHECK(text.find("warm-up    1 step(s)") != std::string::npos);
  CHECK(text.find("279.") != std::string::npos);
}

// cli/errors, cli/progress and cli/format on their own.
#include <cstdio>
#include <stdexcept>
#include <string>

#include "catch.hpp"
#include "errors.hpp"
#include "format.hpp"
#include "foresight/common/errors.hpp"
#include "foresight/config/load.hpp"
#include "foresight/trace/reader.hpp"
#include "progress.hpp"

using namespace foresight;

namespace {
// Everything written to `f` so far.
std::string contents(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string out;
  for (int c; (c = std::fgetc(f)) != EOF;) out += static_cast<char>(c);
  return out;
}
}  // namespace

TEST_CASE("errors map to exit codes by type", "[cli]") {
  CHECK(cli::exit_code_of(config::ConfigError("m.toml: 'x': bad")) == cli::kExitBadInput);
  CHECK(cli::exit_code_of(trace::TraceError("t.h5: /ops: bad")) == cli::kExitBadInput);
  CHECK(cli::exit_code_of(std::invalid_argument("--batch: bad")) == cli::kExitBadInput);
  CHECK(cli::exit_code_of(common::WriteError("out: cannot create")) == cli::kExitFailed);
  CHECK(cli::exit_code_of(std::runtime_error("cuda failed")) == cli::kExitFailed);
  CHECK(cli::run_guarded("t", [] { return 0; }) == 0);
  CHECK(cli::run_guarded("t", []() -> int { throw config::ConfigError("x"); }) == cli::kExitBadInput);
  CHECK(cli::run_guarded("t", []() -> int { throw std::logic_error("x"); }) == cli::kExitFailed);
}

TEST_CASE("numbers print in readable units", "[cli]") {
  CHECK(cli::format_ms(4.3835049999999995) == "4.384 ms");
  CHECK(cli::format_ms(0.12345) == "0.1235 ms");
  CHECK(cli::format_ms(1604.25) == "1604.2 ms");
  CHECK(cli::format_bytes(1.5 * 1024 * 1024 * 1024) == "1.50 GiB");
  CHECK(cli::format_bytes(12.0 * 1024 * 1024) == "12.0 MiB");
  CHECK(cli::format_bytes(512) == "512 B");
  CHECK(cli::format_metric("decode.step_ms.mean", 4.3835049999999995) == "4.384 ms");
  CHECK(cli::format_metric("prefill.ms", 362.0) == "362.0 ms");
  CHECK(cli::format_metric("h2d.bytes", 3.0 * 1024 * 1024 * 1024) == "3.00 GiB");
  CHECK(cli::format_metric("cache.hit_rate", 0.8995) == "89.95%");
  CHECK(cli::format_metric("bound.pcie", 0.5) == "50.00%");
  CHECK(cli::format_metric("bound.steps_pcie", 4) == "4");
  CHECK(cli::format_metric("decode.tokens_per_s", 768.66) == "768.7 tokens/s");
  CHECK(cli::format_metric("memory.fits", 1) == "1");
  CHECK(cli::format_metric("cost_fit.something", 0.123456) == "0.1235");
  CHECK(cli::format_metric("decode.step_ms.p99", std::nan("")) == "-");
}

TEST_CASE("the progress bar redraws as it grows and ends with one newline", "[cli]") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f);
  const auto bar = cli::progress_bar_to(f, "sweep");
  for (std::size_t i = 1; i <= 1000; ++i) bar(i, 1000, "s");
  bar(1000, 1000, "again");  // after the end: nothing more
  const std::string out = contents(f);
  std::fclose(f);
  const auto redraws = std::count(out.begin(), out.end(), '\r');
  CHECK(redraws >= 30);    // once per cell of the 30-cell bar ...
  CHECK(redraws <= 31);    // ... not once per scenario
  CHECK(std::count(out.begin(), out.end(), '\n') == 1);
  CHECK(out.find("sweep [##############################] 1000/1000") != std::string::npos);
}

TEST_CASE("without a terminal, or with --quiet, there is no progress at all", "[cli]") {
  cli::set_quiet(true);
  CHECK_FALSE(cli::progress_bar("plan"));
  cli::set_quiet(false);
  // ctest runs with stderr redirected: not a terminal.
  if (!isatty(fileno(stderr))) CHECK_FALSE(cli::progress_bar("plan"));
}

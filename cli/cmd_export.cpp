// `foresight export TRACE --perfetto OUT.json`: Chrome trace-event JSON for
// ui.perfetto.dev, written to OUT.json.partial and renamed when complete.
#include <fmt/core.h>

#include "command.hpp"
#include "foresight/trace/export.hpp"
#include "foresight/trace/reader.hpp"

namespace foresight::cli {
namespace {

struct ExportOptions {
  std::string trace;
  std::string perfetto;
  bool skip_selections = false;
};

// A bad trace exits 2, a failed write 1 (cli/errors.hpp). The timeline does
// not need /selections, but the trace is validated as `inspect` does: an
// invalid one is not exported.
int run_export(const ExportOptions& o) {
  trace::ReadOptions ro;
  ro.load_selections = !o.skip_selections;
  const trace::Trace t = trace::read_trace(o.trace, ro);
  trace::write_perfetto(t, o.perfetto);
  fmt::print("wrote {} ({} slices on {} tracks)\n", o.perfetto, t.ops.size(), t.streams.size());
  return kExitOk;
}

const CommandRegistrar reg{
    {"export", 30, [](CLI::App& app) {
       auto opts = std::make_shared<ExportOptions>();
       CLI::App* sub = app.add_subcommand(
           "export", "Convert a trace's timeline to another format (validates the trace first).");
       sub->add_option("trace", opts->trace, "Trace file (.h5) to export")->required();
       sub->add_option(
              "--perfetto", opts->perfetto,
              "Output path for Chrome trace-event JSON (open in ui.perfetto.dev): one track\n"
              "per stream, one slice per op, times in microseconds. Required; no default.")
           ->required();
       sub->add_flag(
           "--skip-selections", opts->skip_selections,
           "Do not load or validate /selections (faster on long runs; default: load them)");
       return [opts] { return run_export(*opts); };
     }}};

}  // namespace
}  // namespace foresight::cli

// `foresight inspect TRACE [--json]`: validate a trace and print its summary.
#include <fmt/core.h>

#include <iostream>
#include <nlohmann/json.hpp>

#include "command.hpp"
#include "foresight/trace/export.hpp"
#include "foresight/trace/reader.hpp"

namespace foresight::cli {
namespace {

struct InspectOptions {
  std::string trace;
  bool json = false;
  bool skip_selections = false;
};

int run_inspect(const InspectOptions& o) {
  trace::ReadOptions ro;
  ro.load_selections = !o.skip_selections;
  const trace::Trace t = trace::read_trace(o.trace, ro);
  if (o.json)
    std::cout << trace::summarize(t).dump(2) << '\n';
  else
    trace::print_summary(t, std::cout);
  return kExitOk;
}

const CommandRegistrar reg{
    {"inspect", 20, [](CLI::App& app) {
       auto opts = std::make_shared<InspectOptions>();
       CLI::App* sub = app.add_subcommand(
           "inspect",
           "Validate a trace (HDF5, schema v1) and print a summary: config, steps, per-stage time\n"
           "share, H2D bytes, cache hit rate, memory. Exit code 2 with a message naming the\n"
           "dataset and record if the file is invalid.");
       sub->add_option("trace", opts->trace, "Trace file (.h5) to inspect")->required();
       sub->add_flag("--json", opts->json,
                     "Print the summary as JSON instead of text (default: text)");
       sub->add_flag(
           "--skip-selections", opts->skip_selections,
           "Do not load or validate /selections (faster on long runs; default: load them)");
       return [opts] { return run_inspect(*opts); };
     }}};

}  // namespace
}  // namespace foresight::cli

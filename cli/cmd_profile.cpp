// `foresight profile`: fits the simulator's GPU calibration from runtime
// traces of the profile grid (recorded on that GPU by
// scripts/profile-gpu.sh, which runs this command at its end) and writes it
// as configs/calibration/<hardware>.json (format: configs/README.md).
#include <filesystem>
#include <fstream>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "command.hpp"
#include "progress.hpp"
#include "foresight/common/files.hpp"
#include "foresight/config/calibration.hpp"
#include "foresight/config/load.hpp"
#include "foresight/sim/calibrate.hpp"
#include "foresight/sim/output.hpp"
#include "foresight/trace/reader.hpp"
#include "foresight/trace/writer.hpp"

namespace foresight::cli {
namespace {

namespace fs = std::filesystem;

struct ProfileArgs {
  std::vector<std::string> inputs;
  std::string hardware, out, gpu_name, driver, command, fidelity, extend;
};

// Every *.h5 under each input (files as given, folders recursively), sorted.
std::vector<fs::path> trace_files(const std::vector<std::string>& inputs) {
  std::vector<fs::path> files;
  for (const auto& in : inputs) {
    if (fs::is_directory(in)) {
      for (const auto& e : fs::recursive_directory_iterator(in))
        if (e.is_regular_file() && e.path().extension() == ".h5") files.push_back(e.path());
    } else if (fs::is_regular_file(in)) {
      files.emplace_back(in);
    } else {
      throw config::ConfigError(fmt::format("{}: no such trace file or folder", in));
    }
  }
  std::sort(files.begin(), files.end());
  if (files.empty()) throw config::ConfigError("profile: no .h5 trace under the inputs given");
  return files;
}

int run_profile(const ProfileArgs& a) {
  sim::CalibrationInputs in;
  const auto files = trace_files(a.inputs);
  const auto reading = progress_bar("reading traces");
  for (std::size_t i = 0; i < files.size(); ++i) {
    in.traces.push_back(trace::read_trace(files[i]));
    in.names.push_back(files[i].string());
    if (reading) reading(i + 1, files.size(), files[i].filename().string());
  }
  auto& meta = in.meta;
  meta.hardware = a.hardware.empty() ? in.traces.front().header.hardware.name : a.hardware;
  meta.gpu_name = a.gpu_name.empty() ? in.traces.front().header.hardware.gpu_name : a.gpu_name;
  meta.driver = a.driver;
  meta.created_utc = trace::utc_now();
  meta.command = a.command;
  meta.tool_version = FORESIGHT_VERSION;
  if (!a.fidelity.empty()) {
    std::ifstream f(a.fidelity);
    if (!f) throw config::ConfigError(fmt::format("{}: cannot open the fidelity summary", a.fidelity));
    try {
      meta.fidelity = nlohmann::json::parse(f);
    } catch (const nlohmann::json::exception& e) {  // parse_error, or out_of_range for a number beyond double
      throw config::ConfigError(fmt::format("{}: not valid JSON: {}", a.fidelity, e.what()));
    }
  }
  if (!a.extend.empty()) in.base = config::load_calibration(a.extend);
  const auto fitting = progress_bar("fitting");
  const auto cal = sim::fit_calibration(in, fitting);
  if (fitting) fitting(5, 5, "done");  // it reports each of its 5 stages as the stage starts
  common::write_json_atomic(a.out, config::to_json(cal));
  fmt::print("wrote {}: {} traces, {} stage tables, gather at {} CTA counts, eager launch {:.1f} us\n", a.out,
             files.size(), cal.stages.size(), cal.gather.ctas.size(), cal.eager_launch_ns * 1e-3);
  return kExitOk;
}

const CommandRegistrar reg{{"profile", 55, [](CLI::App& app) {
  auto a = std::make_shared<ProfileArgs>();
  CLI::App* sub = app.add_subcommand(
      "profile",
      "Fit the simulator's calibration of one GPU from runtime traces of the profile grid\n"
      "(per-op times over batch x context, the gather kernel over CTAs, the slowdown of\n"
      "compute beside a gather, host time per step and per eager launch). On the GPU,\n"
      "scripts/profile-gpu.sh records the grid and runs this. The simulator then uses\n"
      "configs/calibration/<hardware>.json by default for that hardware.");
  sub->add_option("traces", a->inputs, "Trace files or folders (searched for *.h5)")->required();
  sub->add_option("--hardware", a->hardware, "Hardware config name the traces ran on (default: their header's)");
  sub->add_option("--gpu-name", a->gpu_name, "GPU as reported by the driver (default: the hardware config's)");
  sub->add_option("--driver", a->driver, "Driver version the traces ran under (for the record)");
  sub->add_option("--command", a->command, "The command that recorded the traces (for the record)");
  sub->add_option("--fidelity", a->fidelity,
                  "JSON summary of the fidelity benchmark to embed (bench/fidelity.py writes it)");
  sub->add_option("--extend", a->extend,
                  "Calibration file to extend: stage tables it lacks are added from the traces (e.g. the DSA "
                  "modes' stages), its own are kept, and so is everything else the traces do not measure");
  sub->add_option("--out", a->out, "Calibration file to write, e.g. configs/calibration/h200.json")->required();
  return [a] { return run_profile(*a); };
}}};

}  // namespace
}  // namespace foresight::cli

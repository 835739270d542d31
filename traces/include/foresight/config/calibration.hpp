// Calibration of the simulator's op costs on one GPU, measured by
// `foresight profile` there and stored as JSON under configs/calibration/
// (format: configs/README.md, "Calibration files"). The simulator uses the
// calibration of a trace's hardware by default; hardware without one falls
// back to the roofline, and every result says which it used.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "foresight/config/mode.hpp"

namespace foresight::config {

inline constexpr const char* kCalibrationSchema = "foresight-calibration/1";

// Main-stream time of one op of a stage as a function of the batch and of the
// KV tokens per sequence: a grid measured on the GPU, interpolated
// bilinearly in (log2 batch, log2 tokens, log ns) and extrapolated along the
// edge segments. Cells the GPU could not run (out of memory) are filled at
// load time by extrapolation along the batch axis.
struct StageTable {
  std::vector<double> batch;              // ascending, >= 1
  std::vector<double> tokens;             // ascending, >= 1 (KV tokens per sequence)
  std::vector<std::vector<double>> ns;    // [batch][tokens], ns per op
  double at(double b, double t) const;    // interpolated ns
};

// A zero-copy gather of `bytes` with `ctas` CTAs takes latency + bytes / gbps
// inline on the compute stream, plus `beside_ns` on a side stream next to
// compute (its CTAs first wait for SMs that running kernels hold). Each is
// interpolated in log2(ctas) between measured CTA counts, clamped at the ends.
struct GatherModel {
  std::vector<double> ctas;        // ascending
  std::vector<double> latency_ns;
  std::vector<double> gbps;        // GB/s = bytes per ns
  std::vector<double> beside_ns;   // >= 0
  double time_ns(double bytes, double ctas) const;  // latency_at + bytes / gbps_at
  double beside_at(double ctas) const;
  double latency_at(double ctas) const;  // 0 without a model (ctas empty)
  double gbps_at(double ctas) const;     // 0 without a model
};

// A decode run measured with a real L2 persisting set-aside (`run
// --l2-reserve`) against the same run without: the evidence `plan` cites
// beside its simulated reservation gains.
struct L2Measurement {
  Mode mode = Mode::sparse;
  std::int64_t context = 0;  // tokens per sequence
  std::int64_t batch = 0;
  double reserve_mib = 0;  // set-aside, MiB (> 0)
  double step_change = 0;  // mean decode step, reserved / none - 1 (+0.08 = 8% slower)
};
struct L2Measured {
  std::string source;  // where the table and its commands are (bench/RESULTS-llc.md)
  std::string model;   // the model they ran (the calibration's `model`)
  std::vector<L2Measurement> points;
};

struct Calibration {
  std::string hardware;      // hardware config name it was measured on
  std::string gpu_name, driver, created_utc, command, tool_version;
  std::string model;         // model config the op grid was measured with
  // Key "stage" or "stage/variant" (variants: sim/op_model.hpp).
  std::map<std::string, StageTable> stages;
  GatherModel gather;
  // Compute ops that start while gathers hold c CTAs last `factor` times
  // longer (read as at least 1): a grid over batch x CTAs (the table's `tokens` axis holds
  // CTAs and `ns` the factor; JSON keys batch, ctas, factor), clamped to the
  // measured ranges.
  StageTable gather_slowdown;
  // Host time per decode step that no op covers (launching the step, reading
  // back tokens, selections and counters), ns, by batch.
  StageTable step_overhead;
  // Host time to launch one op when a step runs without a CUDA graph, ns.
  double eager_launch_ns = 0;
  // The fidelity benchmark's summary (median and worst error, date), if any.
  nlohmann::json fidelity;
  // Real reservations measured on this GPU, if any (JSON key l2_measured:
  // {source, points: [{mode, context, batch, reserve_mib, step_change}]}).
  L2Measured l2_measured;
  std::filesystem::path source;  // file it was read from ("" if built in memory)
};

// Fills the NaN cells of `t` from its measured ones (log-log along batch,
// then along the second axis); false when a cell has nothing to fill from.
bool fill_unmeasured(StageTable& t);

// Reads and validates a calibration file; ConfigError names the file and key.
Calibration load_calibration(const std::filesystem::path& file);
Calibration calibration_from_json(const nlohmann::json& j, const std::string& where);
nlohmann::json to_json(const Calibration& c);

// configs/calibration/<hardware>.json when it exists.
std::optional<std::filesystem::path> default_calibration_path(const std::string& hardware);

}  // namespace foresight::config

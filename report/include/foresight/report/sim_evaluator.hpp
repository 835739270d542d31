// The evaluator backed by the trace-driven simulator (sim/replay.hpp). Two
// sources of traces:
//   synthesized (default): one trace per (hardware, mode, context, locality)
//     from sim::synthesize at `synth_batch` sequences and `decode_steps`
//     steps, built lazily and shared by every scenario that needs it; batch,
//     cache size, gather CTAs and PCIe bandwidth are replay what-ifs on it.
//   recorded (--trace): one trace; its mode and locality are fixed, hardware,
//     context, batch, cache, CTAs and PCIe are what-ifs.
// Thread-safe: traces are synthesized once under a per-key once_flag, and
// Replayer::run is safe to call concurrently.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "foresight/config/hardware.hpp"
#include "foresight/config/model.hpp"
#include "foresight/report/plan_types.hpp"

namespace foresight::sim {
class Replayer;
}

namespace foresight::report {

struct SimEvaluatorOptions {
  std::int64_t synth_batch = 4;     // sequences in each synthesized trace
  std::int64_t decode_steps = 8;    // timed decode steps per synthesized trace
  std::int64_t warmup_steps = 1;    // extra leading steps the simulator leaves out of the
                                    // metrics: the first starts with an empty GPU block cache
  std::int64_t topk_blocks = 0;     // 0 = the model's
  std::uint64_t seed = 1;
  // Where recorded traces ship (the report names those of this model per
  // hardware); empty: shipped_traces_dir().
  std::filesystem::path samples_dir;
};

// traces/samples of the source tree (or of the install: <exe>/../../traces/samples).
std::filesystem::path shipped_traces_dir();

// The recorded (not synthesized: clock other than "synthetic") traces in
// `dir` of model `model` on hardware `hardware`, by file name; unreadable
// files are skipped.
std::vector<std::filesystem::path> recorded_traces(const std::filesystem::path& dir,
                                                   const std::string& model, const std::string& hardware);

// One line for the report: how far the simulator was from real runs on
// `hardware` (its calibration's fidelity summary), or that it is unmeasured.
std::string fidelity_statement(const std::string& hardware);

class SimEvaluator : public Evaluator {
 public:
  // Synthesized traces for every hardware in `hw`.
  SimEvaluator(config::ModelConfig model, std::map<std::string, config::HardwareConfig> hw,
               SimEvaluatorOptions opts = {});
  // A recorded (or previously synthesized) trace file; `hw` are the hardware
  // configs to replay it on (what-if). Throws trace::TraceError naming the file.
  SimEvaluator(const std::filesystem::path& trace,
               std::map<std::string, config::HardwareConfig> hw);
  ~SimEvaluator() override;

  ScenarioMetrics evaluate(const config::Scenario& s) const override;
  EvaluatorInfo info() const override;
  std::int64_t topk_blocks() const override;
  double default_pcie_gbps(const std::string& hardware) const override;
  std::int64_t l2_reserve_max_bytes(const std::string& hardware) const override;
  config::L2Measured l2_measured(const std::string& hardware) const override;

  // Recorded-trace mode only: the trace's mode and its workload locality
  // (NaN when the trace records none).
  std::optional<config::Mode> recorded_mode() const;
  const config::ModelConfig& model() const { return model_; }
  // Traces synthesized so far.
  std::size_t traces_built() const;

 private:
  struct Entry;
  using Key = std::tuple<std::string, int, std::int64_t, double>;  // hw, mode, context, reuse
  const sim::Replayer& replayer(const ResolvedPoint& p, const std::string& hardware) const;

  config::ModelConfig model_;
  std::map<std::string, config::HardwareConfig> hw_;
  SimEvaluatorOptions opts_;
  std::string trace_label_;
  std::unique_ptr<sim::Replayer> recorded_;
  mutable std::mutex mu_;
  mutable std::map<Key, std::shared_ptr<Entry>> synthesized_;
};

}  // namespace foresight::report

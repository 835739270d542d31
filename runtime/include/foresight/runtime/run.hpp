// One `foresight run`: plan memory, build weights, prefill, decode, and write
// the run folder:
//   trace.h5       schema v1 (status truncated when stopped early)
//   metrics.json   trace::compute_metrics of what was recorded (the trace
//                  read back; untraced: step spans and cache outcomes), the
//                  same definitions the simulator uses (docs/metrics.md),
//                  plus the run's own facts (status, pinning, feasibility)
//   config.json    the resolved model, hardware and run configs
//   timeline.json  Perfetto / Chrome trace events
//   tokens.json    prompts and generated tokens per sequence (and the
//                  generated text when the checkpoint has a tokenizer)
//   logits.npy     last step's logits [batch, vocab] float32 (--dump-logits)
// Every file is written under a temporary name and renamed when complete.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "foresight/common/progress.hpp"
#include "foresight/config/hardware.hpp"
#include "foresight/config/model.hpp"
#include "foresight/config/run.hpp"
#include "foresight/runtime/tokenizer.hpp"

namespace foresight::runtime {

struct RunRequest {
  config::ModelConfig model;
  config::HardwareConfig hardware;
  config::RunConfig run;                  // mode, backend, batch, contexts, steps, prefill, seed, ...
  std::filesystem::path checkpoint;       // empty: synthetic weights
  std::filesystem::path forecast;         // empty: synthetic (or checkpoint seed) Forecast
  std::filesystem::path selections_file;  // run.selection_source == "file"
  std::filesystem::path out_dir;
  // Real prompts: token ids of one text for every sequence (size 1) or one
  // per sequence (size batch); sequence b's prompt is the first
  // run.context_tokens[b] ids of its text. Empty: seeded random ids.
  std::vector<std::vector<std::int32_t>> texts;
  std::string texts_source;  // where the texts came from (a file), for messages
  // Decode step s >= 1 feeds the text's token after the previous position
  // instead of the model's own output, and metrics.json "score" reports the
  // texts' perplexity and top-1 accuracy over the decoded positions. Needs
  // texts with run.context_tokens[b] + warm-up + decode steps ids.
  bool teacher_force = false;
  // Turns generated ids into text for tokens.json; null: ids only.
  std::shared_ptr<const Tokenizer> tokenizer;
  bool dump_logits = false;
  // false: no trace.h5 / timeline.json and no per-op timing (step times
  // only): the configuration to measure tracing overhead against.
  bool trace = true;
  bool cuda_graph = true;  // replay decode steps as a CUDA graph (op events included)
  // sparda-no-offload: also run the query's own selection each layer and
  // report the Forecast's recall in metrics.json (adds scoring ops to the trace).
  bool measure_recall = false;
  // Stop request (e.g. set by a SIGINT handler): checked before every step;
  // the run then ends with a truncated trace.
  const std::atomic<bool>* stop = nullptr;
  // Progress of the long parts: real prefill ("prefill", prompt tokens of all
  // sequences) then decode ("decode", steps incl. warm-up); empty: none.
  common::Progress progress;
  // Tests: throw an error inside decode step `fail_at_step` (-1: never).
  std::int64_t fail_at_step = -1;
};

struct RunResult {
  bool truncated = false;
  std::string reason;
  std::vector<std::vector<std::int32_t>> tokens;  // [seq][generated]
  std::vector<std::string> text;                  // [seq] generated text (with a tokenizer)
  double decode_step_ms_mean = 0;
  double prefill_ms = 0;
};

// Throws (config, weights, memory or runtime errors) with a clear message; a
// failure during prefill or decode first closes the trace as truncated.
RunResult run_to_folder(const RunRequest& req);

}  // namespace foresight::runtime

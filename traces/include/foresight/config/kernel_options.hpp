// The switches that change which kernels a CUDA run launches and how: kernel
// variants, fusion, programmatic dependent launch, trace marks, stream
// priority and the split-KV grid of decode attention. Written once here; a
// run records them (RunConfig::kernels, in the trace header and config.json),
// so a trace always says which kernels produced it. `foresight run --kernel
// KEY=VALUE` sets one; the FORESIGHT_* environment variable named in each row
// sets it too (the option wins), as earlier versions read them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace foresight::config {

struct KernelOptions {
  std::string decode_attention = "pipe3";  // split-KV decode attention: warp, pipe2, pipe3, pipe6, flat3
  std::string prefill_attention = "auto";  // dense prefill attention: auto, mma, cudnn
  bool gemm_tune = true;                   // time cuBLAS algorithms per GEMM shape on first use
  bool linear_fused = true;                // fused skinny kernel for decode linear layers
  bool linear_pdl = true;                  // programmatic dependent launch of the fused kernel
  std::string graph_marks = "branch";      // trace marks: branch (off the kernels' path) or inline
  std::string side_marks = "branch";       // the side stream's marks: branch or inline
  std::string side_priority = "high";      // the prefetch stream's priority: high or normal
  std::int64_t attn_sm_reserve = -1;       // SMs decode attention's grid leaves free; -1: the mode's
                                           // gather CTAs (sparda), else 0
  std::int64_t attn_min_tiles = 1;         // KV tiles per split of decode attention, at least
  std::string kv_gather = "sm_loads";      // host KV gather: sm_loads (16-byte loads) or bulk (Hopper
                                           // bulk copy; bench/RESULTS-runtime-h200.md compares them)
  std::int64_t gather_stages = 4;          // bulk: pieces in flight per CTA; 0: as many as shared memory holds

  bool operator==(const KernelOptions&) const = default;
};

// One option: its key, the environment variable that sets it, the values it
// takes and what it does (for --help, errors and docs).
struct KernelOptionInfo {
  const char* key;
  const char* env;
  const char* values;  // "warp|pipe2|pipe3|pipe6|flat3", "0|1", "integer >= -1"
  const char* help;
};
const std::vector<KernelOptionInfo>& kernel_option_infos();

// Sets option `key` from its text; throws ConfigError naming `where` and the
// key (unknown key, or a value outside its set).
void set_kernel_option(KernelOptions& k, const std::string& key, const std::string& value,
                       const std::string& where);
// "key=value" (as `run --kernel` takes it).
void set_kernel_option(KernelOptions& k, const std::string& key_eq_value, const std::string& where);
// The defaults with every FORESIGHT_* variable that is set applied; a bad
// value throws ConfigError naming the variable.
KernelOptions kernel_options_from_env();

// Every option as (environment variable, value text: "1"/"0" for flags),
// e.g. {"FORESIGHT_GEMM_TUNE", "1"}: what kernels::set_kernel_switches takes.
std::map<std::string, std::string> kernel_option_env(const KernelOptions& k);

nlohmann::json to_json(const KernelOptions& k);
// Absent keys keep their defaults, except kv_gather: absent, the record
// predates it and ran sm_loads. Unknown keys and bad values throw
// ConfigError naming `where` and the key.
KernelOptions kernel_options_from_json(const nlohmann::json& j, const std::string& where);

}  // namespace foresight::config

#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz/) with clang into build-fuzz and
# runs each for SECONDS (default 60) from a seed corpus of shipped files,
# then replays the committed crash inputs (tests/fuzz/regressions/). Exits
# non-zero when a harness finds a crash (the input is left in
# build-fuzz/findings/<harness>/) or a regression input fails again.
#   scripts/fuzz.sh [SECONDS] [HARNESS...]
# FUZZ_JOBS: build parallelism (default: nproc). Corpora grow in
# build-fuzz/corpus/<harness>/ and are reused by the next run.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
seconds=${1:-60}
shift || true
all=(fuzz_trace fuzz_safetensors fuzz_gguf fuzz_config_toml fuzz_config_json fuzz_study)
[ $# -gt 0 ] && harnesses=("$@") || harnesses=("${all[@]}")
build="$root/build-fuzz"
command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found: skipped"; exit 0; }

cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DFORESIGHT_CUDA=OFF -DFORESIGHT_FUZZ=ON >/dev/null
cmake --build "$build" -j "${FUZZ_JOBS:-$(nproc)}" --target "${harnesses[@]}"

# Seeds: shipped files each harness parses (large ones cut to 64 KiB: the
# headers are what the parsers read first).
seed() {  # seed HARNESS FILE...
  local dir="$build/corpus/$1"; shift
  mkdir -p "$dir"
  for f in "$@"; do [ -f "$f" ] && head -c 65536 "$f" > "$dir/seed-$(basename "$(dirname "$f")")-$(basename "$f")"; done
}
seed fuzz_trace "$root"/traces/samples/*-tiny.h5
seed fuzz_safetensors "$root"/tests/runtime/gguf/ckpt/model.safetensors "$root"/tests/runtime/parity/*/model.safetensors
seed fuzz_gguf "$root"/tests/runtime/gguf/*.gguf
seed fuzz_config_toml "$root"/configs/models/*.toml "$root"/configs/hardware/*.toml
seed fuzz_config_json "$root"/configs/calibration/*.json "$root"/tests/runtime/parity/*/config.json
seed fuzz_study "$root"/configs/studies/*.toml

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
for h in "${harnesses[@]}"; do
  findings="$build/findings/$h"
  mkdir -p "$findings"
  echo "== $h: ${seconds}s"
  log="$build/findings/$h.log"
  if ! (cd "$findings" && "$build/tests/fuzz/$h" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 \
          -max_len=65536 -print_final_stats=1 "$build/corpus/$h" >"$log" 2>&1); then
    echo "$h: FOUND A CRASH (input in $findings, log $log)"; tail -30 "$log"; status=1
  fi
  grep -E "^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)" "$log" | sort -u | sed "s/^/  /" || true
  regressions=("$root/tests/fuzz/regressions/$h"/*)
  if [ -e "${regressions[0]}" ]; then
    "$build/tests/fuzz/$h" -runs=1 "${regressions[@]}" >"$log.regressions" 2>&1 \
      || { echo "$h: a committed regression input fails again (log $log.regressions)"; status=1; }
  fi
done
exit $status

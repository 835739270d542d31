#!/usr/bin/env bash
# README command 2: install what is missing, build with warnings as errors,
# run every test; then build the CPU parts with AddressSanitizer and
# UndefinedBehaviorSanitizer and run the tests again. GPU tests are labelled
# `gpu` and skip themselves (with a message) where no GPU is present.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=$(nproc)
bash "$root/scripts/setup.sh"

echo "== build (warnings as errors; CUDA targets when nvcc exists)"
FORESIGHT_BUILD_DIR="$root/build" bash "$root/scripts/build.sh" -DFORESIGHT_WERROR=ON
echo "== tests"
ctest --test-dir "$root/build" --output-on-failure -j "$jobs"
# Say why GPU tests were skipped (ctest hides a skipped test's output).
ctest --test-dir "$root/build" -L gpu -V 2>/dev/null | grep -o "SKIPPED: .*" || true

echo "== build with ASan + UBSan (CPU only)"
FORESIGHT_BUILD_DIR="$root/build-asan" bash "$root/scripts/build.sh" \
  -DFORESIGHT_WERROR=ON -DFORESIGHT_CUDA=OFF -DFORESIGHT_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
echo "== tests under sanitizers"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$root/build-asan" --output-on-failure -j "$jobs" -LE "gpu|nosan"

# libFuzzer harnesses (tests/fuzz/), about 15 s each, where clang is present (the clang build of the harnesses takes about 3.5 min on 2 cores);
# FUZZ_SECONDS overrides, 0 skips.
if command -v clang++ >/dev/null && [ "${FUZZ_SECONDS:-15}" != 0 ]; then
  echo "== fuzzing (${FUZZ_SECONDS:-15} s per harness)"
  bash "$root/scripts/fuzz.sh" "${FUZZ_SECONDS:-15}"
else
  echo "== fuzzing skipped (no clang++, or FUZZ_SECONDS=0)"
fi

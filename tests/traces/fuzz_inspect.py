"""Manual robustness check (not run by ctest): damages copies of a sample
trace (1 to 8 random bytes each) and runs `foresight inspect` on every copy.
Every run must end with exit 0 (still a valid trace) or 2 (clear error),
never a crash or a hang.

usage: python3 tests/traces/fuzz_inspect.py N SEED FORESIGHT [SAMPLE]
e.g.   python3 tests/traces/fuzz_inspect.py 1500 2 build/bin/foresight
"""
import collections
import random
import subprocess
import sys
import tempfile
from pathlib import Path


def main():
    n, seed, exe = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    sample = Path(sys.argv[4] if len(sys.argv) > 4 else
                  Path(__file__).resolve().parents[2] / "traces/samples/sparda-tiny.h5")
    src = sample.read_bytes()
    rng = random.Random(seed)
    outcomes, bad = collections.Counter(), []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "damaged.h5"
        for i in range(n):
            data = bytearray(src)
            for _ in range(rng.choice([1, 1, 2, 8])):
                data[rng.randrange(len(data))] = rng.randrange(256)
            path.write_bytes(data)
            try:
                r = subprocess.run([exe, "inspect", str(path)], capture_output=True, timeout=20)
            except subprocess.TimeoutExpired:
                outcomes["hang"] += 1
                bad.append((i, "hang"))
                continue
            outcomes[r.returncode] += 1
            if r.returncode not in (0, 2):
                bad.append((i, r.returncode))
    print(f"{n} damaged copies of {sample.name}: exit 2 (rejected) {outcomes[2]}, "
          f"exit 0 (still valid) {outcomes[0]}, other {sum(outcomes.values()) - outcomes[0] - outcomes[2]}")
    for b in bad[:10]:
        print("bad:", b)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

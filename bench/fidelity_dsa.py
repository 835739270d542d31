#!/usr/bin/env python3
"""Fidelity of the DSA what-ifs against real H200 runs (issue #15).

Replays the training trace (traces/samples/h200-dsa-b4-32k.h5: dsa, batch 4,
32K) with the what-ifs of every held-out run of HELDOUT (bench_runtime's
results.jsonl: other batches, contexts and dsa-offload, off the calibration
grid of scripts/llc/profile-dsa.sh) and compares the mean steady decode step
with what the GPU measured. Writes OUT/summary.json and OUT/table.md.

Usage: fidelity_dsa.py HELDOUT --trace TRACE --foresight BIN --out OUT
"""
import argparse
import json
import pathlib
import statistics
import subprocess
import tempfile


def replay(foresight, trace, args):
    with tempfile.TemporaryDirectory() as d:
        subprocess.run([foresight, "replay", str(trace), "--quiet", "--out", d, *args], check=True,
                       capture_output=True)
        return json.loads((pathlib.Path(d) / "metrics.json").read_text())["decode"]["step_ms"]["mean"]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("heldout")
    p.add_argument("--trace", required=True)
    p.add_argument("--foresight", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    rows = []
    for line in pathlib.Path(a.heldout).read_text().splitlines():
        run = json.loads(line)
        if run.get("status") != "ok":
            continue
        what_if = ["--batch", str(run["batch"]), "--context", str(run["context"])]
        if run["mode"] != "dsa":
            what_if += ["--mode", run["mode"]]
        predicted = replay(a.foresight, a.trace, what_if)
        measured = run["step_ms"]["mean"]
        rows.append({"mode": run["mode"], "batch": run["batch"], "context": run["context"],
                     "measured_ms": measured, "predicted_ms": predicted,
                     "error": (predicted - measured) / measured})
    errors = [abs(r["error"]) for r in rows]
    summary = {"what": "mean steady decode step, simulator (replaying the dsa b4 32K trace) vs H200 runs "
                       "off the calibration grid",
               "points": len(rows), "median_abs_error": statistics.median(errors),
               "worst_abs_error": max(errors), "rows": rows}
    out = pathlib.Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    lines = ["| mode | batch | context | measured ms | predicted ms | error |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['mode']} | {r['batch']} | {r['context']} | {r['measured_ms']:.3f} | "
                     f"{r['predicted_ms']:.3f} | {100 * r['error']:+.1f}% |")
    lines.append(f"\n{len(rows)} points: median |error| {100 * summary['median_abs_error']:.1f}%, "
                 f"worst {100 * summary['worst_abs_error']:.1f}%")
    (out / "table.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Per-stage decode time against each stage's own HBM roofline, from a run's
Perfetto timeline (timeline.json of `foresight run --backend cuda`).

Per steady decode step (steps >= --warmup): each stage's GPU time, the bytes
its ops declare (weights, KV and activations read and written), their
roofline bytes / HBM bandwidth, and the ratio. The step's sum is compared
with the step time from metrics.json when given.

Usage: python3 bench/stage_roofline.py RUN_DIR [--warmup 3] [--hbm-gbps 4190]
"""
import argparse
import collections
import json
import os


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run_dir")
    ap.add_argument("--warmup", type=int, default=3, help="leading decode steps left out (default 3)")
    ap.add_argument("--hbm-gbps", type=float, default=4190.0,
                    help="HBM bandwidth, GB/s (default 4190: the H200's measured copy rate, configs/hardware/h200.toml)")
    a = ap.parse_args()
    t = json.load(open(os.path.join(a.run_dir, "timeline.json")))
    events = t["traceEvents"] if isinstance(t, dict) else t
    dur = collections.defaultdict(float)
    nbytes = collections.defaultdict(float)
    steps = set()
    for e in events:
        args = e.get("args", {})
        if e.get("ph") != "X" or args.get("phase") != "decode" or args.get("step", -1) < a.warmup:
            continue
        if e.get("cat") != "compute":
            continue
        stage = e["name"].split(" L")[0]
        dur[stage] += e["dur"]  # us
        nbytes[stage] += args.get("bytes", 0)
        steps.add(args["step"])
    n = max(1, len(steps))
    print(f"{a.run_dir}: {n} steady decode steps; roofline at {a.hbm_gbps:g} GB/s\n")
    print("| stage | us/step | MB/step | roofline us | time / roofline |")
    print("| --- | ---: | ---: | ---: | ---: |")
    total_us = total_roof = 0.0
    for stage in sorted(dur, key=lambda s: -dur[s]):
        us, mb = dur[stage] / n, nbytes[stage] / n / 1e6
        roof = nbytes[stage] / n / (a.hbm_gbps * 1e3)  # bytes / (bytes per us)
        total_us += us
        total_roof += roof
        ratio = f"{us / roof:.2f}x" if roof > 0 else "-"
        print(f"| {stage} | {us:.1f} | {mb:.1f} | {roof:.1f} | {ratio} |")
    print(f"| **all compute ops** | **{total_us:.1f}** | | **{total_roof:.1f}** | **{total_us / total_roof:.2f}x** |")
    mpath = os.path.join(a.run_dir, "metrics.json")
    if os.path.exists(mpath):
        step = json.load(open(mpath))["decode"]["step_ms"]["mean"] * 1e3
        print(f"\nmean decode step {step:.1f} us = {step / total_roof:.2f}x the ops' roofline; "
              f"gaps between ops (launch, graph) {step - total_us:.1f} us")


if __name__ == "__main__":
    main()

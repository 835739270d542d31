#!/usr/bin/env python3
"""Fidelity benchmark, CPU half: predicts every held-out GPU run from the
training traces and compares with what the GPU measured.

Input: RUNS, a JSON-lines file of bench_runtime results (each with "split":
"train" or "heldout"; `--collect DIR` makes it from the folder
bench/fidelity-collect.sh filled on the GPU), and TRACES, a folder holding the
training trace of each mode as h200-MODE-b16-32k.h5 (traces/samples ships
them). For each held-out run the matching training trace (same mode family,
batch 16, 32K) is replayed with the what-ifs that turn its settings into the run's
(batch, context, gather CTAs, GPU cache slots, prefetch), and each
training run is also predicted from the other mode family's trace (--mode);
the figure compared
is the mean steady decode step (warm-up steps excluded on both sides). Runs of
split "repeat" (the same configuration again in a later process) join their
configuration's row, which is then measured as the mean of its runs.

Writes points.csv (one row per prediction), summary.json (median and worst
|error| per knob and overall: what `foresight profile --fidelity` embeds in
the calibration) and fidelity.png (predicted against measured).

  python3 bench/fidelity.py bench/results/2026-12-03-h200-fidelity/runs.jsonl \
      --traces traces/samples --foresight build/bin/foresight --out DIR
  python3 bench/fidelity.py --collect GPU_OUT RUNS.jsonl   (GPU_OUT: fidelity-collect.sh output)
"""
import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile

# Held-out run mode -> (training trace mode, extra what-ifs).
BASE = {
    "sparda": ("sparda", []),
    "sparse-offload": ("sparse-offload", []),
    "sparda-no-prefetch": ("sparda", ["--prefetch", "none"]),
    "sparse": ("sparse", []),
    "sparda-no-offload": ("sparda-no-offload", []),
    "dense": ("dense", []),
}
# Mode what-ifs: a measured run of mode M predicted from the other family's
# training trace with --mode M (prefetch on from an inline trace and back).
CROSS = {"sparda": "sparse-offload", "sparse-offload": "sparda", "sparse": "sparda-no-offload",
         "sparda-no-offload": "sparse"}
TRAIN_BATCH, TRAIN_CONTEXT = 16, 32768


def collect(folder, runs_file, traces_dir):
    """runs.jsonl from fidelity-collect.sh output; training traces copied as h200-MODE-b16-32k.h5."""
    import shutil
    rows = []
    for split in ("train", "heldout", "repeat"):
        for root, _, files in os.walk(os.path.join(folder, split)):
            if "results.jsonl" not in files:
                continue
            for line in open(os.path.join(root, "results.jsonl")):
                r = json.loads(line)
                if r.get("status") != "ok":
                    continue
                r["split"] = split
                for k in ("stages_ms_all_steps", "step_ms_list"):
                    r.pop(k, None)
                if split == "train" and traces_dir:
                    shutil.copy(os.path.join(root, r["trace_file"]),
                                os.path.join(traces_dir, f"h200-{r['mode']}-b16-32k.h5"))
                rows.append(r)
    with open(runs_file, "w") as f:
        for r in rows:
            f.write(json.dumps(r, sort_keys=True) + "\n")


def config_key(run):
    return (run["mode"], run["batch"], run["context"], run["gather_ctas"], run["cache_blocks"])


def merge_repeats(rows):
    """One row per configuration: a "repeat" run (the same configuration again,
    later, in another process) joins its train or held-out row, whose measured
    step becomes the mean of the runs; "step_ms_runs" keeps each run's mean."""
    by_key, merged = {}, []
    for r in rows:
        if r["split"] == "repeat":
            continue
        r = dict(r, step_ms_runs=[r["step_ms"]["mean"]])
        by_key[config_key(r)] = r
        merged.append(r)
    for r in rows:
        if r["split"] == "repeat" and config_key(r) in by_key:
            by_key[config_key(r)]["step_ms_runs"].append(r["step_ms"]["mean"])
    return merged


def knob(run, base_mode):
    """Which what-if a held-out run exercises (its one difference from the training run)."""
    if run["mode"] != base_mode:
        return "prefetch"
    if run["cache_blocks"]:
        return "cache slots"
    if run["context"] != TRAIN_CONTEXT:
        return "context"
    if run["batch"] != TRAIN_BATCH:
        return "batch"
    default_ctas = 16 if run["batch"] <= 16 else 32
    return "gather CTAs" if run["gather_ctas"] != default_ctas else "recorded"


def what_ifs(run):
    args = ["--batch", str(run["batch"]), "--context", str(run["context"]),
            "--gather-ctas", str(run["gather_ctas"])]
    if run["cache_blocks"]:
        args += ["--cache-blocks", str(run["cache_blocks"])]
    return args


def predict(foresight, trace, args, env):
    with tempfile.TemporaryDirectory() as out:
        cmd = [foresight, "replay", trace, *args, "--out", out]
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
        with open(os.path.join(out, "metrics.json")) as f:
            m = json.load(f)
        return m["decode"]["step_ms"]["mean"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="?", help="runs.jsonl (measured train and held-out runs)")
    ap.add_argument("--traces", default="traces/samples", help="folder of h200-MODE-b16-32k.h5 training traces")
    ap.add_argument("--foresight", default="build/bin/foresight")
    ap.add_argument("--out", help="folder for points.csv, summary.json, fidelity.png")
    ap.add_argument("--date", default="", help="date of the GPU runs, for the summary")
    ap.add_argument("--collect", nargs=2, metavar=("GPU_OUT", "RUNS"),
                    help="make RUNS from fidelity-collect.sh output (and copy training traces to --traces)")
    a = ap.parse_args()
    if a.collect:
        collect(a.collect[0], a.collect[1], a.traces)
        return
    if not a.runs or not a.out:
        ap.error("RUNS and --out are needed")
    rows = merge_repeats([json.loads(line) for line in open(a.runs)])
    train = {r["mode"]: os.path.join(a.traces, f"h200-{r['mode']}-b16-32k.h5") for r in rows if r["split"] == "train"}
    train = {m: p for m, p in train.items() if os.path.exists(p)}
    points = []
    for r in rows:
        base_mode, extra = BASE[r["mode"]]
        if base_mode not in train:
            continue
        k = knob(r, base_mode)
        if (r["split"] == "train") != (k == "recorded"):
            continue
        pred = predict(a.foresight, train[base_mode], what_ifs(r) + extra, dict(os.environ))
        meas = statistics.mean(r["step_ms_runs"])
        points.append({"knob": k, "mode": r["mode"], "from": base_mode, "batch": r["batch"],
                       "context": r["context"], "gather_ctas": r["gather_ctas"],
                       "cache_blocks": r["cache_blocks"], "runs": len(r["step_ms_runs"]),
                       "run_spread": max(r["step_ms_runs"]) / min(r["step_ms_runs"]) - 1,
                       "measured_ms": meas, "predicted_ms": pred, "error": pred / meas - 1})
        print(f"{k:12s} {r['mode']:20s} b{r['batch']:<3d} c{r['context']:<7d} g{r['gather_ctas']:<3d} "
              f"k{r['cache_blocks']:<4d} measured {meas:7.3f} ms predicted {pred:7.3f} ms "
              f"{100 * (pred / meas - 1):+6.1f}%", flush=True)
    for r in rows:
        src = CROSS.get(r["mode"])
        if r["split"] != "train" or src not in train:
            continue
        pred = predict(a.foresight, train[src], what_ifs(r) + ["--mode", r["mode"]], dict(os.environ))
        meas = statistics.mean(r["step_ms_runs"])
        points.append({"knob": "mode", "mode": r["mode"], "from": src, "batch": r["batch"],
                       "context": r["context"], "gather_ctas": r["gather_ctas"],
                       "cache_blocks": r["cache_blocks"], "runs": len(r["step_ms_runs"]),
                       "run_spread": max(r["step_ms_runs"]) / min(r["step_ms_runs"]) - 1,
                       "measured_ms": meas, "predicted_ms": pred, "error": pred / meas - 1})
        print(f"mode         {r['mode']:20s} from {src:18s} measured {meas:7.3f} ms predicted {pred:7.3f} ms "
              f"{100 * (pred / meas - 1):+6.1f}%", flush=True)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "points.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(points[0].keys()))
        w.writeheader()
        w.writerows(points)
    summary = summarize(points, a.date)
    with open(os.path.join(a.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
    plot(points, os.path.join(a.out, "fidelity.png"))
    print(json.dumps(summary["held_out"], indent=1))


def stats(pts):
    e = sorted(abs(p["error"]) for p in pts)
    return {"points": len(e), "median_abs_error": statistics.median(e), "worst_abs_error": e[-1]}


def summarize(points, date):
    held = [p for p in points if p["knob"] != "recorded"]
    knobs = sorted({p["knob"] for p in held})
    return {"what": "mean steady decode step, simulator vs H200 runs it did not see",
            "date": date, "held_out": stats(held),
            "recorded": stats([p for p in points if p["knob"] == "recorded"]),
            "by_knob": {k: stats([p for p in held if p["knob"] == k]) for k in knobs}}


def plot(points, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing: no plot", file=sys.stderr)
        return
    fig, ax = plt.subplots(figsize=(6, 6))
    for k in sorted({p["knob"] for p in points}):
        pts = [p for p in points if p["knob"] == k]
        ax.scatter([p["measured_ms"] for p in pts], [p["predicted_ms"] for p in pts], label=k, s=22)
    hi = max(max(p["measured_ms"], p["predicted_ms"]) for p in points) * 1.05
    ax.plot([0, hi], [0, hi], "k-", lw=0.8)
    ax.fill_between([0, hi], [0, 0.95 * hi], [0, 1.05 * hi], color="0.85", label="±5%")
    ax.set_xlabel("measured step (ms, H200)")
    ax.set_ylabel("predicted step (ms)")
    ax.set_title("foresight replay vs real H200 runs")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Tables of bench/RESULTS-real-model.md from a scripts/real-model/measure.sh
output folder (run folders A-*, B-*, C-*, D-*, E-*, calibrate.txt).

  python3 scripts/real-model/summarize.py MEASURE_DIR > tables.md

Locality (A) comes from each trace's selections through locality.py (the
query's own top-k: mode sparse); recall (B) and hit rates (C) from
metrics.json; generation (D) and perplexity (E) from tokens.json/metrics.json.
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import locality  # noqa: E402


def load(run, name):
    with open(os.path.join(run, name)) as f:
        return json.load(f)


def f3(v):
    return "-" if v is None else f"{v:.3f}"


def grid(root, prefix):
    """{(context, topk): folder} of runs named PREFIX-c<ctx>-k<k>."""
    out = {}
    for d in sorted(os.listdir(root)):
        m = re.fullmatch(prefix + r"-c(\d+)-k(\d+)", d)
        if m:
            out[(int(m.group(1)), int(m.group(2)))] = os.path.join(root, d)
    return out


def locality_table(root):
    rows = ["| context | top-k | selected share | step reuse | adjacent-layer overlap | model reuse | model cross_layer | layer range of step reuse |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for (c, k), run in sorted(grid(root, "A-sparse").items()):
        _, rep = locality.analyse(os.path.join(run, "trace.h5"))
        p = {m: v["pooled"] for m, v in rep["overall"].items()}
        per = [r["step_reuse"] for r in rep["layers"] if r["step_reuse"] is not None]
        share = min(1.0, k * 64 / c)
        span = f"{min(per):.2f}-{max(per):.2f}" if per else "- (every block selected)"
        rows.append(f"| {c} | {k} | {share:.2f} | {f3(p['step_reuse'])} | {f3(p['adjacent_overlap'])} | "
                    f"{f3(p['model_reuse'])} | {f3(p['model_cross_layer'])} | {span} |")
    return "\n".join(rows)


def recall_table(root):
    rows = ["| context | top-k | Forecast recall (mean over layers) | worst layer |", "| ---: | ---: | ---: | ---: |"]
    for (c, k), run in sorted(grid(root, "B-recall").items()):
        r = load(run, "metrics.json")["recall"]
        layers = {int(l): v for l, v in r["layer"].items()}
        worst = min(layers, key=layers.get)
        rows.append(f"| {c} | {k} | {r['mean']:.3f} | {layers[worst]:.3f} (layer {worst}) |")
    return "\n".join(rows)


def hit_table(root):
    rows = ["| context | hit rate, calibrated Forecast | hit rate, uncalibrated | H2D MB/step calibrated | uncalibrated |",
            "| ---: | ---: | ---: | ---: | ---: |"]
    ctxs = sorted({int(m.group(1)) for d in os.listdir(root) if (m := re.fullmatch(r"C-sparda-cal-c(\d+)", d))})
    for c in ctxs:
        cal, raw = (load(os.path.join(root, f"C-sparda-{w}-c{c}"), "metrics.json") for w in ("cal", "raw"))
        steps = len(load(os.path.join(root, f"C-sparda-cal-c{c}"), "tokens.json")["generated"][0])
        mb = lambda m: m["cache"]["h2d_bytes"] / steps / 1e6
        rows.append(f"| {c} | {cal['cache']['hit_rate']:.3f} | {raw['cache']['hit_rate']:.3f} | {mb(cal):.2f} | {mb(raw):.2f} |")
    return "\n".join(rows)


def agreement(a, b):
    n = min(len(a), len(b))
    same = sum(x == y for x, y in zip(a, b))
    first = next((i for i in range(n) if a[i] != b[i]), n)
    return same / n, first, n


def generation_table(root):
    rows = ["| context | mode | tokens equal to dense's (positional) | first difference at |", "| ---: | --- | ---: | ---: |"]
    ctxs = sorted({int(m.group(1)) for d in os.listdir(root) if (m := re.fullmatch(r"D-dense-c(\d+)", d))})
    for c in ctxs:
        ref = load(os.path.join(root, f"D-dense-c{c}"), "tokens.json")["generated"][0]
        for mode in ("sparse", "sparda"):
            got = load(os.path.join(root, f"D-{mode}-c{c}"), "tokens.json")["generated"][0]
            share, first, n = agreement(ref, got)
            rows.append(f"| {c} | {mode} | {share:.2f} of {n} | {'none' if first == n else f'token {first}'} |")
    return "\n".join(rows)


def perplexity_table(root):
    rows = ["| mode | top-k | perplexity | top-1 accuracy | greedy token equal to dense's |", "| --- | ---: | ---: | ---: | ---: |"]
    dense = load(os.path.join(root, "E-dense-k16"), "tokens.json")["generated"][0]
    for d in sorted(os.listdir(root)):
        m = re.fullmatch(r"E-(.+)-k(\d+)", d)
        if not m:
            continue
        s = load(os.path.join(root, d), "metrics.json")["score"]
        got = load(os.path.join(root, d), "tokens.json")["generated"][0]
        same = agreement(dense, got)[0]
        k = "-" if m.group(1) == "dense" else m.group(2)
        rows.append(f"| {m.group(1)} | {k} | {s['perplexity']:.3f} | {s['top1_accuracy']:.3f} | {same:.3f} |")
    return "\n".join(rows)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    root = sys.argv[1]
    for title, table in (("Locality (A)", locality_table), ("Forecast recall (B)", recall_table),
                         ("Hit rate (C)", hit_table), ("Generation (D)", generation_table),
                         ("Perplexity (E)", perplexity_table)):
        print(f"### {title}\n\n{table(root)}\n")


if __name__ == "__main__":
    main()

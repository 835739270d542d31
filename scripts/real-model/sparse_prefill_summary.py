#!/usr/bin/env python3
"""Tables of scripts/real-model/sparse-prefill.sh's runs (bench/RESULTS-prefill.md):
per context, dense prefill against sparse prefill at each recall: tile share,
estimated recall (mean, min), heads per pattern, agreement of the 64 greedy
tokens (first divergence, share equal), teacher-forced perplexity and top-1.
Usage: python3 scripts/real-model/sparse_prefill_summary.py OUT [--json FILE]"""
import json
import pathlib
import re
import sys

import h5py
import numpy as np


def generated(folder):
    """Sequence 0's generated ids (tokens.json 'generated': [seq][step])."""
    return json.loads((folder / "tokens.json").read_text())["generated"][0]


def patterns(folder):
    trace = folder / "trace.h5"
    if not trace.exists():
        return None
    with h5py.File(trace, "r") as f:
        if "prefill_patterns" not in f or len(f["prefill_patterns"]) == 0:
            return None
        p = f["prefill_patterns"][:]
    kinds = np.bincount(p["kind"].astype(int), minlength=3)
    return {"tile_share": float(p["tiles"].sum() / p["dense_tiles"].sum()),
            "recall_mean": float(p["recall"].mean()), "recall_min": float(p["recall"].min()),
            "heads": {"triangular": int(kinds[0]), "interval-slash": int(kinds[1]), "block-cluster": int(kinds[2])},
            "full_coverage": int(p["full"].sum())}


def metrics(folder):
    return json.loads((folder / "metrics.json").read_text())


def agreement(a, b):
    n = min(len(a), len(b))
    first = next((i for i in range(n) if a[i] != b[i]), n)
    return {"first_divergence": first, "equal_share": sum(x == y for x, y in zip(a, b)) / max(n, 1), "tokens": n}


def perplexity(out, context, recall):
    """Teacher-forced scores after a dense and a sparse prefill: the P runs of
    the largest prefill context <= `context` (the script caps it below 8192)."""
    ps = [int(p.name.split("-c")[1]) for p in out.glob("P-dense-c*")]
    ps = [p for p in ps if p <= context]
    if not ps:
        return {}
    pc = max(ps)
    dense, sparse = out / f"P-dense-c{pc}", out / f"P-sparse-r{recall}-c{pc}"
    if not (dense / "metrics.json").exists() or not (sparse / "metrics.json").exists():
        return {}
    sd, ss = metrics(dense).get("score", {}), metrics(sparse).get("score", {})
    return {"context": pc, "dense": sd.get("perplexity"), "sparse": ss.get("perplexity"),
            "top1_dense": sd.get("top1_accuracy"), "top1_sparse": ss.get("top1_accuracy"),
            "positions": sd.get("tokens")}


def main():
    out = pathlib.Path(sys.argv[1])
    rows = []
    for dense in sorted(out.glob("G-dense-c*"), key=lambda p: int(p.name.split("-c")[1])):
        c = int(dense.name.split("-c")[1])
        ref = generated(dense)
        for sparse in sorted(out.glob(f"G-sparse-r*-c{c}")):
            r = float(re.match(r"G-sparse-r([0-9.]+)-c", sparse.name).group(1))
            row = {"context": c, "recall_target": r, "patterns": patterns(sparse),
                   "agreement": agreement(ref, generated(sparse)),
                   "prefill_ms": {"dense": metrics(dense)["prefill"]["ms"], "sparse": metrics(sparse)["prefill"]["ms"]}}
            row["perplexity"] = perplexity(out, c, sparse.name.split("-r")[1].split("-c")[0])
            rows.append(row)
    print("| context | target recall | tiles computed | recall est. mean (min) | heads T / IS / BC (full) "
          "| same tokens (of 64) | first divergence | perplexity dense -> sparse | top-1 dense -> sparse |")
    print("| ---: | ---: | ---: | --- | --- | ---: | ---: | --- | --- |")
    for r in rows:
        p, a, q = r["patterns"] or {}, r["agreement"], r.get("perplexity", {})
        h = p.get("heads", {})
        print(f"| {r['context']} | {r['recall_target']} | {100 * p.get('tile_share', float('nan')):.1f}% "
              f"| {p.get('recall_mean', float('nan')):.3f} ({p.get('recall_min', float('nan')):.3f}) "
              f"| {h.get('triangular')} / {h.get('interval-slash')} / {h.get('block-cluster')} ({p.get('full_coverage')}) "
              f"| {round(a['equal_share'] * a['tokens'])} | {a['first_divergence']} "
              f"| {q.get('dense', float('nan')):.3f} -> {q.get('sparse', float('nan')):.3f} (ctx {q.get('context')}) "
              f"| {q.get('top1_dense', float('nan')):.3f} -> {q.get('top1_sparse', float('nan')):.3f} |")
    if "--json" in sys.argv:
        pathlib.Path(sys.argv[sys.argv.index("--json") + 1]).write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()

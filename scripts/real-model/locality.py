#!/usr/bin/env python3
"""Locality of the block selections in a foresight trace (issue #14): how much
of a selection stays from one decode step to the next, and how much two
adjacent layers share, per layer. Reads trace.h5 with h5py and numpy only
(schema: traces/README.md, /selections).

A stream is one (layer, seq, kv_head); its selection at decode step t holds
the sorted block ids of /selections. At step t sequence s has
n = ceil(tokens / block_tokens) blocks, tokens = context[s] + t in a runtime
trace (run.backend cpu or cuda: the runtime feeds the last prompt token at
step 0, docs/runtime.md "Token semantics") and context[s] + t + 1 in a
synthesized one (run.backend synth, docs/workload-model.md). As in the workload model
(docs/workload-model.md, traces/include/foresight/workload/selection_model.hpp)
the *forced* blocks are the sinks [0, sink_blocks) and the window, the last
window_blocks blocks [n - window_blocks, n); when n <= topk every block is
selected (and forced), and such rows are left out of every figure below. The
other selected blocks are the *free picks*.

Per layer, summed over every (seq, kv_head) stream and step before dividing:
  step_reuse        (a) share of the free picks of step t that step t+1
                    selects again (any reason: kept or forced).
  adjacent_overlap  (b) share of layer l's free picks at step t that layer
                    l-1 selects at step t (layers >= 1).
  model_reuse       (c) the workload model's `reuse`: kept / free picks of
                    step t+1, kept = free picks of t+1 that step t selected
                    (a block that just left the window counts: it was selected
                    at t and is free now, as in the model).
  model_cross_layer (c) the workload model's `cross_layer`: the share of layer
                    l's fresh picks (free picks of step t not selected at t-1;
                    at a stream's first step all free picks are fresh, as in
                    the model) that layer l-1 selects at step t (layers >= 1).
(a) and (c) reuse differ only by the block leaving the window; on a workload
trace (c) recovers the model's parameters exactly in expectation.
`overall` gives the unweighted mean over layers and the pooled ratio (all
layers' numerators over all denominators).

Whose selection is it? In modes sparse and sparse-offload, layer l's row is
the query's own top-k. In sparda, sparda-no-prefetch and sparda-no-offload
the row of layer l is the selection layer l-1's Forecast made for layer l
(layer 0's: its selector), so "adjacent-layer overlap" there compares two
Forecasts. With run.selection_source = workload every row comes from the
workload model instead. The output says which applies (`selection_by`).

usage:
  python3 scripts/real-model/locality.py TRACE.h5 [--out DIR] [--markdown]
writes DIR/locality.json and DIR/locality.csv (DIR defaults to the trace's
folder); --markdown prints the per-layer table to stdout.
"""
import argparse
import csv
import json
import math
import os
import sys

import h5py
import numpy as np

FORECAST_MODES = ("sparda", "sparda-no-prefetch", "sparda-no-offload")
METRICS = ("step_reuse", "adjacent_overlap", "model_reuse", "model_cross_layer")


class Selections:
    """The selections of one trace: rows[(step, layer, seq, kv_head)] -> sorted
    int64 ids, plus the sparse config needed to tell forced from free."""

    def __init__(self, path):
        self.path = str(path)
        with h5py.File(path, "r") as f:
            if int(f.attrs["schema_version"]) not in (1, 2):
                raise ValueError(f"{path}: schema_version {f.attrs['schema_version']} (expected 1 or 2)")
            model = json.loads(f["config/model"].attrs["json"])
            run = json.loads(f["config/run"].attrs["json"])
            keys = f["selections/keys"][:]
            blocks = f["selections/blocks"][:]
        sp = model["sparse"]
        self.model, self.run = model, run
        self.n_layers, self.n_kv_heads = int(model["n_layers"]), int(model["n_kv_heads"])
        self.block_tokens = int(sp["block_tokens"])
        self.sink = int(sp["sink_blocks"])
        self.window = int(sp["window_blocks"])
        self.topk = int(run.get("topk_blocks") or sp["topk_blocks"])
        self.context = [int(c) for c in run["context_tokens"]]
        self.mode = run["mode"]
        self.source = run.get("selection_source", "")
        # Tokens held at decode step t, the new one included: the runtime
        # feeds the last prompt token at step 0 (docs/runtime.md, "Token
        # semantics"), so context + t; the synthesizer's workload model
        # (docs/workload-model.md) counts context + t + 1.
        self.token_offset = 1 if run.get("backend") == "synth" else 0
        self.rows = {}
        for r, k in enumerate(keys):
            ids = blocks[r, : int(k["count"])].astype(np.int64)
            self.rows[(int(k["step"]), int(k["layer"]), int(k["seq"]), int(k["kv_head"]))] = ids
        self.steps = sorted({k[0] for k in self.rows})
        self.seqs = sorted({k[2] for k in self.rows})
        self.heads = sorted({k[3] for k in self.rows})
        self.layers = sorted({k[1] for k in self.rows})

    def n_blocks(self, seq, step):
        return -(-(self.context[seq] + step + self.token_offset) // self.block_tokens)

    def free(self, ids, seq, step):
        """The free picks of a row, or None when every block is forced."""
        n = self.n_blocks(seq, step)
        if n <= self.topk:
            return None
        return ids[(ids >= self.sink) & (ids < n - self.window)]

    def selection_by(self):
        if self.source == "workload":
            who = ("standing in for the selection layer l-1's Forecast makes for layer l"
                   if self.mode in FORECAST_MODES else "standing in for layer l's own query top-k")
            return f"workload model rows (run.selection_source = workload), {who}; not a model's attention"
        if self.mode in FORECAST_MODES:
            return ("layer l's row is the selection made by layer l-1's Forecast for layer l "
                    "(layer 0: its selector)")
        return "layer l's row is layer l's own query top-k"


def _count(a, b):
    """|a ∩ b| for sorted unique int arrays."""
    return int(np.intersect1d(a, b, assume_unique=True).size)


def measure(sel):
    """Per-layer sums and ratios. Returns {"layers": [...], "overall": {...}}."""
    num = {m: np.zeros(sel.n_layers, dtype=np.int64) for m in METRICS}
    den = {m: np.zeros(sel.n_layers, dtype=np.int64) for m in METRICS}
    rows = sel.rows
    for (t, l, s, h), ids in rows.items():
        free = sel.free(ids, s, t)
        if free is None or free.size == 0:
            continue
        prev = rows.get((t - 1, l, s, h))
        nxt = rows.get((t + 1, l, s, h))
        # (a) step reuse: free picks of t selected again at t+1
        if nxt is not None and sel.free(nxt, s, t + 1) is not None:
            num["step_reuse"][l] += _count(free, nxt)
            den["step_reuse"][l] += free.size
        # (c) reuse: free picks of t that t-1 selected
        if prev is not None and sel.free(prev, s, t - 1) is not None:
            num["model_reuse"][l] += _count(free, prev)
            den["model_reuse"][l] += free.size
        # (b) adjacent overlap and (c) cross-layer, against layer l-1 at step t
        below = rows.get((t, l - 1, s, h)) if l > 0 else None
        if below is not None:
            num["adjacent_overlap"][l] += _count(free, below)
            den["adjacent_overlap"][l] += free.size
            fresh = free if prev is None else np.setdiff1d(free, prev, assume_unique=True)
            num["model_cross_layer"][l] += _count(fresh, below)
            den["model_cross_layer"][l] += fresh.size
    layers = []
    for l in range(sel.n_layers):
        row = {"layer": l}
        for m in METRICS:
            row[m] = num[m][l] / den[m][l] if den[m][l] else None
            row[m + "_n"] = int(den[m][l])
        layers.append(row)
    overall = {}
    for m in METRICS:
        vals = [r[m] for r in layers if r[m] is not None]
        overall[m] = {"mean": float(np.mean(vals)) if vals else None,
                      "pooled": float(num[m].sum() / den[m].sum()) if den[m].sum() else None,
                      "n": int(den[m].sum())}
    return {"layers": layers, "overall": overall}


def overlap_matrix(sel, step):
    """[n_layers, n_layers]: M[i, j] = share of layer i's free picks at `step`
    that layer j also selects at `step` (pooled over streams; NaN where layer
    i has no free picks)."""
    L = sel.n_layers
    num = np.zeros((L, L))
    den = np.zeros(L)
    for s in sel.seqs:
        for h in sel.heads:
            rows = [sel.rows.get((step, l, s, h)) for l in range(L)]
            for i in range(L):
                if rows[i] is None:
                    continue
                free = sel.free(rows[i], s, step)
                if free is None or free.size == 0:
                    continue
                den[i] += free.size
                for j in range(L):
                    if rows[j] is not None:
                        num[i, j] += _count(free, rows[j])
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den[:, None]


def raster(sel, layer, seq, kv_head):
    """(steps, blocks, selected[n_steps, max_blocks] bool, forced same shape)
    for one stream: which blocks each decode step selects."""
    steps = [t for t in sel.steps if (t, layer, seq, kv_head) in sel.rows]
    nb = max(sel.n_blocks(seq, t) for t in steps)
    selected = np.zeros((len(steps), nb), dtype=bool)
    forced = np.zeros_like(selected)
    for i, t in enumerate(steps):
        selected[i, sel.rows[(t, layer, seq, kv_head)]] = True
        n = sel.n_blocks(seq, t)
        forced[i, : min(sel.sink, n)] = True
        forced[i, max(n - sel.window, 0): n] = True
        if n <= sel.topk:
            forced[i, :n] = True
    return steps, nb, selected, forced


def report(sel, result):
    return {
        "trace": os.path.abspath(sel.path),
        "mode": sel.mode,
        "selection_source": sel.source,
        "selection_by": sel.selection_by(),
        "workload": sel.run.get("workload") if sel.source == "workload" else None,
        "config": {"n_layers": sel.n_layers, "n_kv_heads": sel.n_kv_heads, "block_tokens": sel.block_tokens,
                   "sink_blocks": sel.sink, "window_blocks": sel.window, "topk_blocks": sel.topk,
                   "batch": len(sel.context), "context_tokens": sel.context,
                   "tokens_at_step": "context + step" + (" + 1" if sel.token_offset else ""),
                   "steps": [sel.steps[0], sel.steps[-1]] if sel.steps else []},
        "definitions": {
            "step_reuse": "free picks of step t selected again at t+1 / free picks of t",
            "adjacent_overlap": "free picks of layer l at t selected by layer l-1 at t / free picks (l >= 1)",
            "model_reuse": "free picks of t+1 selected at t / free picks of t+1 (workload model's reuse)",
            "model_cross_layer": "fresh picks (free, not selected at t-1) of layer l also selected by layer l-1 "
                                 "/ fresh picks (workload model's cross_layer, l >= 1)",
            "free": "selected, not a sink block, not in the last window_blocks blocks; rows with n_blocks <= topk skipped",
        },
        **result,
    }


def write_csv(path, rep):
    cols = ["layer"] + [c for m in METRICS for c in (m, m + "_n")]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        fmt = lambda v: "" if v is None else (f"{v:.6f}" if isinstance(v, float) else v)
        for r in rep["layers"]:
            w.writerow([fmt(r[c]) for c in cols])
        for agg in ("mean", "pooled"):
            w.writerow([agg] + [x for m in METRICS for x in
                                (fmt(rep["overall"][m][agg]), rep["overall"][m]["n"])])


def markdown(rep):
    f = lambda v: "-" if v is None else f"{v:.3f}"
    out = [f"trace `{os.path.basename(rep['trace'])}`, mode {rep['mode']}: {rep['selection_by']}", "",
           "| layer | step reuse | adjacent-layer overlap | model reuse | model cross_layer |",
           "| --- | --- | --- | --- | --- |"]
    for r in rep["layers"]:
        out.append(f"| {r['layer']} | " + " | ".join(f(r[m]) for m in METRICS) + " |")
    for agg in ("mean", "pooled"):
        out.append(f"| **{agg}** | " + " | ".join(f(rep["overall"][m][agg]) for m in METRICS) + " |")
    if rep.get("workload"):
        w = rep["workload"]
        out += ["", f"workload parameters of the trace: reuse {w.get('reuse')}, cross_layer {w.get('cross_layer')}"]
    return "\n".join(out)


def analyse(path):
    sel = Selections(path)
    return sel, report(sel, measure(sel))


def main(argv=None):
    ap = argparse.ArgumentParser(description="Per-layer locality of a trace's block selections.")
    ap.add_argument("trace")
    ap.add_argument("--out", help="folder for locality.json and locality.csv (default: the trace's folder)")
    ap.add_argument("--markdown", action="store_true", help="print the per-layer table")
    args = ap.parse_args(argv)
    try:
        sel, rep = analyse(args.trace)
    except (OSError, KeyError, ValueError) as e:
        print(f"locality: error: {args.trace}: {e}", file=sys.stderr)
        return 2
    if not sel.rows:
        print(f"locality: error: {args.trace}: no selections (dense run?)", file=sys.stderr)
        return 2
    out = args.out or os.path.dirname(os.path.abspath(args.trace))
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "locality.json"), "w") as f:
        json.dump(rep, f, indent=1, allow_nan=False)
        f.write("\n")
    write_csv(os.path.join(out, "locality.csv"), rep)
    if args.markdown:
        print(markdown(rep))
    o = rep["overall"]
    print(f"{os.path.basename(args.trace)}: reuse {o['model_reuse']['pooled']:.4f}, "
          f"cross_layer {o['model_cross_layer']['pooled']:.4f}, step reuse {o['step_reuse']['pooled']:.4f}, "
          f"adjacent overlap {o['adjacent_overlap']['pooled']:.4f} (pooled); wrote {out}/locality.json, .csv",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

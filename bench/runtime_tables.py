#!/usr/bin/env python3
"""Markdown tables from bench_runtime's results.jsonl files.

Usage: python3 bench/runtime_tables.py RESULTS.jsonl... > tables.md
One table per (selections, trace) group: rows (mode, context, batch), columns
step ms, tokens/s, prefill ms, H2D exposed share, hit rate. Plain stdlib.
"""
import json
import math
import sys


def fmt(x, spec):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return format(x, spec)


def main(paths):
    rows = []
    for p in paths:
        with open(p) as f:
            rows += [json.loads(line) for line in f if line.strip()]
    groups = {}
    for r in rows:
        groups.setdefault((r.get("selections", "?"), r.get("trace", True), r.get("graph", False)), []).append(r)
    for (sel, trace, graph), rs in sorted(groups.items(), key=lambda kv: kv[0]):
        how = "per-op tracing on" if trace else ("tracing off, CUDA graph" if graph else "tracing off, no graph")
        print(f"\n### selections: {sel}; {how}\n")
        print("| mode | context | batch | step ms (mean) | tokens/s | prefill ms | H2D exposed ms/step | "
              "exposed share | H2D GB/s | hit rate | status |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
        rs.sort(key=lambda r: (r["mode"], r["context"], r["batch"]))
        for r in rs:
            st = r.get("status")
            if st != "ok":
                extra = f"largest batch {r.get('largest_feasible_batch')}" if st == "does_not_fit" else r.get("error", "")
                print(f"| {r['mode']} | {r['context']} | {r['batch']} | - | - | - | - | - | - | - | {st}: {extra} |")
                continue
            h = r.get("h2d", {})
            print(f"| {r['mode']} | {r['context']} | {r['batch']} | {fmt(r['step_ms']['mean'], '.3f')} | "
                  f"{fmt(r['tokens_per_s'], '.1f')} | {fmt(r.get('prefill_ms'), '.0f')} | "
                  f"{fmt(h.get('exposed_ms_per_step'), '.3f')} | {fmt(h.get('exposed_share'), '.1%')} | "
                  f"{fmt(h.get('gbps'), '.1f')} | {fmt(r.get('cache', {}).get('hit_rate'), '.2f')} | ok |")


if __name__ == "__main__":
    main(sys.argv[1:])

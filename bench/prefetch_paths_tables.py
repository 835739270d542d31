#!/usr/bin/env python3
"""Markdown tables of issue #17's prefetch paths (scripts/h200/prefetch-paths.sh OUT):
the gather kernels' rates by block size, what a GEMM beside each loses, and
every decode row of the runs under OUT (each folder's results.jsonl), one
line per (mode, context, batch, gather path, CTAs, stages, cache, tracing),
repeats averaged.

    python3 bench/prefetch_paths_tables.py OUT [OUT2 ...]

A row's gather path and stages come from its `kernels` record; rows of
bench_runtime builds before that record take them from the folder's name
(`*bulk*` and `ctas` -> bulk, `stages-N` -> N), else the defaults of that time
(sm_loads, 4 stages).
"""
import csv
import json
import re
import sys
from collections import defaultdict
from pathlib import Path


def kernel_rows(out):
    path = out / "kernels.csv"
    if not path.exists():
        return []
    return list(csv.DictReader(path.open()))


def kernel_tables(rows):
    alone = [r for r in rows if r["op"].startswith("kv_gather") and "beside" not in r["shape"]]
    beside = [r for r in rows if r["op"].startswith("kv_gather") and "beside" in r["shape"]]
    lines = ["| path | 4 KiB blocks GB/s | 16 KiB | 64 KiB |", "| --- | ---: | ---: | ---: |"]
    by_path = defaultdict(dict)
    for r in alone:
        size, _, path = (s.strip() for s in r["shape"].split(",", 2))
        by_path[path][size.split()[0]] = float(r["gbps"])
    for path, got in by_path.items():
        lines.append(f"| {path} | " + " | ".join(f"{got.get(k, float('nan')):.1f}" for k in ("4", "16", "64")) + " |")
    lines += ["", "| gather beside the GEMM | GEMM us | GEMM slowdown | gather GB/s |", "| --- | ---: | ---: | ---: |"]
    gemm_alone = next((float(r["us"]) for r in rows if r["op"].startswith("gemm") and r["shape"] == "alone"), None)
    gemms = [r for r in rows if r["op"].startswith("gemm") and r["shape"] != "alone"]
    for g, k in zip(gemms, beside):
        name = g["shape"].replace("beside gather ", "")
        slow = f"{float(g['us']) / gemm_alone:.2f}x" if gemm_alone else "?"
        lines.append(f"| {name} | {float(g['us']):.1f} | {slow} | {float(k['gbps']):.1f} |")
    if gemm_alone:
        lines.append(f"| (GEMM alone) | {gemm_alone:.1f} | 1.00x | |")
    return "\n".join(lines)


def path_of(row, folder):
    k = row.get("kernels") or {}
    if "kv_gather" in k:
        return k["kv_gather"], int(k.get("gather_stages", 4))
    m = re.search(r"stages-(\d+)", folder)
    bulk = "bulk" in folder or m or folder.split("/")[-1] == "ctas"  # prefetch-paths.sh's ctas part: bulk
    return ("bulk" if bulk else "sm_loads"), (int(m.group(1)) if m else 4)


def decode_table(outs):
    acc = defaultdict(list)
    for out in outs:
        for f in sorted(out.rglob("results.jsonl")):
            folder = str(f.parent.relative_to(out))
            for line in f.read_text().splitlines():
                r = json.loads(line)
                if r.get("status") != "ok":
                    continue
                path, stages = path_of(r, folder)
                key = (r["mode"], r["context"], r["batch"], path, r["gather_ctas"],
                       stages if path == "bulk" else "-", r["cache_blocks"], "on" if r["trace"] else "off")
                h2d = r.get("h2d", {}).get("exposed_ms_per_step")
                acc[key].append((r["step_ms"]["mean"], h2d if isinstance(h2d, float) else None))
    lines = ["| mode | context | batch | path | CTAs | stages | cache blocks | trace | runs | ms/step | tok/s | exposed H2D ms |",
             "| --- | ---: | ---: | --- | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: |"]
    for key in sorted(acc, key=lambda k: (k[0], k[1], k[2], k[7], k[3], k[4], str(k[5]), k[6])):
        v = acc[key]
        ms = sum(x for x, _ in v) / len(v)
        exp = [e for _, e in v if e is not None]
        exposed = f"{sum(exp) / len(exp):.2f}" if exp else "-"
        mode, ctx, batch, path, ctas, stages, cache, trace = key
        lines.append(f"| {mode} | {ctx // 1024}K | {batch} | {path} | {ctas} | {stages} | {cache} | {trace} | "
                     f"{len(v)} | {ms:.2f} | {batch * 1e3 / ms:.0f} | {exposed} |")
    return "\n".join(lines)


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    outs = [Path(a) for a in argv[1:]]
    for out in outs:
        if not out.is_dir():
            print(f"prefetch_paths_tables: {out}: not a folder", file=sys.stderr)
            return 2
    for out in outs:
        rows = kernel_rows(out)
        if rows:
            print(f"### Gather kernels ({out / 'kernels.csv'})\n\n{kernel_tables(rows)}\n")
    print(f"### Decode\n\n{decode_table(outs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

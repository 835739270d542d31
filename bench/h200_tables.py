#!/usr/bin/env python3
"""Markdown tables of issue #17's H200 runs (scripts/h200/tables.sh OUT):
the decode table (every mode, context x batch: ms per step, tokens/s, the
exposed share of H2D time), the issue's ratios (sparda against sparse and
sparse-offload), the largest feasible batches and the prefill comparison.

    python3 bench/h200_tables.py OUT      (OUT/table-block, table-own, largest-*, prefill)
"""
import json
import sys
from pathlib import Path

MODES = ["dense", "sparse", "sparse-offload", "sparda-no-prefetch", "sparda", "sparda-no-offload",
         "dsa", "dsa-offload"]


def rows(path):
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def load(out, *parts):
    got = []
    for part in parts:
        got += rows(out / part / "results.jsonl")
    return got


def cell(r):
    if r["status"] == "does_not_fit":
        return f"no fit (max {r['largest_feasible_batch']})"
    if r["status"] != "ok":
        return "error"
    share = r["h2d"]["exposed_share"]
    exposed = f", H2D {100 * share:.0f}%" if isinstance(share, float) and share == share and share > 0 else ""
    return f"{r['step_ms']['mean']:.2f} ms, {r['tokens_per_s']:.0f} tok/s{exposed}"


def decode_table(rs):
    contexts = sorted({r["context"] for r in rs})
    batches = sorted({r["batch"] for r in rs})
    by = {(r["mode"], r["context"], r["batch"]): r for r in rs}
    print("| mode | context | " + " | ".join(f"batch {b}" for b in batches) + " |")
    print("| --- | ---: | " + " | ".join("---" for _ in batches) + " |")
    for m in MODES:
        for c in contexts:
            if not any((m, c, b) in by for b in batches):
                continue
            cells = [cell(by[(m, c, b)]) if (m, c, b) in by else "" for b in batches]
            print(f"| {m} | {c // 1024}K | " + " | ".join(cells) + " |")


def ratios(rs):
    by = {(r["mode"], r["context"], r["batch"]): r for r in rs if r["status"] == "ok"}
    print("| context x batch | sparda ms | sparse ms | sparda / sparse | sparse-offload ms | "
          "sparse-offload / sparda | sparda exposed H2D |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for (m, c, b), r in sorted(by.items(), key=lambda kv: (kv[0][1], kv[0][2])):
        if m != "sparda":
            continue
        s = by.get(("sparse", c, b))
        o = by.get(("sparse-offload", c, b))
        sp = r["step_ms"]["mean"]
        fmt = lambda x: f"{x:.2f}" if x else "-"
        print(f"| {c // 1024}K x {b} | {sp:.2f} | {fmt(s and s['step_ms']['mean'])} | "
              f"{(sp / s['step_ms']['mean']) if s else float('nan'):.3f} | {fmt(o and o['step_ms']['mean'])} | "
              f"{(o['step_ms']['mean'] / sp) if o else float('nan'):.2f}x | "
              f"{100 * r['h2d']['exposed_share']:.1f}% |")


def largest(rs):
    print("| mode | context | largest batch (memory plan) | ms per step | tokens/s | GPU GiB | pinned GiB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in sorted(rs, key=lambda r: (r["context"], MODES.index(r["mode"]))):
        ok = r["status"] == "ok"
        print(f"| {r['mode']} | {r['context'] // 1024}K | {r['batch']} | "
              f"{r['step_ms']['mean'] if ok else float('nan'):.2f} | {r['tokens_per_s'] if ok else 0:.0f} | "
              f"{r['gpu_bytes'] / 2**30:.1f} | {r['host_bytes'] / 2**30:.1f} |")


def prefill(rs):
    by = {(r["mode"], r["context"]): r["prefill_ms"] for r in rs if r["status"] == "ok"}
    print("| context | sparse (KV on GPU) ms | sparse-offload (inline copy) ms | sparda (side-stream copy) ms | "
          "sparse-offload / sparda |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for c in sorted({c for _, c in by}):
        s, o, d = (by.get((m, c), float("nan")) for m in ("sparse", "sparse-offload", "sparda"))
        print(f"| {c // 1024}K | {s:.0f} | {o:.0f} | {d:.0f} | {o / d:.2f}x |")


def main():
    out = Path(sys.argv[1])
    table = load(out, "table-block", "table-own")
    if table:
        print("## Decode table\n")
        decode_table(table)
        print("\n## sparda against sparse and sparse-offload\n")
        ratios(table)
    big = [r for r in load(out, "largest-block", "largest-own")]
    if big:
        print("\n## Largest feasible batch\n")
        largest(big)
    pf = load(out, "prefill")
    if pf:
        print("\n## Prefill\n")
        prefill(pf)


if __name__ == "__main__":
    main()

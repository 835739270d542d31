#!/usr/bin/env python3
"""Tables of bench/RESULTS-large-host.md from scripts/large-host/predict.sh's
output: per host, mode and context at the largest feasible batch, the
predicted decode throughput, per-token latency, exposed H2D, hit rate and
what bounds the step; then sparda's throughput against sparse without offload
(the paper's 5.3x), sparse-offload and dense, with the PCIe ceiling on
sparda's throughput.

Usage: python3 scripts/large-host/predict_table.py [--json FILE] OUT   (OUT of predict.sh)
"""
import csv
import json
import sys
from pathlib import Path

GIB = 1024.0 ** 3


def load(out):
    rows = []
    with open(out / "points.tsv") as f:
        for p in csv.DictReader(f, delimiter="\t"):
            d = Path(p["dir"])
            if not d.is_absolute() and not d.exists():
                d = out / d
            m = json.load(open(d / "metrics.json"))
            s = json.load(open(d / "scenario.json"))
            steps = m["decode"]["steps"]
            b = int(p["batch"])
            h2d_bytes = m.get("h2d", {}).get("bytes", 0.0)
            gbps = m.get("h2d", {}).get("effective_gbps", 0.0)
            rows.append({
                "hw": p["hardware"], "mode": p["mode"], "ctx": int(p["context"]), "batch": b,
                "step": m["decode"]["step_ms"]["mean"], "p99": m["decode"]["step_ms"]["p99"],
                "tps": m["decode"]["tokens_per_s"],
                "exp_ms": m.get("h2d", {}).get("exposed_ms", 0.0) / steps,
                "exp_share": m.get("h2d", {}).get("exposed_share", 0.0),
                "h2d_gb_step": h2d_bytes / steps / 1e9,
                "gbps": gbps,
                "hit": m.get("cache", {}).get("hit_rate"),
                "bound": max(("compute", "pcie", "host"), key=lambda k: m["bound"][k]),
                "bound_share": max(m["bound"][k] for k in ("compute", "pcie", "host")),
                "compute_step": m["compute"]["total_ms"] / steps,
                "gpu": m["memory"]["gpu_bytes"] / GIB, "host": m["memory"]["host_bytes"] / GIB,
                # PCIe ceiling on throughput: the gather's rate in this replay over the bytes fetched per token
                "pcie_cap": (b * gbps * 1e9 / (h2d_bytes / steps)) if h2d_bytes else None,
                "status": s["status"], "cal": s.get("compute_times", ""),
            })
    return rows


def fmt(x, f="{:.1f}"):
    return "-" if x is None else f.format(x)


def main():
    args = sys.argv[1:]
    js = None
    if "--json" in args:  # also write the predicted points as JSON (the later measurement's error is taken against it)
        i = args.index("--json")
        js = args[i + 1]
        del args[i:i + 2]
    out = Path(args[0] if args else "runs/large-host-predict")
    rows = load(out)
    if js:
        keep = ("hw", "mode", "ctx", "batch", "step", "p99", "tps", "exp_ms", "exp_share", "h2d_gb_step", "gbps",
                "hit", "bound", "bound_share", "gpu", "host", "pcie_cap")
        with open(js, "w") as f:
            json.dump({"what": "simulator predictions at the largest feasible batch (scripts/large-host/predict.sh); "
                               "step/p99 ms per decode step = per-token latency, tps tokens/s, exp_ms exposed H2D ms "
                               "per step, gpu/host GiB",
                       "points": [{k: r[k] for k in keep} for r in rows]}, f, indent=1)
            f.write("\n")
    hosts = list(dict.fromkeys(r["hw"] for r in rows))
    print("### Predicted at the largest feasible batch (steady decode steps)\n")
    print("| host | mode | context | batch | tokens/s | per-token latency ms (mean / p99) | exposed H2D ms/step (share) "
          "| H2D GB/step at GB/s | hit rate | bound (share of steps' time) | GPU / pinned GiB |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
    for r in rows:
        assert r["status"] == "ok", r
        h2d = "-" if not r["h2d_gb_step"] else f"{r['h2d_gb_step']:.2f} at {r['gbps']:.1f}"
        exp = "-" if not r["h2d_gb_step"] else f"{r['exp_ms']:.1f} ({100 * r['exp_share']:.0f}%)"
        print(f"| {r['hw']} | {r['mode']} | {r['ctx'] // 1024}K | {r['batch']} | {r['tps']:.0f} "
              f"| {r['step']:.1f} / {r['p99']:.1f} | {exp} | {h2d} | {fmt(r['hit'], '{:.3f}')} "
              f"| {r['bound']} ({100 * r['bound_share']:.0f}%) | {r['gpu']:.1f} / {r['host']:.1f} |")
    print("\n### sparda's throughput against the other modes, each at its own largest batch\n")
    print("| host | context | sparda batch | sparda tok/s | PCIe ceiling tok/s | tok/s, link unlimited "
          "| / sparse (paper: 5.3x) | batch ratio | / sparse, link unlimited | / sparse-offload | / dense |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    by = {(r["hw"], r["mode"], r["ctx"]): r for r in rows}
    for hw in hosts:
        for ctx in sorted({r["ctx"] for r in rows if r["hw"] == hw}):
            s = by.get((hw, "sparda", ctx))
            if not s:
                continue
            def ratio(mode):
                o = by.get((hw, mode, ctx))
                return fmt(s["tps"] / o["tps"], "{:.2f}x") if o else "-"
            sp = by.get((hw, "sparse", ctx))
            br = fmt(s["batch"] / sp["batch"], "{:.2f}x") if sp else "-"
            unl = out / "sens" / f"{hw}-{ctx}-10000" / "metrics.json"
            u = json.load(open(unl))["decode"]["tokens_per_s"] if unl.exists() else None
            ur = fmt(u / sp["tps"] if u and sp else None, "{:.2f}x")
            print(f"| {hw} | {ctx // 1024}K | {s['batch']} | {s['tps']:.0f} | {fmt(s['pcie_cap'], '{:.0f}')} "
                  f"| {fmt(u, '{:.0f}')} | {ratio('sparse')} | {br} | {ur} | {ratio('sparse-offload')} "
                  f"| {ratio('dense')} |")
    plans = {}
    for f in sorted(out.glob("plan-*/plan.json")):
        for r in json.load(open(f))["recommendations"]:
            mx = r.get("maximum")
            if mx:
                sc = mx["scenario"]
                plans[(r["hardware"], sc["mode"], r["context_tokens"])] = (sc, mx["metrics"])
    if plans:
        print("\n### The capacity plan's maximum throughput (any batch searched, GPU cache 1-4x top-k, 8-32 gather CTAs; "
              "within memory, 1000 ms target)\n")
        print("| host | context | sparda: batch, cache blocks, CTAs | tok/s | per-token ms (p99) | hit rate | PCIe share "
              "| sparse: batch | tok/s | sparda / sparse | sparse-offload tok/s | dense tok/s |")
        print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for hw in hosts:
            for ctx in sorted({k[2] for k in plans if k[0] == hw}):
                a = plans.get((hw, "sparda", ctx))
                b = plans.get((hw, "sparse", ctx))
                if not a or not b:
                    continue
                so = plans.get((hw, "sparse-offload", ctx))
                de = plans.get((hw, "dense", ctx))
                sa, ma = a
                sb, mb = b
                print(f"| {hw} | {ctx // 1024}K | {sa['batch']}, {sa['cache_blocks']}, {sa['gather_ctas']} "
                      f"| {ma['tokens_per_s']:.0f} | {ma['tpot_ms']['p99'] if isinstance(ma['tpot_ms'], dict) else ma['tpot_ms']:.1f} "
                      f"| {ma['cache']['hit_rate']:.3f} | {100 * ma['bound']['pcie']:.0f}% | {sb['batch']} "
                      f"| {mb['tokens_per_s']:.0f} | {ma['tokens_per_s'] / mb['tokens_per_s']:.2f}x "
                      f"| {fmt(so[1]['tokens_per_s'] if so else None, '{:.0f}')} "
                      f"| {fmt(de[1]['tokens_per_s'] if de else None, '{:.0f}')} |")
    sens = sorted(out.glob("sens/*/scenario.json"))
    if sens:
        print("\n### What bounds sparda at its largest batch: the link scaled (replay --pcie-gbps)\n")
        print("| host | context | batch | link GB/s | tok/s | step ms | PCIe / compute / host share "
              "| / sparse at its largest batch |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
        pts = []
        for f in sens:
            sc = json.load(open(f))
            m = json.load(open(f.parent / "metrics.json"))
            pts.append((sc["hardware"], sc["context_tokens"][0], sc["batch"], sc["h2d_gbps"], m))
        for r in rows:  # the link as measured: the main table's points
            if r["mode"] == "sparda" and r["hw"] != "h200":
                d = next(Path(p["dir"]) for p in csv.DictReader(open(out / "points.tsv"), delimiter="\t")
                         if p["hardware"] == r["hw"] and p["mode"] == "sparda" and int(p["context"]) == r["ctx"])
                pts.append((r["hw"], r["ctx"], r["batch"], json.load(open(d / "scenario.json"))["h2d_gbps"],
                            json.load(open(d / "metrics.json"))))
        for hw, ctx, b, g, m in sorted(pts, key=lambda x: (x[0], x[1], x[3])):
            sp = by.get((hw, "sparse", ctx))
            bd = m["bound"]
            print(f"| {hw} | {ctx // 1024}K | {b} | {g:g} | {m['decode']['tokens_per_s']:.0f} "
                  f"| {m['decode']['step_ms']['mean']:.1f} "
                  f"| {100 * bd['pcie']:.0f}% / {100 * bd['compute']:.0f}% / {100 * bd['host']:.0f}% "
                  f"| {fmt(m['decode']['tokens_per_s'] / sp['tps'] if sp else None, '{:.2f}x')} |")
    cals = {r["cal"] for r in rows}
    print(f"\n(compute times: {', '.join(sorted(cals))})")


if __name__ == "__main__":
    main()

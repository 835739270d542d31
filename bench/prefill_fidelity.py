#!/usr/bin/env python3
"""Time-to-first-token what-ifs against real runs (issue #18): each traced
bench_runtime row (--prefill real --keep-traces ops) is replayed by
`foresight replay --context C` at every other context C measured with the
same prefill variant (attention, recall, chunk), and the simulated prefill
time is compared with the measured one. Writes OUT/prefill_fidelity.json and
prints a markdown table. The headline is the error on unseen contexts.
Usage: python3 bench/prefill_fidelity.py RESULTS_DIR [--foresight BIN] [--out DIR]"""
import argparse
import json
import pathlib
import statistics
import subprocess
import tempfile


def variant(r):
    return (r["model"], r["prefill_attention"], r["prefill_recall"] if r["prefill_attention"] != "dense" else None,
            "whole" if r["prefill_chunk_tokens"] >= r["context"] - 1 else r["prefill_chunk_tokens"])


def replay_prefill_ms(bin_, trace, context, work, growth, sparse):
    out = pathlib.Path(tempfile.mkdtemp(dir=work))
    extra = ["--prefill-growth", growth] if sparse else []
    subprocess.run([bin_, "replay", str(trace), "--context", str(context), *extra, "--out", str(out), "--quiet"],
                   check=True, capture_output=True)
    m = json.loads((out / "metrics.json").read_text())
    return m["prefill"]["ms"], m.get("stages_ms", {})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--foresight", default="build-cpu/bin/foresight")
    ap.add_argument("--out", default=None)
    ap.add_argument("--growth", default="share", help="replay --prefill-growth for sparse traces (share or patterns)")
    a = ap.parse_args()
    res = pathlib.Path(a.results)
    rows = [json.loads(l) for l in (res / "results.jsonl").read_text().splitlines() if l.strip()]
    rows = [r for r in rows if r.get("status") == "ok" and "prefill_attention" in r]
    work = pathlib.Path(tempfile.mkdtemp())
    points = []
    for src in rows:
        if "trace_file" not in src:
            continue
        for dst in rows:
            if variant(dst) != variant(src):
                continue
            sim_ms, _ = replay_prefill_ms(a.foresight, res / src["trace_file"], dst["context"], work, a.growth,
                                          src["prefill_attention"] != "dense")
            points.append({"variant": list(variant(src)), "from": src["context"], "to": dst["context"],
                           "measured_ms": dst["prefill_ms"], "simulated_ms": sim_ms,
                           "rel_error": sim_ms / dst["prefill_ms"] - 1})
    unseen = [abs(p["rel_error"]) for p in points if p["from"] != p["to"]]
    seen = [abs(p["rel_error"]) for p in points if p["from"] == p["to"]]
    sparse_unseen = [abs(p["rel_error"]) for p in points if p["from"] != p["to"] and p["variant"][1] != "dense"]
    summary = {"growth": a.growth, "points": len(points), "unseen": len(unseen),
               "sparse_unseen_median_abs_error": statistics.median(sparse_unseen) if sparse_unseen else None,
               "unseen_median_abs_error": statistics.median(unseen) if unseen else None,
               "unseen_worst_abs_error": max(unseen) if unseen else None,
               "recorded_median_abs_error": statistics.median(seen) if seen else None}
    print("| model | attention | recall | chunk | trace context | what-if context | measured ms | simulated ms | error |")
    print("| --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for p in points:
        m, att, rec, ch = p["variant"]
        print(f"| {m} | {att} | {rec if rec is not None else '-'} | {ch} | {p['from']} | {p['to']} "
              f"| {p['measured_ms']:.0f} | {p['simulated_ms']:.0f} | {100 * p['rel_error']:+.1f}% |")
    print(f"\nunseen contexts: {summary['unseen']} points, median |error| "
          f"{100 * (summary['unseen_median_abs_error'] or 0):.1f}%, worst {100 * (summary['unseen_worst_abs_error'] or 0):.1f}%")
    out = pathlib.Path(a.out or res)
    out.mkdir(parents=True, exist_ok=True)
    print(f"sparse prefill only ({a.growth}): median |error| "
          f"{100 * (summary['sparse_unseen_median_abs_error'] or 0):.1f}%")
    (out / f"prefill_fidelity-{a.growth}.json").write_text(json.dumps({"summary": summary, "points": points}, indent=1) + "\n")


if __name__ == "__main__":
    main()

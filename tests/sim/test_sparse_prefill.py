"""Dynamic sparse prefill end to end (issue #18): the CPU runtime records each
head's pattern, `inspect` summarises it, `replay` reproduces the recorded
prefill and re-times it at another context: a sparse head's tiles grow with
the query blocks (linearly), dense attention with their square.
Run by ctest (label nosan) with FORESIGHT_BIN."""
import json
import os
import subprocess

import h5py
import pytest

BIN = os.environ.get("FORESIGHT_BIN", "")
CTX = 1536
RUN = ["--model", "tiny", "--mode", "sparda", "--context", str(CTX), "--steps", "2", "--warmup", "0",
       "--backend", "cpu"]

pytestmark = pytest.mark.skipif(not BIN, reason="FORESIGHT_BIN not set")


def foresight(*args):
    return subprocess.run([BIN, *args], check=True, capture_output=True, text=True).stdout


def metrics(folder):
    with open(folder / "metrics.json") as f:
        return json.load(f)


def stage_ms(m, stage):
    return m["stages_ms"][stage]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = {}
    for name, extra in {"sparse": ["--prefill", "dynamic-sparse", "--prefill-recall", "0.6"],
                        "dense": ["--prefill-chunk", str(CTX)]}.items():
        folder = tmp_path_factory.mktemp(name)
        foresight("run", *RUN, *extra, "--out", str(folder))
        out[name] = folder
    return out


def test_trace_records_every_head(runs):
    with h5py.File(runs["sparse"] / "trace.h5", "r") as f:
        rows = f["prefill_patterns"][:]
        run = json.loads(f["config/run"].attrs["json"])
    assert run["prefill_attention"] == "dynamic-sparse" and run["prefill_chunk_tokens"] >= CTX - 1
    assert len(rows) == 4 * 8  # tiny: 4 layers x 8 query heads, one sequence
    assert all(r["tiles"] <= r["dense_tiles"] for r in rows)
    assert sum(int(r["tiles"]) for r in rows) < sum(int(r["dense_tiles"]) for r in rows)
    assert all(0.6 <= r["recall"] <= 1.0 for r in rows)
    text = foresight("inspect", str(runs["sparse"] / "trace.h5"))
    assert "dynamic-sparse attention" in text


def test_replay_reproduces_and_rescales_prefill(runs, tmp_path):
    recorded = metrics(runs["sparse"])
    same = tmp_path / "same"
    foresight("replay", str(runs["sparse"] / "trace.h5"), "--out", str(same))
    assert abs(metrics(same)["prefill"]["ms"] / recorded["prefill"]["ms"] - 1) < 0.1
    ratios = {}
    for name, stage, growth in [("sparse", "prefill_sparse_attention", "patterns"),
                                ("sparse", "prefill_sparse_attention", "share"),
                                ("dense", "prefill_attention", None)]:
        ms = []
        for ctx in (CTX, 2 * CTX):
            folder = tmp_path / f"{name}{growth}{ctx}"
            extra = ["--prefill-growth", growth] if growth else []
            foresight("replay", str(runs[name] / "trace.h5"), "--context", str(ctx), *extra, "--out", str(folder))
            ms.append(stage_ms(metrics(folder), stage))
        ratios[growth or name] = ms[1] / ms[0]
    # patterns: sparse heads scale with the query blocks; share (and dense): with their square.
    assert 1.5 < ratios["patterns"] < ratios["share"]
    assert ratios["share"] > 3 and ratios["dense"] > 3


def test_growth_needs_a_sparse_prefill_trace(runs, tmp_path):
    r = subprocess.run([BIN, "replay", str(runs["dense"] / "trace.h5"), "--context", str(2 * CTX),
                        "--prefill-growth", "patterns", "--out", str(tmp_path / "x")], capture_output=True, text=True)
    assert r.returncode == 2 and "prefill_patterns" in r.stderr

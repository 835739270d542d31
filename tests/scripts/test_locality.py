"""scripts/real-model/locality.py: its definitions on a hand-made trace, and
the recovery of the workload model's parameters on a shipped real trace whose
selections come from that model (reuse 0.85, cross_layer 0.7)."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "real-model" / "locality.py"
SAMPLES = Path(os.environ.get("FORESIGHT_TRACE_SAMPLES", ROOT / "traces" / "samples"))
sys.path.insert(0, str(SCRIPT.parent))
import locality  # noqa: E402


def write_trace(path, rows, backend="cpu", context=40, topk=6):
    """Just what locality.py reads: config JSON and /selections. Block 4
    tokens, sink 1, window 2, top-6: 3 free picks per row."""
    model = {"n_layers": 2, "n_kv_heads": 1,
             "sparse": {"block_tokens": 4, "sink_blocks": 1, "window_blocks": 2, "topk_blocks": topk}}
    run = {"backend": backend, "mode": "sparse", "selection_source": "query", "topk_blocks": topk,
           "context_tokens": [context]}
    kdt = np.dtype([("step", "<i4"), ("layer", "<i2"), ("seq", "<i4"), ("kv_head", "<u2"), ("count", "<u2")])
    keys = np.array([(t, l, 0, 0, len(ids)) for (t, l), ids in rows.items()], dtype=kdt)
    blocks = np.full((len(rows), topk), 0xFFFF, dtype=np.uint16)
    for i, ids in enumerate(rows.values()):
        blocks[i, :len(ids)] = sorted(ids)
    with h5py.File(path, "w") as f:
        f.attrs["schema_version"] = np.int64(1)
        f.create_group("config/model").attrs["json"] = json.dumps(model).encode()
        f["config"].create_group("run").attrs["json"] = json.dumps(run).encode()
        f.create_dataset("selections/keys", data=keys)
        f.create_dataset("selections/blocks", data=blocks)


# Runtime trace, context 40, 4-token blocks: step 0 holds 40 tokens (10
# blocks, window [8, 10)), step 1 holds 41 (11 blocks, window [9, 11)), so
# block 8 leaves the window at step 1.
HAND = {
    (0, 0): [0, 2, 3, 4, 8, 9],    # free 2 3 4
    (1, 0): [0, 3, 5, 8, 9, 10],   # free 3 5 8: kept 3 and 8 (8 was in the window)
    (0, 1): [0, 2, 6, 7, 8, 9],    # free 2 6 7: layer 0 has 2; all fresh at the first step
    (1, 1): [0, 2, 5, 6, 9, 10],   # free 2 5 6: kept 2 6, fresh 5 (layer 0 has it); layer 0 has 5
}


def test_definitions_on_a_hand_made_trace(tmp_path):
    write_trace(tmp_path / "t.h5", HAND)
    sel, rep = locality.analyse(tmp_path / "t.h5")
    l0, l1 = rep["layers"]
    assert l0["step_reuse"] == pytest.approx(1 / 3)         # of 2 3 4, only 3 stays
    assert l0["model_reuse"] == pytest.approx(2 / 3)        # 3 and 8 of 3 5 8
    assert l0["adjacent_overlap"] is None and l0["model_cross_layer"] is None
    assert l1["step_reuse"] == pytest.approx(2 / 3)         # 2 and 6 of 2 6 7
    assert l1["model_reuse"] == pytest.approx(2 / 3)        # 2 and 6 of 2 5 6
    assert l1["adjacent_overlap"] == pytest.approx(2 / 6)   # {2} and {5}
    assert l1["model_cross_layer"] == pytest.approx(2 / 4)  # fresh 2 6 7 (1 shared), then 5 (shared)
    assert rep["overall"]["model_reuse"]["pooled"] == pytest.approx(4 / 6)
    assert rep["config"]["tokens_at_step"] == "context + step"
    # A synthesized trace counts one token more: with context 39 the windows
    # are the same as above.
    write_trace(tmp_path / "s.h5", HAND, backend="synth", context=39)
    assert locality.analyse(tmp_path / "s.h5")[1]["layers"] == rep["layers"]


def test_overlap_matrix_and_raster(tmp_path):
    write_trace(tmp_path / "t.h5", HAND)
    sel = locality.Selections(tmp_path / "t.h5")
    m = locality.overlap_matrix(sel, 1)
    assert m[0, 0] == pytest.approx(1) and m[1, 1] == pytest.approx(1)
    assert m[1, 0] == pytest.approx(1 / 3) and m[0, 1] == pytest.approx(1 / 3)  # {5} both ways
    steps, nb, selected, forced = locality.raster(sel, 1, 0, 0)
    assert steps == [0, 1] and nb == 11 and selected.sum() == 12
    assert forced[0, [0, 8, 9]].all() and not forced[0, 10] and forced[1, [0, 9, 10]].all() and not forced[1, 8]


def rounding_tolerance(n_rows, n_picks, sigmas=5):
    """The workload model draws round(p * r) picks per row with stochastic
    rounding: given r, the count is unbiased with variance <= 1/4, and rows
    draw independently. So the pooled share's deviation from p has standard
    deviation <= sqrt(n_rows / 4) / n_picks; 5 of those is the tolerance."""
    return sigmas * math.sqrt(n_rows / 4) / n_picks


def test_recovers_the_workload_parameters_on_the_h200_sample(tmp_path):
    trace = SAMPLES / "h200-sparse-b16-32k.h5"
    sel, rep = locality.analyse(trace)
    wl = sel.run["workload"]
    assert (wl["reuse"], wl["cross_layer"]) == (0.85, 0.7)
    o = rep["overall"]
    rows_reuse = sum(1 for (t, l, s, h) in sel.rows if t > sel.steps[0])
    rows_cross = sum(1 for (t, l, s, h) in sel.rows if l > 0)
    tol_r = rounding_tolerance(rows_reuse, o["model_reuse"]["n"])
    tol_c = rounding_tolerance(rows_cross, o["model_cross_layer"]["n"])
    assert tol_r < 0.001 and tol_c < 0.002  # 13312 rows of 63 free picks; 13888 rows, ~185K fresh picks
    assert o["model_reuse"]["pooled"] == pytest.approx(0.85, abs=tol_r)
    assert o["model_cross_layer"]["pooled"] == pytest.approx(0.7, abs=tol_c)
    # Every layer alone within 5 sigma of its own counts too.
    for r in rep["layers"]:
        assert r["model_reuse"] == pytest.approx(0.85, abs=rounding_tolerance(rows_reuse / 32, r["model_reuse_n"]))
        if r["layer"] > 0:
            assert r["model_cross_layer"] == pytest.approx(
                0.7, abs=rounding_tolerance(rows_cross / 31, r["model_cross_layer_n"]))
    # The cache-facing shares of docs/workload-model.md: forced included,
    # (33 + 0.85 * 63) / 96 = 0.902 step to step; adjacent layers 0.848 there.
    step_overlap = (33 + o["step_reuse"]["pooled"] * 63) / 96
    assert step_overlap == pytest.approx(0.902, abs=0.003)
    assert (33 + o["adjacent_overlap"]["pooled"] * 63) / 96 == pytest.approx(0.848, abs=0.01)


def test_cli_writes_json_csv_and_markdown(tmp_path):
    trace = SAMPLES / "sparda-tiny.h5"
    out = subprocess.run([sys.executable, str(SCRIPT), str(trace), "--out", str(tmp_path), "--markdown"],
                         capture_output=True, text=True, check=True)
    assert "| layer | step reuse |" in out.stdout and "workload model rows" in out.stdout and "Forecast" in out.stdout
    rep = json.loads((tmp_path / "locality.json").read_text())
    assert rep["mode"] == "sparda" and len(rep["layers"]) == 4 and rep["config"]["tokens_at_step"] == "context + step + 1"
    for r in rep["layers"]:
        for m in locality.METRICS:
            assert r[m] is None or 0 <= r[m] <= 1
    lines = (tmp_path / "locality.csv").read_text().splitlines()
    assert lines[0].startswith("layer,step_reuse") and len(lines) == 1 + 4 + 2
    bad = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "missing.h5")], capture_output=True, text=True)
    assert bad.returncode == 2 and "missing.h5" in bad.stderr

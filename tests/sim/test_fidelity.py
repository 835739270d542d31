"""Fidelity against real H200 runs, without a GPU: the shipped training traces
(traces/samples/h200-*-b16-32k.h5) are replayed with the what-ifs of every
held-out run of bench/results/2026-12-03-h200-fidelity/runs.jsonl, and the
mean steady decode step must stay as close to what the GPU measured as it is
today (bench/RESULTS-fidelity.md). The calibration is re-fitted from the
shipped profile traces and must equal configs/calibration/h200.json."""
import json
import os
import pathlib
import subprocess
import sys
import tarfile

import pytest

BIN = os.environ.get("FORESIGHT_BIN")
ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "bench" / "results" / "2026-12-03-h200-fidelity-2"

pytestmark = pytest.mark.skipif(not BIN, reason="FORESIGHT_BIN not set")


def test_held_out_runs_are_predicted_within_the_bounds(tmp_path):
    subprocess.run([sys.executable, str(ROOT / "bench" / "fidelity.py"), str(DATA / "runs.jsonl"),
                    "--traces", str(ROOT / "traces" / "samples"), "--foresight", BIN,
                    "--out", str(tmp_path)], check=True, capture_output=True)
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["held_out"]["points"] >= 46
    # The goal is 5% median and 10% worst, overall and on every knob;
    # today 2.4% and 7.6% (bench/RESULTS-fidelity.md). A change that breaks
    # the goal, or makes the median much worse, fails here.
    assert s["held_out"]["median_abs_error"] <= 0.03
    assert s["held_out"]["worst_abs_error"] <= 0.10
    assert s["recorded"]["worst_abs_error"] <= 0.05
    for knob in ("batch", "context", "gather CTAs", "cache slots", "prefetch", "mode"):
        assert s["by_knob"][knob]["median_abs_error"] <= 0.05, knob
        assert s["by_knob"][knob]["worst_abs_error"] <= 0.10, knob
    shipped = json.loads((DATA / "summary.json").read_text())
    assert s["held_out"] == pytest.approx(shipped["held_out"]), "predictions are deterministic"


def test_calibration_refits_to_the_shipped_file(tmp_path):
    with tarfile.open(DATA / "cal-traces.tar.xz") as t:
        t.extractall(tmp_path, filter="data")
    out = tmp_path / "h200.json"
    env = dict(os.environ, FORESIGHT_CONFIGS=str(ROOT / "configs"))
    subprocess.run([BIN, "profile", str(tmp_path / "cal"), "--hardware", "h200", "--quiet", "--out", str(out)],
                   check=True, capture_output=True, env=env)
    fitted = json.loads(out.read_text())
    shipped = json.loads((ROOT / "configs" / "calibration" / "h200.json").read_text())
    assert fitted["eager_launch_ns"] == pytest.approx(shipped["eager_launch_ns"])
    assert fitted["gather"] == shipped["gather"]
    assert fitted["step_overhead"] == shipped["step_overhead"]
    # The DSA tables come from their own grid (test_dsa_tables_refit_from_the_shipped_traces).
    assert set(fitted["stages"]) == set(shipped["stages"]) - set(DSA_KEYS)


def test_profile_rejects_bad_input(tmp_path):
    r = subprocess.run([BIN, "profile", str(tmp_path / "missing"), "--out", str(tmp_path / "x.json")],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "missing" in r.stderr
    assert not (tmp_path / "x.json").exists()


DSA = ROOT / "bench" / "results" / "2026-12-04-h200-dsa"
DSA_KEYS = ("index_score", "token_topk", "attention/dsa", "qkvf_gemm/dsa", "rope/dsa", "d2d_gather/token",
            "h2d_gather/token")


def test_dsa_held_out_runs_are_predicted_within_the_bounds(tmp_path):
    """The DSA what-ifs (batch, context, dsa-offload) from the shipped H200 dsa
    trace against 9 runs off the DSA calibration grid: 2.2% median, 11.2%
    worst today (bench/RESULTS-llc.md); +45% to +115% before the DSA stage
    tables existed."""
    subprocess.run([sys.executable, str(ROOT / "bench" / "fidelity_dsa.py"), str(DSA / "heldout.jsonl"),
                    "--trace", str(ROOT / "traces" / "samples" / "h200-dsa-b4-32k.h5"), "--foresight", BIN,
                    "--out", str(tmp_path)], check=True, capture_output=True)
    s = json.loads((tmp_path / "summary.json").read_text())
    assert s["points"] == 9
    assert s["median_abs_error"] <= 0.05
    assert s["worst_abs_error"] <= 0.12
    shipped = json.loads((DSA / "fidelity" / "summary.json").read_text())
    assert s["median_abs_error"] == pytest.approx(shipped["median_abs_error"]), "predictions are deterministic"


def test_dsa_tables_refit_from_the_shipped_traces(tmp_path):
    """profile --extend on the DSA grid's traces, from the calibration without
    its DSA tables, gives back the shipped DSA tables and leaves the rest."""
    with tarfile.open(DSA / "cal-traces.tar.xz") as t:
        t.extractall(tmp_path, filter="data")
    shipped = json.loads((ROOT / "configs" / "calibration" / "h200.json").read_text())
    base = dict(shipped, stages={k: v for k, v in shipped["stages"].items() if k not in DSA_KEYS})
    (tmp_path / "base.json").write_text(json.dumps(base))
    out = tmp_path / "h200.json"
    env = dict(os.environ, FORESIGHT_CONFIGS=str(ROOT / "configs"))
    subprocess.run([BIN, "profile", str(tmp_path / "cal"), "--extend", str(tmp_path / "base.json"),
                    "--hardware", "h200", "--quiet", "--out", str(out)], check=True, capture_output=True, env=env)
    fitted = json.loads(out.read_text())
    assert fitted["stages"].keys() == shipped["stages"].keys()
    for k in DSA_KEYS:
        got, want = fitted["stages"][k], shipped["stages"][k]
        assert (got["batch"], got["tokens"]) == (want["batch"], want["tokens"]), k
        for row_got, row_want in zip(got["ns"], want["ns"]):
            assert row_got == pytest.approx(row_want), k
    assert fitted["gather"] == shipped["gather"] and fitted["step_overhead"] == shipped["step_overhead"]

"""Issue #16, hardening: the executable's contract on bad input and hostile
conditions. Bad input exits 2 with "foresight <command>: error:" and the file
or option named; nothing crashes (no `terminate called`, no signal deaths);
nothing half-written is left under a final name.

Covers command-line parse errors, filesystem errors on --out, the sweep's
resume key, folder lock, worker failures (a full disk), grid limits, and
`run` stopped by SIGINT/SIGTERM/SIGHUP (in prefill too) or killed (SIGKILL:
the partial trace reads up to the writer's last checkpoint) and re-run into
an old folder. Needs FORESIGHT_BIN; run by ctest (label nosan)."""
import fcntl
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "traces" / "samples"
BIN = os.environ.get("FORESIGHT_BIN", "")
pytestmark = pytest.mark.skipif(not BIN, reason="FORESIGHT_BIN not set")
STUDY = "[grid]\npcie-gbps = [8, 32]\npolicy = [\"lru\", \"opt\"]\n"


def fs(*args, **kw):
    return subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, timeout=120, **kw)


def clean_error(r, command, rc=2):
    """One error line in the shared format, the expected code, no crash text."""
    assert r.returncode == rc, (r.returncode, r.stdout, r.stderr)
    assert f"foresight {command}: error: " in r.stderr, r.stderr
    for crash in ("terminate called", "filesystem error:", "Aborted", "what():"):
        assert crash not in r.stderr, r.stderr


@pytest.mark.parametrize("args,command", [
    (["sweep", "--bogus"], "sweep"),                               # unknown option (was 109)
    (["run", "--batch", "abc", "--out", "x"], "run"),              # bad value (was 105/106)
    (["sweep", str(SAMPLES / "sparda-tiny.h5")], "sweep"),        # missing required (was 106)
    (["replay"], "replay"),
    (["synth", "--batch"], "synth"),                                # option without its value
])
def test_command_line_errors_exit_2(args, command):
    r = fs(*args)
    clean_error(r, command)
    assert "--help" in r.stderr


def test_nonexistent_command_exits_2():
    r = fs("frobnicate")
    assert r.returncode == 2, r.stderr


def test_help_and_version_exit_0():
    assert fs("--version").returncode == 0
    assert fs("sweep", "--help").returncode == 0


@pytest.mark.parametrize("command", ["run", "synth", "replay", "sweep"])
def test_out_under_a_file_exits_2_naming_the_path(tmp_path, command):
    (tmp_path / "afile").write_text("x")
    out = tmp_path / "afile" / "sub"
    study = tmp_path / "s.toml"
    study.write_text(STUDY)
    args = {
        "run": ["run", "--model", "tiny", "--context", "64", "--steps", "1", "--out", out],
        "synth": ["synth", "--mode", "sparda", "--context", "1024", "--steps", "2", "--out", out],
        "replay": ["replay", SAMPLES / "sparda-tiny.h5", "--out", out],
        "sweep": ["sweep", SAMPLES / "sparda-tiny.h5", "--study", study, "--out", out],
    }[command]
    r = fs(*args)
    clean_error(r, command)
    assert str(tmp_path / "afile") in r.stderr
    assert "Not a directory" in r.stderr


def sweep(trace, study, out, *extra):
    return fs("sweep", trace, "--study", study, "--out", out, "--quiet", *extra)


def counts(r):
    """(simulated now, done before) from the summary line."""
    line = r.stdout.splitlines()[0]
    now = int(line.split("(")[1].split(" simulated now")[0])
    before = int(line.split("simulated now, ")[1].split(" done before")[0])
    return now, before


def test_sweep_rerun_with_another_trace_under_the_same_name_reruns(tmp_path):
    study = tmp_path / "s.toml"
    study.write_text(STUDY)
    trace = tmp_path / "trace.h5"
    shutil.copy(SAMPLES / "sparda-tiny.h5", trace)
    r = sweep(trace, study, tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert counts(r) == (4, 0)
    first = (tmp_path / "out" / "results.csv").read_text()
    r = sweep(trace, study, tmp_path / "out")
    assert counts(r) == (0, 4)  # same bytes: every row reused
    assert (tmp_path / "out" / "results.csv").read_text() == first
    # Another trace, same path: nothing may be reused.
    shutil.copy(SAMPLES / "sparse-offload-tiny.h5", trace)
    r = sweep(trace, study, tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert counts(r) == (4, 0)
    assert "4 scenario(s) done before" in r.stderr and "simulated again" in r.stderr
    fresh = sweep(trace, study, tmp_path / "fresh")
    assert (tmp_path / "out" / "results.csv").read_text() == (tmp_path / "fresh" / "results.csv").read_text()
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert len(results["trace_hash"]) == 16 and results["tool_version"]


def test_sweep_rerun_after_the_hardware_file_changed_reruns(tmp_path):
    hw = tmp_path / "hw.toml"
    text = (ROOT / "configs" / "hardware" / "h100-sxm.toml").read_text()
    hw.write_text(text)
    study = tmp_path / "s.toml"
    study.write_text(f"[base]\nhardware = \"{hw}\"\n" + STUDY)
    trace = SAMPLES / "sparda-tiny.h5"
    r = sweep(trace, study, tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert counts(r) == (4, 0)
    assert counts(sweep(trace, study, tmp_path / "out")) == (0, 4)
    hw.write_text(text + "\n# a comment changes nothing that matters\n")
    assert counts(sweep(trace, study, tmp_path / "out")) == (0, 4)
    lines = text.splitlines()
    i = next(k for k, l in enumerate(lines) if l.startswith("sm_count"))
    lines[i] = "sm_count = 66"
    hw.write_text("\n".join(lines) + "\n")
    r = sweep(trace, study, tmp_path / "out")
    assert r.returncode == 0, r.stderr
    assert counts(r) == (4, 0)


def test_second_sweep_into_a_locked_folder_exits_2(tmp_path):
    study = tmp_path / "s.toml"
    study.write_text(STUDY)
    out = tmp_path / "out"
    out.mkdir()
    with open(out / "sweep.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # as a running sweep holds it
        r = sweep(SAMPLES / "sparda-tiny.h5", study, out)
    clean_error(r, "sweep")
    assert "another sweep is writing into this folder" in r.stderr
    assert not (out / "results.csv").exists()
    r = sweep(SAMPLES / "sparda-tiny.h5", study, out)  # released: runs
    assert r.returncode == 0, r.stderr


def test_two_sweeps_at_once_never_crash(tmp_path):
    study = tmp_path / "s.toml"
    study.write_text("[grid]\npcie-gbps = [4, 8, 16, 32, 64]\npolicy = [\"lru\", \"opt\", \"fifo\"]\n"
                     "cache-blocks = [97, 113, 129, 161]\n")
    out = tmp_path / "out"
    args = [BIN, "sweep", str(SAMPLES / "h100-sparda-b16-32k.h5"), "--study", str(study), "--out", str(out),
            "--quiet", "--jobs", "2"]
    procs = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    for rc, err in results:
        assert rc in (0, 2), err
        assert "terminate called" not in err
        if rc == 2:
            assert "another sweep is writing into this folder" in err
    assert any(rc == 0 for rc, _ in results)


@pytest.mark.parametrize("jobs", ["2", "4"])
def test_full_disk_during_sweep_exits_cleanly(tmp_path, jobs):
    study = tmp_path / "s.toml"
    study.write_text(STUDY)
    out = tmp_path / "out"
    (out / "scenarios").mkdir(parents=True)
    os.symlink("/dev/full", out / "scenarios" / "done.jsonl")  # every append fails with ENOSPC
    r = sweep(SAMPLES / "sparda-tiny.h5", study, out, "--jobs", jobs)
    clean_error(r, "sweep", rc=1)
    assert "No space left on device" in r.stderr
    assert not (out / "results.csv").exists() and not (out / "results.json").exists()


def test_duplicate_grid_values_exit_2_naming_the_key(tmp_path):
    study = tmp_path / "s.toml"
    study.write_text("[grid]\npcie-gbps = [16, 32, 16.0]\n")
    r = sweep(SAMPLES / "sparda-tiny.h5", study, tmp_path / "out", "--jobs", "4")
    clean_error(r, "sweep")
    assert f"{study}: grid.pcie-gbps: the value 16.0 is given twice" in r.stderr
    assert not (tmp_path / "out").exists()


def test_grid_limit_is_checked_before_any_work(tmp_path):
    axis = "[" + ", ".join(str(i + 1) for i in range(100)) + "]"
    study = tmp_path / "s.toml"
    study.write_text(f"[grid]\npcie-gbps = {axis}\ngather-ctas = {axis}\nbatch = {axis}\nseed = {axis}\n")
    t0 = time.monotonic()
    r = sweep(SAMPLES / "sparda-tiny.h5", study, tmp_path / "out")
    assert time.monotonic() - t0 < 10
    clean_error(r, "sweep")
    assert "100000000 scenarios" in r.stderr and "limit of 1000000" in r.stderr
    assert "--max-scenarios" in r.stderr
    small = tmp_path / "small.toml"
    small.write_text(STUDY)
    r = sweep(SAMPLES / "sparda-tiny.h5", small, tmp_path / "out", "--max-scenarios", "3")
    clean_error(r, "sweep")
    assert "4 scenarios" in r.stderr
    assert sweep(SAMPLES / "sparda-tiny.h5", small, tmp_path / "out", "--max-scenarios", "4").returncode == 0


def test_sweep_empty_out_exits_2(tmp_path):
    study = tmp_path / "s.toml"
    study.write_text(STUDY)
    r = fs("sweep", SAMPLES / "sparda-tiny.h5", "--study", study, "--out", "", cwd=tmp_path)
    clean_error(r, "sweep")
    assert "--out" in r.stderr
    assert list(tmp_path.iterdir()) == [study]  # nothing written into the working folder


def run_until_signal(tmp_path, sig, args, wait_s):
    out = tmp_path / "run"
    p = subprocess.Popen([BIN, "run", "--model", "tiny", "--quiet", "--out", str(out), *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(wait_s)
    assert p.poll() is None, "the run ended before the signal: make it longer"
    t0 = time.monotonic()
    p.send_signal(sig)
    rc = p.wait(timeout=30)
    return rc, time.monotonic() - t0, p.stderr.read(), out


def inspect_status(trace):
    r = fs("inspect", "--json", trace)
    assert r.returncode == 0, r.stderr  # readable, schema-valid
    return r.stdout


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_signal_in_prefill_leaves_a_truncated_trace_within_a_second(tmp_path, sig):
    # Four 4095-token prompts: several seconds of real prefill on the CPU.
    rc, took, err, out = run_until_signal(tmp_path, sig, ["--batch", "4", "--context", "4095", "--steps", "2"], 1.0)
    assert rc == 128 + sig, err
    assert took < 1.0, took
    assert "interrupted during prefill" in err
    assert "truncated" in inspect_status(out / "trace.h5")
    assert json.loads((out / "metrics.json").read_text())["status"] == "truncated"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_signal_in_decode_leaves_a_truncated_trace(tmp_path, sig):
    rc, took, err, out = run_until_signal(tmp_path, sig, ["--context", "128", "--steps", "1000000"], 1.5)
    assert rc == 128 + sig, err
    assert took < 1.0, took
    assert "interrupted before decode step" in err
    assert "truncated" in inspect_status(out / "trace.h5")


def test_sigkill_leaves_a_partial_trace_that_inspect_reads_as_truncated(tmp_path):
    # The trace writer checkpoints between steps at most once a second; a
    # tiny run writes nothing between checkpoints, so after 3 s of decode the
    # kill finds the last checkpoint on disk.
    rc, _, _, out = run_until_signal(tmp_path, signal.SIGKILL, ["--context", "128", "--steps", "1000000"], 3.0)
    assert rc == -signal.SIGKILL
    partial = out / "trace.h5.partial"
    assert partial.exists() and not (out / "trace.h5").exists()
    info = json.loads(inspect_status(partial))
    text = json.dumps(info)
    assert "truncated" in text and "the run ended without closing its trace" in text, text
    r = fs("replay", partial, "--quiet", "--out", tmp_path / "replayed")
    assert r.returncode == 0, r.stderr  # the recovered steps replay


def test_a_partial_trace_that_cannot_be_read_is_named_unrecoverable(tmp_path):
    partial = tmp_path / "trace.h5.partial"
    partial.write_bytes((SAMPLES / "sparda-tiny.h5").read_bytes()[:48])  # killed before any checkpoint
    r = fs("inspect", partial)
    clean_error(r, "inspect")
    assert "trace.h5.partial" in r.stderr and "cannot be recovered" in r.stderr


def test_untraced_run_into_an_old_folder_removes_the_old_trace(tmp_path):
    out = tmp_path / "run"
    base = ["run", "--model", "tiny", "--context", "128", "--steps", "1", "--quiet", "--out", out]
    assert fs(*base, "--dump-logits").returncode == 0
    assert (out / "trace.h5").exists() and (out / "timeline.json").exists() and (out / "logits.npy").exists()
    (out / "notes.txt").write_text("mine")
    (out / "trace.h5.partial").write_text("a killed run's")
    r = fs(*base, "--no-trace")
    assert r.returncode == 0, r.stderr
    assert not (out / "trace.h5").exists()
    assert not (out / "timeline.json").exists()
    assert not (out / "logits.npy").exists()
    assert not (out / "trace.h5.partial").exists()
    assert (out / "notes.txt").read_text() == "mine"  # only a run's own files are removed
    assert json.loads((out / "metrics.json").read_text())["tracing"] is False
    # Bad input never touches the old folder.
    assert fs(*base).returncode == 0
    r = fs("run", "--model", "tiny", "--context", "128", "--steps", "-3", "--quiet", "--out", out)
    assert r.returncode == 2
    assert (out / "trace.h5").exists()

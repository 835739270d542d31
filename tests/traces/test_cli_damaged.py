"""Issue #16: traces that are valid HDF5 but break the schema, written here
with h5py as another tool could write them. `foresight inspect`, `export` and
`replay` must each exit 2 with one message naming the file, the dataset and
the record: never crash, hang, or print (or export) wrong numbers.

Needs FORESIGHT_BIN (the executable) and FORESIGHT_TRACE_SAMPLES."""
import os
import shutil
import subprocess
from pathlib import Path

import h5py
import numpy as np
import pytest

SAMPLES = Path(os.environ.get("FORESIGHT_TRACE_SAMPLES",
                              Path(__file__).resolve().parents[2] / "traces" / "samples"))
BIN = os.environ.get("FORESIGHT_BIN", "")
SAMPLE = SAMPLES / "sparda-tiny.h5"
INT64_MAX = np.iinfo(np.int64).max


def replace(f, name, data):
    del f[name]
    f.create_dataset(name, data=data)


def patch(f, name, row, field, value):
    rows = f[name][...]
    rows[field][row] = value
    f[name][...] = rows


def retype(f, name, field, dtype):
    """Rewrites compound `name` with `field` stored as `dtype`."""
    rows = f[name][...]
    new = np.dtype([(n, dtype if n == field else rows.dtype[n]) for n in rows.dtype.names])
    out = np.zeros(rows.shape, new)
    for n in rows.dtype.names:
        out[n] = rows[n]
    replace(f, name, out)


def deps_2d(f):
    replace(f, "op_deps", np.zeros((len(f["op_deps"]), 2), "<u8"))


def stages_2d(f):
    stages = f["stages"][...]
    replace(f, "stages", np.stack([stages, stages], axis=1))


def end_max(f):
    patch(f, "ops", 3, "end_ns", INT64_MAX)


def start_nan(f):
    retype(f, "ops", "start_ns", "<f8")
    patch(f, "ops", 3, "start_ns", np.nan)


def step_end_max(f):
    patch(f, "steps", 4, "end_ns", INT64_MAX)


def host_pinned_huge(f):
    patch(f, "memory", 7, "bytes", np.uint64(1 << 63))


def hits_wrap(f):
    rows = f["cache"][...]
    rows["hits"][1] += np.uint64(1 << 63)
    rows["misses"][1] += np.uint64(1 << 63)  # hits + misses == selected, mod 2^64
    f["cache"][...] = rows


def block_outside(f):
    blocks = f["selections/blocks"][...]
    blocks[3, 0] = 60000
    f["selections/blocks"][...] = blocks


CASES = {
    "deps-2d": (deps_2d, "/op_deps has rank 2, expected 1"),
    "stages-2d": (stages_2d, "/stages has rank 2, expected 1"),
    "end-max": (end_max, "/ops[3].end_ns (9223372036854775807) outside [0, 2^56] ns"),
    "start-nan": (start_nan, "/ops: field 'start_ns' is float64, expected int64"),
    "step-end-max": (step_end_max, "/steps[4].end_ns (9223372036854775807) outside [0, 2^56] ns"),
    "host-pinned-huge": (host_pinned_huge, "/memory[7].bytes (9223372036854775808) more than 2^56"),
    "hits-wrap": (hits_wrap, "/cache[1].hits ("),
    "block-outside": (block_outside, "/selections/blocks[3, 0] (60000) outside the context"),
}


@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    d = tmp_path_factory.mktemp("damaged")
    paths = {}
    for name, (damage, _) in CASES.items():
        p = d / f"{name}.h5"
        shutil.copy(SAMPLE, p)
        with h5py.File(p, "r+") as f:
            damage(f)
        paths[name] = p
    return paths


def run(*args):
    # A hang shows as TimeoutExpired, a crash as a signal (negative rc).
    return subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(not BIN, reason="FORESIGHT_BIN not set")
@pytest.mark.parametrize("command", ["inspect", "export", "replay"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_damaged_trace_exits_2_naming_file_and_record(damaged, tmp_path, command, case):
    p = damaged[case]
    out = tmp_path / "out"
    args = {"inspect": [p], "export": [p, "--perfetto", out], "replay": [p, "--out", out]}[command]
    r = run(command, *args)
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert f"foresight {command}: error: {p}: " in r.stderr, r.stderr
    assert CASES[case][1] in r.stderr, r.stderr
    assert not out.exists()  # nothing exported, no run folder


@pytest.mark.skipif(not BIN, reason="FORESIGHT_BIN not set")
def test_export_validates_selections_unless_told_not_to(damaged, tmp_path):
    p = damaged["block-outside"]
    r = run("export", p, "--perfetto", tmp_path / "x.json", "--skip-selections")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "x.json").exists()

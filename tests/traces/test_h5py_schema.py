"""Opens the sample traces with h5py/numpy only (no foresight code) and checks
the schema documented in traces/README.md: datasets, fields, dtypes,
attributes and invariants."""
import json
import os
from pathlib import Path

import h5py
import numpy as np
import pytest

SAMPLES = Path(os.environ.get("FORESIGHT_TRACE_SAMPLES",
                              Path(__file__).resolve().parents[2] / "traces" / "samples"))
FILES = sorted(SAMPLES.glob("*.h5"))

OPS = {"id": "<u8", "kind": "u1", "engine": "u1", "phase": "u1", "stage": "<u2",
       "stream": "u1", "step": "<i4", "layer": "<i2", "seq": "<i4", "start_ns": "<i8",
       "end_ns": "<i8", "bytes": "<u8", "flops": "<u8", "chunks": "<u4", "ctas": "<u2",
       "dep_offset": "<u8", "dep_count": "<u4"}
STEPS = {"phase": "u1", "step": "<i4", "start_ns": "<i8", "end_ns": "<i8"}
KEYS = {"step": "<i4", "layer": "<i2", "seq": "<i4", "kv_head": "<u2", "count": "<u2"}
CACHE = {"step": "<i4", "layer": "<i2", "selected": "<u8", "hits": "<u8", "misses": "<u8",
         "loaded_bytes": "<u8"}


def text(value):
    """String attributes are fixed-length UTF-8: h5py returns numpy bytes."""
    assert isinstance(value, bytes), type(value)
    return value.decode("utf-8")


def check_fields(ds, expected):
    assert ds.dtype.names == tuple(expected), ds.name
    for name, code in expected.items():
        assert ds.dtype[name] == np.dtype(code), (ds.name, name)


def decode_token_rows(data, counts):
    """/token_selections/ids: per row, LEB128 varints of the first id and then
    of each gap minus one (traces/README.md). Returns one int array per row."""
    values, value, shift = [], 0, 0
    for byte in data.tolist():
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            values.append(value)
            value, shift = 0, 0
    assert shift == 0, "ids end inside a varint"
    assert len(values) == int(counts.sum())
    rows, at = [], 0
    for n in counts.tolist():
        v = np.array(values[at:at + n], dtype=np.int64)
        v[1:] += 1
        rows.append(np.cumsum(v))
        at += n
    return rows


def check_token_selections(f, run):
    keys = f["token_selections/keys"][:]
    check_fields(f["token_selections/keys"], KEYS)
    ids = f["token_selections/ids"]
    assert ids.dtype == np.uint8 and ids.ndim == 1
    assert "LEB128" in text(ids.attrs["encoding"])
    assert np.all(keys["kv_head"] == 0)
    for k, row in zip(keys, decode_token_rows(ids[:], keys["count"].astype(np.int64))):
        tokens = run["context_tokens"][k["seq"]] + k["step"] + 1
        assert np.all(np.diff(row) > 0) and row.max(initial=0) < tokens


def test_there_are_samples():
    names = {p.name for p in FILES}
    assert "sparda-tiny.h5" in names and len(FILES) >= 4


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_schema(path):
    with h5py.File(path, "r") as f:
        version = int(f.attrs["schema_version"])
        assert version in (1, 2)
        attrs = {a: text(f.attrs[a]) for a in
                 ("tool_version", "created_utc", "clock", "status", "status_reason")}
        assert attrs["status"] in ("complete", "truncated")
        assert (attrs["status"] == "truncated") == bool(attrs["status_reason"])
        assert attrs["clock"] in ("cuda_events", "steady_clock", "synthetic")
        # superblock v3 (HDF5 1.10 format): metadata carries checksums
        assert f.id.get_create_plist().get_version()[0] >= 2
        model = json.loads(f["config/model"].attrs["json"])
        hardware = json.loads(f["config/hardware"].attrs["json"])
        run = json.loads(f["config/run"].attrs["json"])
        assert model["n_layers"] > 0 and hardware["gpu_name"]
        assert len(run["context_tokens"]) == run["batch"]

        ops = f["ops"]
        check_fields(ops, OPS)
        for ds in (ops, f["op_deps"], f["steps"], f["cache"], f["memory"], f["stages"]):
            assert ds.compression == "gzip" and ds.shuffle and ds.fletcher32 and ds.chunks
        assert text(ops.attrs["kind_names"]).split(",")[1] == "h2d"
        o = ops[:]
        assert np.all(o["end_ns"] >= o["start_ns"])
        assert np.all(np.diff(o["id"].astype(np.int64)) > 0)
        deps = f["op_deps"][:]
        assert deps.dtype == np.uint64
        for row in o[o["dep_count"] > 0]:
            d = deps[row["dep_offset"]:row["dep_offset"] + row["dep_count"]]
            assert np.all(d < row["id"]) and np.all(np.isin(d, o["id"]))

        stages = [s.decode() for s in f["stages"][:]]
        assert f["stages"].dtype.kind == "S"
        streams = f["streams"][:]
        assert streams.dtype.names == ("name", "kind")
        assert o["stage"].max() < len(stages) and o["stream"].max() < len(streams)
        assert streams["name"][0] == b"main" and streams["kind"][0] == 0

        steps = f["steps"][:]
        check_fields(f["steps"], STEPS)
        assert np.all(steps["end_ns"] >= steps["start_ns"])
        for phase in (0, 1):
            assert np.all(np.diff(steps["step"][steps["phase"] == phase]) > 0)

        keys = f["selections/keys"][:]
        check_fields(f["selections/keys"], KEYS)
        blocks = f["selections/blocks"]
        assert blocks.dtype in (np.uint16, np.uint32) and blocks.ndim == 2
        assert len(keys) == blocks.shape[0]
        b = blocks[:].astype(np.int64)
        empty = 0xFFFF if blocks.dtype == np.uint16 else 0xFFFFFFFF
        bt = model["sparse"]["block_tokens"]
        for k, row in zip(keys, b):
            ids = row[:k["count"]]
            assert np.all(row[k["count"]:] == empty)
            assert np.all(np.diff(ids) > 0)
            n_blocks = -(-(run["context_tokens"][k["seq"]] + k["step"] + 1) // bt)
            assert ids.max(initial=0) < n_blocks

        if version >= 2:
            check_token_selections(f, run)
        else:
            assert "token_selections" not in f

        cache = f["cache"][:]
        check_fields(f["cache"], CACHE)
        assert np.all(cache["hits"] + cache["misses"] == cache["selected"])
        if len(keys):
            # cache outcomes of the samples are consistent with the selections
            for c in cache:
                sel = keys[(keys["step"] == c["step"]) & (keys["layer"] == c["layer"])]
                assert sel["count"].sum() == c["selected"]

        mem = f["memory"][:]
        assert mem.dtype.names == ("location", "category", "bytes")
        assert mem["category"].dtype.kind == "S" and set(mem["location"]) <= {0, 1}

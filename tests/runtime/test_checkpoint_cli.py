"""`foresight run --checkpoint` on the shipped GGUF and transformers-5 test
checkpoints without --model (the config comes from the checkpoint), and exit
code 2 with the file and field named for a malformed GGUF file or a config
key foresight does not implement. Run by ctest (label nosan) with FORESIGHT_BIN."""
import json
import os
import shutil
import subprocess

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.environ.get("FORESIGHT_BIN", "")
pytestmark = pytest.mark.skipif(not BIN, reason="FORESIGHT_BIN not set")


def run(checkpoint, out):
    return subprocess.run([BIN, "run", "--checkpoint", checkpoint, "--mode", "dense", "--context", "100",
                           "--steps", "2", "--no-trace", "--quiet", "--out", out],
                          capture_output=True, text=True)


def test_gguf_runs_with_its_own_config(tmp_path):
    r = run(os.path.join(HERE, "gguf", "model-Q4_1.gguf"), str(tmp_path / "run"))
    assert r.returncode == 0, r.stderr
    cfg = json.load(open(tmp_path / "run" / "config.json"))
    assert cfg["model"]["name"] == "model-Q4_1"
    assert cfg["model"]["n_layers"] == 2


def test_hf_folder_runs_with_its_own_config(tmp_path):
    r = run(os.path.join(HERE, "parity", "tf5-llama3-tied-g3-hd64"), str(tmp_path / "run"))
    assert r.returncode == 0, r.stderr
    cfg = json.load(open(tmp_path / "run" / "config.json"))
    assert cfg["model"]["rope_scaling"]["type"] == "llama3"
    assert cfg["model"]["rope_theta"] == 500000.0


def test_malformed_gguf_exits_2_naming_file_and_field(tmp_path):
    bad = tmp_path / "bad.gguf"
    data = bytearray(open(os.path.join(HERE, "gguf", "model-Q4_1.gguf"), "rb").read())
    data[0:4] = b"GGML"
    bad.write_bytes(bytes(data))
    r = run(str(bad), str(tmp_path / "run"))
    assert r.returncode == 2
    assert f"{bad}: magic" in r.stderr
    good = open(os.path.join(HERE, "gguf", "model-Q4_1.gguf"), "rb").read()
    short = tmp_path / "short.gguf"
    short.write_bytes(good[:5000])  # the header is whole, the tensors are not
    r = run(str(short), str(tmp_path / "run2"))
    assert r.returncode == 2
    assert f"{short}: tensor 'blk.0.attn_k.weight' data [15872, 18432) lies outside" in r.stderr
    short.write_bytes(good[:100])  # inside the metadata
    r = run(str(short), str(tmp_path / "run3"))
    assert r.returncode == 2
    assert f"{short}: metadata_kv_count: truncated: 18 entries cannot fit in the 76 bytes left" in r.stderr


def test_unimplemented_hf_key_exits_2_naming_it(tmp_path):
    ckpt = tmp_path / "ckpt"
    shutil.copytree(os.path.join(HERE, "parity", "tf5-llama3-tied-g3-hd64"), ckpt)
    cfg = json.load(open(ckpt / "config.json"))
    cfg["attention_bias"] = True
    json.dump(cfg, open(ckpt / "config.json", "w"))
    r = run(str(ckpt), str(tmp_path / "run"))
    assert r.returncode == 2
    assert "'attention_bias' is true" in r.stderr

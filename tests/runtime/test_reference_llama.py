"""`foresight run --mode dense` on a tiny HF checkpoint agrees with an
independent NumPy implementation (reference_llama.py): logits within bf16
tolerance, greedy tokens equal. Run by ctest (label nosan) with FORESIGHT_BIN."""
import os
import subprocess
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import reference_llama  # noqa: E402

BIN = os.environ.get("FORESIGHT_BIN", "")


def run_foresight(ckpt, out, mode, extra=()):
    cmd = [BIN, "run", "--model", os.path.join(ckpt, "config.json"), "--checkpoint", ckpt, "--mode", mode,
           "--batch", "2", "--context", "150,77", "--steps", "6", "--topk", "40", "--prefill-chunk", "64",
           "--dump-logits", "--out", out, *extra]
    subprocess.run(cmd, check=True)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("ckpt"))
    reference_llama.make_checkpoint(d, seed=3)
    return d


@pytest.mark.skipif(not BIN, reason="FORESIGHT_BIN not set")
def test_dense_matches_reference(ckpt, tmp_path):
    out = str(tmp_path / "dense")
    run_foresight(ckpt, out, "dense")
    assert reference_llama.compare(ckpt, out)


@pytest.mark.skipif(not BIN, reason="FORESIGHT_BIN not set")
def test_sparse_covering_every_block_matches_reference(ckpt, tmp_path):
    out = str(tmp_path / "sparse")
    run_foresight(ckpt, out, "sparse")  # 40 blocks of 64 tokens cover the whole context
    assert reference_llama.compare(ckpt, out)


@pytest.mark.skipif(not BIN, reason="FORESIGHT_BIN not set")
def test_other_weights_do_not_match(ckpt, tmp_path):
    # The check can fail: synthetic weights (no --checkpoint) disagree.
    out = str(tmp_path / "synthetic")
    subprocess.run([BIN, "run", "--model", os.path.join(ckpt, "config.json"), "--mode", "dense", "--batch", "2",
                    "--context", "150,77", "--steps", "6", "--topk", "40", "--dump-logits", "--out", out],
                   check=True)
    assert not reference_llama.compare(ckpt, out)

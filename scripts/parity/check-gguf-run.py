#!/usr/bin/env python3
"""Checks a `foresight run --checkpoint FILE.gguf --dump-logits` against
transformers' own GGUF loader (an independent dequantization and Q/K
un-permutation) in float32 on the same prompt ids.

  foresight run --checkpoint model.gguf --mode dense --context 200 --steps 1 --warmup 0 \\
      --dump-logits --out /tmp/smol-run
  python scripts/parity/check-gguf-run.py model.gguf /tmp/smol-run

Prints, per sequence, the relative L2 distance of the last step's logits and
the top-5 token ids of both. Needs torch, transformers, gguf and accelerate
(scripts/parity/requirements.txt). The run must have one step (--steps 1
--warmup 0): its logits are those of each prompt's last token.
"""
import json
import os
import sys

import numpy as np
import torch
from transformers import AutoModelForCausalLM


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    gguf_path, run = sys.argv[1], sys.argv[2]
    torch.set_num_threads(max(1, (os.cpu_count() or 2) // 2))
    tokens = json.load(open(os.path.join(run, "tokens.json")))
    got = np.load(os.path.join(run, "logits.npy"))
    if any(len(g) != 1 for g in tokens["generated"]):
        sys.exit(f"{run}: needs a run of exactly one decode step (--steps 1 --warmup 0)")
    model = AutoModelForCausalLM.from_pretrained(os.path.dirname(os.path.abspath(gguf_path)),
                                                 gguf_file=os.path.basename(gguf_path), dtype=torch.float32)
    worst = 0.0
    for b, prompt in enumerate(tokens["prompts"]):
        with torch.no_grad():
            ref = model(torch.tensor([prompt])).logits[0, -1].numpy()
        rel = float(np.linalg.norm(got[b] - ref) / np.linalg.norm(ref))
        worst = max(worst, rel)
        top_ref, top_got = np.argsort(-ref)[:5].tolist(), np.argsort(-got[b])[:5].tolist()
        print(f"seq {b} ({len(prompt)} tokens): rel L2 {rel:.4f}; top-5 transformers {top_ref}, foresight {top_got}"
              f"{'' if top_ref[0] == top_got[0] else '  TOP-1 DIFFERS'}")
    print(f"worst rel L2 {worst:.4f}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Makes the transformers-parity files under tests/runtime/parity/ (issue #14).

For each case: small random Llama weights (bf16), saved by the installed
transformers with save_pretrained (so config.json has that version's keys:
transformers 5 writes rope_parameters and dtype, transformers 4 rope_theta,
rope_scaling and torch_dtype), and reference.json with

  tokens       two prompts (one past 1K tokens)
  logits       [2, vocab] float32 logits at each prompt's last position,
               transformers' forward in float32 on the bf16 weights (eager
               attention): the reference
  bf16_rel_l2  per prompt, ||bf16 - ref|| / ||ref|| of transformers' own bf16
               forward (default attention): the bound foresight must meet
  versions     torch and transformers that made the file

The weights are drawn with NumPy from a fixed seed per case, so a tf4 and a
tf5 run write the same weights. Usage (versions: scripts/parity/requirements.txt):

  python scripts/parity/make-parity-refs.py --out tests/runtime/parity
  PYTHONPATH=/tmp/tf4 python scripts/parity/make-parity-refs.py --out tests/runtime/parity --style tf4

The C++ test (tests/runtime/test_parity_hf.cpp) runs foresight's dense CPU
forward on every case and checks it against `logits`.
"""
import argparse
import json
import os

import numpy as np
import torch
import transformers
from transformers import LlamaConfig, LlamaForCausalLM

VOCAB = 256
LAYERS = 2
INTERMEDIATE = 128
PROMPTS = (1100, 333)  # tokens; the first is past 1K

# name: (heads, kv_heads, head_dim, hidden, rope, tied, seed)
# rope: None (plain RoPE) or (theta, llama3 scaling dict or None)
LLAMA3 = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
          # small, so that positions up to 1100 use the scaled frequencies
          "original_max_position_embeddings": 256}
CASES = {
    "plain-untied-g1-hd64": (4, 4, 64, 64, (10000.0, None), False, 11),
    "llama3-tied-g3-hd64": (6, 2, 64, 96, (500000.0, LLAMA3), True, 12),
    "llama3-untied-g4-hd128": (8, 2, 128, 64, (500000.0, LLAMA3), False, 13),
    "plain-tied-g8-hd128": (8, 1, 128, 64, (500000.0, None), True, 14),
}
TF4_CASES = ("plain-untied-g1-hd64", "llama3-tied-g3-hd64")


def config_for(case):
    heads, kv, hd, hidden, (theta, scaling), tied, _ = CASES[case]
    kw = dict(vocab_size=VOCAB, hidden_size=hidden, intermediate_size=INTERMEDIATE, num_hidden_layers=LAYERS,
              num_attention_heads=heads, num_key_value_heads=kv, head_dim=hd, max_position_embeddings=2048,
              rms_norm_eps=1e-5, tie_word_embeddings=tied, rope_theta=theta)
    if scaling:
        kw["rope_scaling"] = dict(scaling)  # transformers 5 moves both into rope_parameters
    return LlamaConfig(**kw)


def random_state(model, seed):
    """Weights that make attention peaky (so RoPE matters) and norms that are not all ones."""
    rng = np.random.default_rng(seed)
    state = {}
    for name, p in model.state_dict().items():
        if name.endswith("norm.weight"):
            a = 1.0 + 0.2 * rng.standard_normal(p.shape)
        elif "embed_tokens" in name:
            a = rng.standard_normal(p.shape)
        elif "q_proj" in name or "k_proj" in name:
            a = 0.2 * rng.standard_normal(p.shape)
        else:
            a = (0.5 / np.sqrt(p.shape[1])) * rng.standard_normal(p.shape) * 4
        state[name] = torch.tensor(a, dtype=torch.float32).to(torch.bfloat16)
    return state


def last_logits(model, tokens):
    out = []
    with torch.no_grad():
        for t in tokens:
            logits = model(torch.tensor([t])).logits[0, -1]
            out.append(logits.float().numpy())
    return np.stack(out)


def make_case(case, out_dir, style):
    seed = CASES[case][6]
    cfg = config_for(case)
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg).to(torch.bfloat16)
    model.load_state_dict(random_state(model, seed), strict=False)
    if cfg.tie_word_embeddings:
        model.tie_weights()
    d = os.path.join(out_dir, f"{style}-{case}")
    model.save_pretrained(d)

    rng = np.random.default_rng(1000 + seed)
    tokens = [rng.integers(0, VOCAB, n).tolist() for n in PROMPTS]
    ref_model = LlamaForCausalLM.from_pretrained(d, dtype=torch.float32, attn_implementation="eager")
    ref = last_logits(ref_model, tokens)
    bf_model = LlamaForCausalLM.from_pretrained(d, dtype=torch.bfloat16)
    bf = last_logits(bf_model, tokens)
    rel = [float(np.linalg.norm(bf[i] - ref[i]) / np.linalg.norm(ref[i])) for i in range(len(tokens))]
    doc = {
        "case": case,
        "style": style,
        "tokens": tokens,
        "logits": [[float(x) for x in row] for row in ref],
        "bf16_rel_l2": rel,
        "bf16_attention": bf_model.config._attn_implementation,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
    }
    with open(os.path.join(d, "reference.json"), "w") as f:
        json.dump(doc, f)
        f.write("\n")
    print(f"{style}-{case}: bf16 rel L2 {', '.join(f'{r:.4f}' for r in rel)}; "
          f"max |ref logit| {np.abs(ref).max():.2f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="folder of the case folders (tests/runtime/parity)")
    ap.add_argument("--style", choices=("tf4", "tf5"),
                    default="tf5" if int(transformers.__version__.split(".")[0]) >= 5 else "tf4",
                    help="name prefix; defaults to the installed transformers' major version")
    args = ap.parse_args()
    torch.set_num_threads(2)
    cases = TF4_CASES if args.style == "tf4" else tuple(CASES)
    for case in cases:
        make_case(case, args.out, args.style)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Independent NumPy implementation of a Llama-format GQA decoder, used to
check `foresight run --mode dense --dump-logits` on the same checkpoint.

  reference_llama.py make-checkpoint DIR [--seed S]   write a tiny HF checkpoint (numpy only)
  reference_llama.py compare DIR RUN                  check RUN/logits.npy and RUN/tokens.json

The reference reads config.json and model.safetensors itself (its own
safetensors parser), runs a full causal forward pass over prompt + generated
tokens (teacher-forced with foresight's tokens) and rounds to bf16 at the same
points as the runtime (after every op: embeddings, RMSNorm, each projection,
RoPE, attention output, residual adds, SwiGLU, logits), with fp32 math inside.
Checks: last-step logits within bf16 tolerance; every generated token is the
reference's argmax, or within tolerance of its maximum (a near tie).
"""
import argparse
import json
import os
import struct
import sys

import numpy as np


def bf16_round(x):
    """Round float32 to the nearest bf16 (ties to even), returned as float32."""
    x = np.asarray(x, dtype=np.float32)
    u = x.view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    return u.astype(np.uint32).view(np.float32)


def to_bf16_bits(x):
    return (bf16_round(x).view(np.uint32) >> 16).astype(np.uint16)


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, arr in tensors.items():
        raw = to_bf16_bits(arr).tobytes()
        header[name] = {"dtype": "BF16", "shape": list(arr.shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    h = json.dumps(header).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        raw = data[8 + n + b:8 + n + end]
        if e["dtype"] == "BF16":
            bits = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
            arr = bits.view(np.float32)
        elif e["dtype"] == "F32":
            arr = np.frombuffer(raw, dtype=np.float32)
        elif e["dtype"] == "F16":
            arr = np.frombuffer(raw, dtype=np.float16).astype(np.float32)
        else:
            raise ValueError(f"{path}: unsupported dtype {e['dtype']} of {name}")
        out[name] = arr.reshape(e["shape"]).astype(np.float32)
    return out


def make_checkpoint(d, seed):
    cfg = dict(architectures=["LlamaForCausalLM"], model_type="llama", hidden_size=128,
               intermediate_size=256, num_attention_heads=4, num_key_value_heads=2, head_dim=32,
               num_hidden_layers=3, vocab_size=320, rms_norm_eps=1e-5, rope_theta=10000.0,
               max_position_embeddings=8192, tie_word_embeddings=False, torch_dtype="bfloat16")
    rng = np.random.default_rng(seed)
    H, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    q = cfg["num_attention_heads"] * cfg["head_dim"]
    kv = cfg["num_key_value_heads"] * cfg["head_dim"]
    n = lambda *s: (rng.standard_normal(s) * 0.05).astype(np.float32)  # noqa: E731
    norm = lambda: (1.0 + 0.1 * rng.standard_normal(H)).astype(np.float32)  # noqa: E731
    t = {"model.embed_tokens.weight": (rng.standard_normal((V, H)) * 0.5).astype(np.float32)}
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        t[p + "input_layernorm.weight"] = norm()
        t[p + "self_attn.q_proj.weight"] = n(q, H)
        t[p + "self_attn.k_proj.weight"] = n(kv, H)
        t[p + "self_attn.v_proj.weight"] = n(kv, H)
        t[p + "self_attn.o_proj.weight"] = n(H, q)
        t[p + "post_attention_layernorm.weight"] = norm()
        t[p + "mlp.gate_proj.weight"] = n(I, H)
        t[p + "mlp.up_proj.weight"] = n(I, H)
        t[p + "mlp.down_proj.weight"] = n(H, I)
    t["model.norm.weight"] = norm()
    t["lm_head.weight"] = n(V, H)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    write_safetensors(os.path.join(d, "model.safetensors"), t)


def rmsnorm(x, w, eps):
    return bf16_round(x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w)


def rope(x, positions, theta):
    # x [T, heads, d], rotate-half convention.
    d = x.shape[-1]
    inv = (1.0 / theta ** (np.arange(0, d, 2, dtype=np.float64) / d)).astype(np.float32)
    ang = positions[:, None].astype(np.float32) * inv[None, :]
    c, s = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]
    a, b = x[..., : d // 2], x[..., d // 2:]
    return bf16_round(np.concatenate([a * c - b * s, b * c + a * s], axis=-1))


def forward(cfg, w, tokens):
    """Logits [T, vocab] of a causal forward pass over `tokens`."""
    H, nh, nkv, hd = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
    eps, theta, T = cfg["rms_norm_eps"], cfg["rope_theta"], len(tokens)
    pos = np.arange(T)
    x = w["model.embed_tokens.weight"][tokens]
    mask = np.triu(np.full((T, T), -np.inf, dtype=np.float32), 1)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        h = rmsnorm(x, w[p + "input_layernorm.weight"], eps)
        q = rope(bf16_round(h @ w[p + "self_attn.q_proj.weight"].T).reshape(T, nh, hd), pos, theta)
        k = rope(bf16_round(h @ w[p + "self_attn.k_proj.weight"].T).reshape(T, nkv, hd), pos, theta)
        v = bf16_round(h @ w[p + "self_attn.v_proj.weight"].T).reshape(T, nkv, hd)
        out = np.empty((T, nh, hd), dtype=np.float32)
        g = nh // nkv
        for head in range(nh):
            s = (q[:, head, :] @ k[:, head // g, :].T) / np.sqrt(hd) + mask
            s = np.exp(s - s.max(axis=1, keepdims=True))
            out[:, head, :] = (s / s.sum(axis=1, keepdims=True)) @ v[:, head // g, :]
        o = bf16_round(bf16_round(out).reshape(T, nh * hd) @ w[p + "self_attn.o_proj.weight"].T)
        x = bf16_round(x + o)
        h = rmsnorm(x, w[p + "post_attention_layernorm.weight"], eps)
        gate = bf16_round(h @ w[p + "mlp.gate_proj.weight"].T)
        up = bf16_round(h @ w[p + "mlp.up_proj.weight"].T)
        a = bf16_round(gate / (1.0 + np.exp(-gate)) * up)
        x = bf16_round(x + bf16_round(a @ w[p + "mlp.down_proj.weight"].T))
    x = rmsnorm(x, w["model.norm.weight"], eps)
    head = w["lm_head.weight"] if "lm_head.weight" in w else w["model.embed_tokens.weight"]
    return bf16_round(x @ head.T)


def compare(ckpt, run):
    with open(os.path.join(ckpt, "config.json")) as f:
        cfg = json.load(f)
    w = read_safetensors(os.path.join(ckpt, "model.safetensors"))
    with open(os.path.join(run, "tokens.json")) as f:
        tk = json.load(f)
    got_logits = np.load(os.path.join(run, "logits.npy"))
    ok = True
    for b, (prompt, gen) in enumerate(zip(tk["prompts"], tk["generated"])):
        seq = np.array(prompt + gen[:-1], dtype=np.int64)
        logits = forward(cfg, w, seq)
        L = len(prompt)
        ref_last = logits[-1]
        scale = float(np.max(np.abs(ref_last)))
        tol = 0.03 * scale + 1e-2
        err = float(np.max(np.abs(got_logits[b] - ref_last)))
        print(f"seq {b}: last-step logits max |diff| {err:.4g} (max |logit| {scale:.4g}, tolerance {tol:.4g})")
        if not err <= tol:
            ok = False
        agree = 0
        for s, tok in enumerate(gen):
            row = logits[L - 1 + s]
            best = int(np.argmax(row))
            if tok == best:
                agree += 1
            elif row[best] - row[tok] > tol:
                print(f"seq {b} step {s}: foresight token {tok} (logit {row[tok]:.4f}) is not the "
                      f"reference argmax {best} (logit {row[best]:.4f})")
                ok = False
        print(f"seq {b}: {agree}/{len(gen)} tokens equal to the reference argmax (the rest are near ties)")
        if agree < len(gen) - 1:
            ok = False
    return ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    mk = sub.add_parser("make-checkpoint")
    mk.add_argument("dir")
    mk.add_argument("--seed", type=int, default=3)
    cp = sub.add_parser("compare")
    cp.add_argument("ckpt")
    cp.add_argument("run")
    a = ap.parse_args()
    if a.cmd == "make-checkpoint":
        make_checkpoint(a.dir, a.seed)
        return 0
    return 0 if compare(a.ckpt, a.run) else 1


if __name__ == "__main__":
    sys.exit(main())

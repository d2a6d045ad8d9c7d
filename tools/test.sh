#!/usr/bin/env bash
# The whole test suite: install (pinned), then
#   1. nbdev-export leaves saat_nb/ unchanged (notebooks and package agree),
#   2. pytest on tests/,
#   3. every notebook under nbs/ executed at the smoke preset.
# Exits non-zero when any of them fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/install.sh
export SAAT_DATA="${SAAT_DATA:-$(cd .. && pwd)/shared/data/300w}"
export PATH="$PWD/.venv/bin:$PATH" PYTHONUNBUFFERED=1
unset MPLBACKEND   # papermill kernels must keep the inline backend so executed notebooks carry their figures
start=$SECONDS

echo "== 1/3 nbdev-export leaves the package unchanged"
before=$(mktemp -d); cp -r saat_nb "$before/"
nbdev-export
if ! diff -r -q -x __pycache__ "$before/saat_nb" saat_nb; then
  echo "FAIL: nbdev-export changed saat_nb/: edit the notebooks, run nbdev-export, commit both" >&2
  diff -r -u -x __pycache__ "$before/saat_nb" saat_nb | head -60 >&2; exit 1
fi
rm -rf "$before"

echo "== 2/3 pytest tests/"
python -m pytest tests/ -p no:cacheprovider

echo "== 3/3 notebooks at the smoke preset"
OMP_NUM_THREADS=1 nbdev-test --n-workers 2 --timing

echo "all checks passed in $((SECONDS-start)) s"

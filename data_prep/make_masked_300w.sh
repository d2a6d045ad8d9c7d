#!/usr/bin/env bash
# Build Masked-300W (synthetic face masks, landmarks unchanged) from a 300W copy.
# Usage: bash data_prep/make_masked_300w.sh [SRC] [DST] [SEED]
#   SRC  300W root (default: $SAAT_DATA, else ../shared/data/300w)
#   DST  output folder (default: $SAAT_MASKED, else /tmp/masked300w), OUTSIDE this repository; never commit its images
#   SEED mask seed (default 0); the output's manifest.json records it and every face's mask style
# Only the test subsets are masked by default (the paper evaluates on Masked-300W, it does not train on it).
set -euo pipefail
cd "$(dirname "$0")/.."
SRC="${1:-${SAAT_DATA:-$(cd .. && pwd)/shared/data/300w}}"
DST="${2:-${SAAT_MASKED:-/tmp/masked300w}}"
SEED="${3:-0}"
case "$(realpath -m "$DST")/" in "$(pwd)/"*) echo "refusing to write inside the repository: $DST" >&2; exit 2;; esac
SUBSETS=$(for s in helen/testset lfpw/testset ibug afw; do [ -d "$SRC/$s" ] && echo "$s"; done)
.venv/bin/saat-masked300w --data "$SRC" --out "$DST" --seed "$SEED" --subsets $SUBSETS

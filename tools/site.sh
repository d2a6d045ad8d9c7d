#!/usr/bin/env bash
# Build the course site into site/ (or the folder given): every nbs/*.ipynb rendered with its committed
# outputs (not executed), an API reference page per saat_nb module, MathJax bundled, no network needed to
# build or to read it (open site/index.html from the file system). Exits non-zero, saying why, on a broken
# build. Needs the pinned requirements (bash tools/install.sh). Details: tools/site_build.py, mkdocs.yml.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python tools/site_build.py "$@"

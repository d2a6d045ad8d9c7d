#!/usr/bin/env bash
# Pinned install into ./.venv on a fresh CPU machine (idempotent): requirements.txt, the package (editable),
# and a named Jupyter kernel `saat_nb` for papermill.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.txt 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . 2>&1 | grep -v "^WARNING: Location" || true
.venv/bin/python -c "import torch, fastai, nbdev, papermill, saat_nb" || { echo "install failed: see pip output above" >&2; exit 1; }
.venv/bin/python -m ipykernel install --sys-prefix --name saat_nb --display-name "Python (saat_nb)" >/dev/null
echo "installed: $(.venv/bin/python -c 'import torch,fastai,nbdev;print(f"torch {torch.__version__}, fastai {fastai.__version__}, nbdev {nbdev.__version__}")')"

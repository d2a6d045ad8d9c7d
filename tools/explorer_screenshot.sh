#!/usr/bin/env bash
# Screenshot of the ablation explorer running in a real JupyterLab (loopback only), for outputs/explorer_screenshot.png.
# Needs Debian's chromium (apt-get install -y chromium). Usage: bash tools/explorer_screenshot.sh VIEW.ipynb OUT.png
# VIEW.ipynb (with a kernelspec, e.g. `jupytext --set-kernel saat_nb`) is a small notebook under the repo that builds `saat_nb.explorer.Explorer(...)` and shows `.widget`.
set -euo pipefail
cd "$(dirname "$0")/.."
nb=$1; out=$2; port=8899
.venv/bin/jupyter lab --no-browser --ip 127.0.0.1 --port $port --ServerApp.token='' --ServerApp.password='' \
  --allow-root --ServerApp.root_dir="$PWD" --LabApp.workspaces_dir="$(mktemp -d)" --LabApp.expose_app_in_browser=True > /tmp/explorer_lab.log 2>&1 &
lab=$!; trap 'kill $lab ${chrome:-} 2>/dev/null || true' EXIT
for _ in $(seq 60); do curl -s "http://127.0.0.1:$port/api" >/dev/null && break; sleep 1; done
chromium --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update \
  --disable-sync --no-first-run --user-data-dir="$(mktemp -d)" --remote-debugging-port=9222 \
  --window-size=1400,2100 "http://127.0.0.1:$port/lab/tree/$nb" > /tmp/explorer_chrome.log 2>&1 &
chrome=$!
.venv/bin/python tools/jupyterlab_screenshot.py "$out"
